//! Property: whatever metadata and tensors the writer is given, the reader gives back exactly
//! the same (floats compared bit for bit, NaN payloads included).

mod common;

use gguf_loader::{Array, GgmlType, GgufFile, GgufWriter, Value};
use proptest::collection::vec;
use proptest::prelude::*;

fn f32_any() -> impl Strategy<Value = f32> {
    any::<u32>().prop_map(f32::from_bits)
}

fn f64_any() -> impl Strategy<Value = f64> {
    any::<u64>().prop_map(f64::from_bits)
}

fn flat_array() -> impl Strategy<Value = Array> {
    let n = 0..12usize;
    prop_oneof![
        vec(any::<u8>(), n.clone()).prop_map(Array::U8),
        vec(any::<i8>(), n.clone()).prop_map(Array::I8),
        vec(any::<u16>(), n.clone()).prop_map(Array::U16),
        vec(any::<i16>(), n.clone()).prop_map(Array::I16),
        vec(any::<u32>(), n.clone()).prop_map(Array::U32),
        vec(any::<i32>(), n.clone()).prop_map(Array::I32),
        vec(f32_any(), n.clone()).prop_map(Array::F32),
        vec(any::<bool>(), n.clone()).prop_map(Array::Bool),
        vec(".{0,12}", n.clone()).prop_map(Array::String),
        vec(any::<u64>(), n.clone()).prop_map(Array::U64),
        vec(any::<i64>(), n.clone()).prop_map(Array::I64),
        vec(f64_any(), n).prop_map(Array::F64),
    ]
}

fn array() -> impl Strategy<Value = Array> {
    flat_array().prop_recursive(3, 24, 4, |inner| vec(inner, 0..4).prop_map(Array::Array))
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u8>().prop_map(Value::U8),
        any::<i8>().prop_map(Value::I8),
        any::<u16>().prop_map(Value::U16),
        any::<i16>().prop_map(Value::I16),
        any::<u32>().prop_map(Value::U32),
        any::<i32>().prop_map(Value::I32),
        f32_any().prop_map(Value::F32),
        any::<bool>().prop_map(Value::Bool),
        ".{0,40}".prop_map(Value::String),
        array().prop_map(Value::Array),
        any::<u64>().prop_map(Value::U64),
        any::<i64>().prop_map(Value::I64),
        f64_any().prop_map(Value::F64),
    ]
}

fn same_array(a: &Array, b: &Array) -> bool {
    fn bits<T, U: PartialEq>(x: &[T], y: &[T], f: impl Fn(&T) -> U) -> bool {
        x.len() == y.len() && x.iter().zip(y).all(|(p, q)| f(p) == f(q))
    }
    match (a, b) {
        (Array::F32(x), Array::F32(y)) => bits(x, y, |v| v.to_bits()),
        (Array::F64(x), Array::F64(y)) => bits(x, y, |v| v.to_bits()),
        (Array::Array(x), Array::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_array(p, q))
        }
        _ => a == b,
    }
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::F32(x), Value::F32(y)) => x.to_bits() == y.to_bits(),
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits(),
        (Value::Array(x), Value::Array(y)) => same_array(x, y),
        _ => a == b,
    }
}

#[derive(Debug, Clone)]
struct TensorSpec {
    ggml_type: GgmlType,
    shape: Vec<u64>,
    data: Vec<u8>,
}

fn tensor() -> impl Strategy<Value = TensorSpec> {
    (
        prop::sample::select(GgmlType::ALL),
        0..3u64,
        vec(0..4u64, 0..4),
    )
        .prop_flat_map(|(ggml_type, blocks, rest)| {
            let mut shape = vec![blocks * ggml_type.block_size()];
            shape.extend(rest);
            let n_bytes =
                ggml_type.row_bytes(shape[0]).unwrap() * shape[1..].iter().product::<u64>();
            vec(any::<u8>(), n_bytes as usize).prop_map(move |data| TensorSpec {
                ggml_type,
                shape: shape.clone(),
                data,
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn write_then_read_is_identity(
        metadata in vec(("[a-z][a-z0-9._]{0,15}", value()), 0..8),
        tensors in vec(tensor(), 0..6),
        alignment in prop::sample::select(vec![None, Some(1u32), Some(8), Some(32), Some(64), Some(4096)]),
        version in 2u32..=3,
    ) {
        let mut w = GgufWriter::new();
        w.set_version(version).unwrap();
        let mut expected: Vec<(String, Value)> = Vec::new();
        if let Some(a) = alignment {
            w.add_metadata("general.alignment", a).unwrap();
            expected.push(("general.alignment".into(), Value::U32(a)));
        }
        for (k, v) in metadata {
            if expected.iter().any(|(e, _)| *e == k) {
                continue;
            }
            w.add_metadata(k.clone(), v.clone()).unwrap();
            expected.push((k, v));
        }
        for (i, t) in tensors.iter().enumerate() {
            w.add_tensor(format!("tensor.{i}"), t.ggml_type, &t.shape, t.data.clone()).unwrap();
        }
        let bytes = w.to_bytes();
        let file = GgufFile::from_bytes(&bytes).unwrap();

        prop_assert_eq!(file.version(), version);
        prop_assert_eq!(file.alignment(), u64::from(alignment.unwrap_or(32)));
        prop_assert_eq!(file.metadata().len(), expected.len());
        for ((k, v), (ek, ev)) in file.metadata().zip(&expected) {
            prop_assert_eq!(k, ek.as_str());
            prop_assert!(same_value(v, ev), "{k}: {v:?} != {ev:?}");
        }
        prop_assert_eq!(file.tensors().len(), tensors.len());
        for (info, t) in file.tensors().iter().zip(&tensors) {
            prop_assert_eq!(info.ggml_type(), t.ggml_type);
            prop_assert_eq!(info.shape(), &t.shape[..]);
            prop_assert_eq!(info.offset() % file.alignment(), 0);
            prop_assert_eq!(file.tensor_bytes(info), &t.data[..]);
        }
        // Writing what was read gives the same bytes.
        let mut again = GgufWriter::new();
        again.set_version(version).unwrap();
        for (k, v) in file.metadata() {
            again.add_metadata(k, v.clone()).unwrap();
        }
        for info in file.tensors() {
            again.add_tensor(info.name(), info.ggml_type(), info.shape(), file.tensor_bytes(info)).unwrap();
        }
        prop_assert!(again.to_bytes() == bytes);
    }
}

#[test]
fn typed_accessors_check_the_stored_type() {
    let file = GgufFile::from_bytes(&common::valid_file()).unwrap();
    assert_eq!(file.get_str("general.architecture").unwrap(), "bert");
    assert_eq!(file.get_uint("bert.block_count").unwrap(), 2);
    assert!(file.get_bool("flag").unwrap());
    assert_eq!(
        file.get_array::<f32>("tokenizer.ggml.scores").unwrap(),
        &[0.5, -1.0]
    );
    assert_eq!(
        file.get_array::<String>("tokenizer.ggml.tokens").unwrap()[1],
        "▁hello"
    );

    let err = file.get_str("bert.block_count").unwrap_err().to_string();
    assert_eq!(
        err,
        "metadata key 'bert.block_count' holds u32, expected string"
    );
    let err = file
        .get_array::<i32>("tokenizer.ggml.scores")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "metadata key 'tokenizer.ggml.scores' holds array of f32, expected array of i32"
    );
    let err = file.get_array::<f32>("flag").unwrap_err().to_string();
    assert_eq!(err, "metadata key 'flag' holds bool, expected array of f32");
    let err = file.get_uint("missing").unwrap_err().to_string();
    assert_eq!(err, "metadata key 'missing' not found");
}

#[test]
fn typed_views_check_element_size_type_and_alignment() {
    let file = GgufFile::from_bytes(&common::valid_file()).unwrap();
    let a = file.require_tensor("a.weight").unwrap();
    assert_eq!(
        file.view_f32(a).unwrap(),
        &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    );
    let b = file.require_tensor("b.weight").unwrap();
    let f16s: Vec<f32> = file
        .view_f16(b)
        .unwrap()
        .iter()
        .map(|h| h.to_f32())
        .collect();
    assert_eq!(f16s, [0.0, 1.0, 2.0, 3.0]);
    // A Q8_0 block is 34 bytes: viewed as [u8; 34] it is 2 blocks.
    let c = file.require_tensor("c.weight").unwrap();
    let blocks: &[[u8; 34]] = file.view(c).unwrap();
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[1][0], 34);

    let err = file.view::<f32>(c).unwrap_err().to_string();
    assert!(
        err.contains("a 4-byte element cannot view Q8_0 data (34 bytes per block of 32)"),
        "{err}"
    );
    let err = file.view_f32(b).unwrap_err().to_string();
    assert!(err.contains("has type F16, expected F32"), "{err}");
    assert!(file.require_tensor("nope").is_err());
}

#[test]
fn writer_refuses_inconsistent_tensors_and_keys() {
    let mut w = GgufWriter::new();
    assert!(
        w.add_tensor("q", GgmlType::Q8_0, &[33], vec![0u8; 34])
            .is_err()
    );
    assert!(
        w.add_tensor("f", GgmlType::F32, &[4], vec![0u8; 15])
            .is_err()
    );
    assert!(
        w.add_tensor("n".repeat(64), GgmlType::F32, &[1], vec![0u8; 4])
            .is_err()
    );
    w.add_tensor("ok", GgmlType::F32, &[1], vec![0u8; 4])
        .unwrap();
    assert!(
        w.add_tensor("ok", GgmlType::F32, &[1], vec![0u8; 4])
            .is_err()
    );
    w.add_metadata("k", 1u8).unwrap();
    assert!(w.add_metadata("k", 2u8).is_err());
    assert!(w.add_metadata("general.alignment", 48u32).is_err());
    assert!(w.add_metadata("general.alignment", 64u64).is_err());
    assert!(w.set_version(1).is_err());
}
