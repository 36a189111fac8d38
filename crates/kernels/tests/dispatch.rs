//! ISA selection, parsing and the self-check.

mod common;

use ggufembed_kernels::{Isa, kernels, kernels_for};

#[test]
fn scalar_is_always_available_and_selection_is_available() {
    assert!(kernels_for(Isa::Scalar).is_some());
    let k = kernels();
    assert!(k.isa().is_available());
    assert!(std::ptr::eq(k, kernels()), "selection is cached");
    for isa in Isa::ALL {
        assert_eq!(kernels_for(isa).is_some(), isa.is_available(), "{isa}");
        if let Some(k) = kernels_for(isa) {
            assert_eq!(k.isa(), isa);
        }
    }
}

#[test]
fn isa_names_round_trip() {
    for isa in Isa::ALL {
        assert_eq!(isa.name().parse::<Isa>().unwrap(), isa);
        assert_eq!(isa.to_string().to_uppercase().parse::<Isa>().unwrap(), isa);
    }
    assert!("sse9".parse::<Isa>().is_err());
}
