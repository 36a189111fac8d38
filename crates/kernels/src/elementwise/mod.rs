//! Elementwise and row-wise kernels: norms, activations, softmax, pooling, dequantization.
//! (Attention is its own family, `crate::attention`; activation quantization is `crate::q8_0`'s.)
//!
//! One lane-explicit body per kernel (`generic.rs`) is instantiated per ISA inside
//! `#[target_feature]` wrappers (`avx2.rs`, `avx512.rs`, `neon.rs`; `scalar.rs` uses the bodies
//! as they are). Results are bit-identical across ISAs. Fused forms (`add_bias_gelu`,
//! `add_layer_norm`) save one pass over the activations.

pub(crate) mod generic;
pub(crate) mod scalar;

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;

use half::{bf16, f16};

use crate::block::{BlockQ8_0, QK8_0};
use crate::isa::{Kernels, PerIsa, SCALAR};
use crate::kernels;

/// Function pointers of one ISA's elementwise kernels (arguments pre-checked).
#[allow(clippy::type_complexity)]
pub(crate) struct Table {
    pub layer_norm: unsafe fn(&mut [f32], usize, &[f32], Option<&[f32]>, f32),
    pub add_layer_norm: unsafe fn(&mut [f32], &[f32], usize, &[f32], Option<&[f32]>, f32),
    pub rms_norm: unsafe fn(&mut [f32], usize, &[f32], f32),
    pub add: unsafe fn(&mut [f32], &[f32]),
    pub add_bias: unsafe fn(&mut [f32], &[f32]),
    pub add_bias_gelu: unsafe fn(&mut [f32], &[f32]),
    pub gelu: unsafe fn(&mut [f32]),
    pub gelu_tanh: unsafe fn(&mut [f32]),
    pub silu: unsafe fn(&mut [f32]),
    pub geglu: unsafe fn(&[f32], &[f32], &mut [f32]),
    pub swiglu: unsafe fn(&[f32], &[f32], &mut [f32]),
    pub softmax: unsafe fn(&mut [f32], f32, Option<&[f32]>),
    pub mean_pool: unsafe fn(&[f32], usize, usize, usize, &mut [f32]),
    pub l2_normalize: unsafe fn(&mut [f32]),
    pub dequantize_q8_0: unsafe fn(&[BlockQ8_0], &mut [f32]),
    pub dequantize_f16: unsafe fn(&[f16], &mut [f32]),
    pub dequantize_bf16: unsafe fn(&[bf16], &mut [f32]),
}

/// Stamps `#[target_feature]` entry points around every `generic` body and a `TABLE` of them.
macro_rules! isa_table {
    ($features:literal) => {
        use half::{bf16, f16};

        use crate::block::BlockQ8_0;
        use crate::elementwise::{Table, generic as g};

        target_fns!($features;
            layer_norm(x: &mut [f32], dim: usize, gamma: &[f32], beta: Option<&[f32]>, eps: f32) => g::layer_norm;
            add_layer_norm(
                x: &mut [f32], residual: &[f32], dim: usize, gamma: &[f32], beta: Option<&[f32]>, eps: f32
            ) => g::add_layer_norm;
            rms_norm(x: &mut [f32], dim: usize, weight: &[f32], eps: f32) => g::rms_norm;
            add(x: &mut [f32], y: &[f32]) => g::add;
            add_bias(x: &mut [f32], bias: &[f32]) => g::add_bias;
            add_bias_gelu(x: &mut [f32], bias: &[f32]) => g::add_bias_gelu;
            gelu(x: &mut [f32]) => g::gelu;
            gelu_tanh(x: &mut [f32]) => g::gelu_tanh;
            silu(x: &mut [f32]) => g::silu;
            geglu(gate: &[f32], up: &[f32], out: &mut [f32]) => g::geglu;
            swiglu(gate: &[f32], up: &[f32], out: &mut [f32]) => g::swiglu;
            softmax(x: &mut [f32], scale: f32, mask: Option<&[f32]>) => g::softmax;
            mean_pool(x: &[f32], dim: usize, t0: usize, t1: usize, out: &mut [f32]) => g::mean_pool;
            l2_normalize(x: &mut [f32]) => g::l2_normalize;
            dequantize_q8_0(blocks: &[BlockQ8_0], out: &mut [f32]) => g::dequantize_q8_0;
            dequantize_f16(x: &[f16], out: &mut [f32]) => g::dequantize_f16;
            dequantize_bf16(x: &[bf16], out: &mut [f32]) => g::dequantize_bf16;
        );
        pub(crate) const TABLE: Table = Table {
            layer_norm,
            add_layer_norm,
            rms_norm,
            add,
            add_bias,
            add_bias_gelu,
            gelu,
            gelu_tanh,
            silu,
            geglu,
            swiglu,
            softmax,
            mean_pool,
            l2_normalize,
            dequantize_q8_0,
            dequantize_f16,
            dequantize_bf16,
        };
    };
}
pub(crate) use isa_table;

/// Every tier's table (NEON's dot-product extension changes nothing here).
static TABLES: PerIsa<Table> = PerIsa {
    scalar: scalar::TABLE,
    #[cfg(target_arch = "x86_64")]
    avx2: avx2::TABLE,
    #[cfg(target_arch = "x86_64")]
    avx512: avx512::TABLE,
    #[cfg(target_arch = "aarch64")]
    neon: neon::TABLE,
    #[cfg(target_arch = "aarch64")]
    neon_dotprod: neon::TABLE,
};

/// The table of `k`'s tier.
#[inline(always)]
fn ew(k: &Kernels) -> &'static Table {
    k.pick(&TABLES)
}

/// This family's self-check (see `crate::SELF_CHECKS`): a LayerNorm on `k` and on the scalar
/// tier, equal within a float tolerance.
pub(crate) fn self_check(k: &Kernels) -> bool {
    let (m, dim) = (5, 96);
    let x: Vec<f32> = (0..m * dim)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013)
        .collect();
    let g: Vec<f32> = (0..dim).map(|i| 1.0 + i as f32 * 0.01).collect();
    let close = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .all(|(p, q)| (p - q).abs() <= 1e-4 * (1.0 + p.abs()))
    };
    let (mut a, mut b) = (x.clone(), x);
    SCALAR.layer_norm(&mut a, dim, &g, Some(&g), 1e-5);
    k.layer_norm(&mut b, dim, &g, Some(&g), 1e-5);
    close(&a, &b)
}

fn check_rows(what: &str, len: usize, dim: usize) {
    assert!(
        dim > 0 && len.is_multiple_of(dim),
        "{what}: length {len} is not a multiple of dim {dim}"
    );
}

// SAFETY (for every `unsafe` call below): a `Kernels` value exists only for an ISA the CPU
// supports (see `kernels_for`), `ew` picks that ISA's table, and each method checks the slice
// lengths its body relies on; the bodies themselves are safe Rust.
impl Kernels {
    /// See [`layer_norm`].
    pub fn layer_norm(
        &self,
        x: &mut [f32],
        dim: usize,
        gamma: &[f32],
        beta: Option<&[f32]>,
        eps: f32,
    ) {
        check_rows("layer_norm", x.len(), dim);
        assert_eq!(gamma.len(), dim, "layer_norm: gamma.len() != dim");
        assert!(
            beta.is_none_or(|b| b.len() == dim),
            "layer_norm: beta.len() != dim"
        );
        // SAFETY: see the note above `impl Kernels`.
        unsafe { (ew(self).layer_norm)(x, dim, gamma, beta, eps) }
    }

    /// See [`add_layer_norm`].
    pub fn add_layer_norm(
        &self,
        x: &mut [f32],
        residual: &[f32],
        dim: usize,
        gamma: &[f32],
        beta: Option<&[f32]>,
        eps: f32,
    ) {
        check_rows("add_layer_norm", x.len(), dim);
        assert_eq!(
            residual.len(),
            x.len(),
            "add_layer_norm: residual.len() != x.len()"
        );
        assert_eq!(gamma.len(), dim, "add_layer_norm: gamma.len() != dim");
        assert!(
            beta.is_none_or(|b| b.len() == dim),
            "add_layer_norm: beta.len() != dim"
        );
        // SAFETY: see the note above `impl Kernels`.
        unsafe { (ew(self).add_layer_norm)(x, residual, dim, gamma, beta, eps) }
    }

    /// See [`rms_norm`].
    pub fn rms_norm(&self, x: &mut [f32], dim: usize, weight: &[f32], eps: f32) {
        check_rows("rms_norm", x.len(), dim);
        assert_eq!(weight.len(), dim, "rms_norm: weight.len() != dim");
        // SAFETY: see the note above `impl Kernels`.
        unsafe { (ew(self).rms_norm)(x, dim, weight, eps) }
    }

    /// See [`residual_add`].
    pub fn residual_add(&self, x: &mut [f32], y: &[f32]) {
        assert_eq!(x.len(), y.len(), "residual_add: lengths differ");
        // SAFETY: see the note above `impl Kernels`.
        unsafe { (ew(self).add)(x, y) }
    }

    /// See [`add_bias`].
    pub fn add_bias(&self, x: &mut [f32], bias: &[f32]) {
        check_rows("add_bias", x.len(), bias.len());
        // SAFETY: see the note above `impl Kernels`.
        unsafe { (ew(self).add_bias)(x, bias) }
    }

    /// See [`add_bias_gelu`].
    pub fn add_bias_gelu(&self, x: &mut [f32], bias: &[f32]) {
        check_rows("add_bias_gelu", x.len(), bias.len());
        // SAFETY: see the note above `impl Kernels`.
        unsafe { (ew(self).add_bias_gelu)(x, bias) }
    }

    /// See [`gelu`].
    pub fn gelu(&self, x: &mut [f32]) {
        // SAFETY: see the note above `impl Kernels`.
        unsafe { (ew(self).gelu)(x) }
    }

    /// See [`gelu_tanh`].
    pub fn gelu_tanh(&self, x: &mut [f32]) {
        // SAFETY: see the note above `impl Kernels`.
        unsafe { (ew(self).gelu_tanh)(x) }
    }

    /// See [`silu`].
    pub fn silu(&self, x: &mut [f32]) {
        // SAFETY: see the note above `impl Kernels`.
        unsafe { (ew(self).silu)(x) }
    }

    /// See [`geglu`].
    pub fn geglu(&self, gate: &[f32], up: &[f32], out: &mut [f32]) {
        assert!(
            gate.len() == up.len() && up.len() == out.len(),
            "geglu: lengths differ"
        );
        // SAFETY: see the note above `impl Kernels`.
        unsafe { (ew(self).geglu)(gate, up, out) }
    }

    /// See [`swiglu`].
    pub fn swiglu(&self, gate: &[f32], up: &[f32], out: &mut [f32]) {
        assert!(
            gate.len() == up.len() && up.len() == out.len(),
            "swiglu: lengths differ"
        );
        // SAFETY: see the note above `impl Kernels`.
        unsafe { (ew(self).swiglu)(gate, up, out) }
    }

    /// See [`softmax`].
    pub fn softmax(&self, x: &mut [f32], scale: f32, mask: Option<&[f32]>) {
        assert!(
            mask.is_none_or(|m| m.len() == x.len()),
            "softmax: mask.len() != x.len()"
        );
        // SAFETY: see the note above `impl Kernels`.
        unsafe { (ew(self).softmax)(x, scale, mask) }
    }

    /// See [`mean_pool`].
    pub fn mean_pool(&self, x: &[f32], dim: usize, t0: usize, t1: usize, out: &mut [f32]) {
        check_rows("mean_pool", x.len(), dim);
        assert!(
            t0 < t1 && t1 * dim <= x.len(),
            "mean_pool: bad token range {t0}..{t1}"
        );
        assert_eq!(out.len(), dim, "mean_pool: out.len() != dim");
        // SAFETY: see the note above `impl Kernels`.
        unsafe { (ew(self).mean_pool)(x, dim, t0, t1, out) }
    }

    /// See [`l2_normalize`].
    pub fn l2_normalize(&self, x: &mut [f32]) {
        // SAFETY: see the note above `impl Kernels`.
        unsafe { (ew(self).l2_normalize)(x) }
    }

    /// See [`dequantize_row_q8_0`].
    pub fn dequantize_row_q8_0(&self, blocks: &[BlockQ8_0], out: &mut [f32]) {
        assert_eq!(
            out.len(),
            blocks.len() * QK8_0,
            "dequantize_row_q8_0: out.len() != 32 * blocks"
        );
        // SAFETY: see the note above `impl Kernels`.
        unsafe { (ew(self).dequantize_q8_0)(blocks, out) }
    }

    /// See [`dequantize_row_f16`].
    pub fn dequantize_row_f16(&self, x: &[f16], out: &mut [f32]) {
        assert_eq!(out.len(), x.len(), "dequantize_row_f16: lengths differ");
        // SAFETY: see the note above `impl Kernels`.
        unsafe { (ew(self).dequantize_f16)(x, out) }
    }

    /// See [`dequantize_row_bf16`].
    pub fn dequantize_row_bf16(&self, x: &[bf16], out: &mut [f32]) {
        assert_eq!(out.len(), x.len(), "dequantize_row_bf16: lengths differ");
        // SAFETY: see the note above `impl Kernels`.
        unsafe { (ew(self).dequantize_bf16)(x, out) }
    }
}

/// LayerNorm of each `dim`-long row of `x`, in place: `(x - mean) / sqrt(var + eps) · gamma + beta`
/// (biased variance, two passes). Panics unless `x.len() % dim == 0` and gamma/beta have `dim`.
pub fn layer_norm(x: &mut [f32], dim: usize, gamma: &[f32], beta: Option<&[f32]>, eps: f32) {
    kernels().layer_norm(x, dim, gamma, beta, eps);
}

/// Fused post-norm residual: `x = LayerNorm(x + residual)` row by row.
pub fn add_layer_norm(
    x: &mut [f32],
    residual: &[f32],
    dim: usize,
    gamma: &[f32],
    beta: Option<&[f32]>,
    eps: f32,
) {
    kernels().add_layer_norm(x, residual, dim, gamma, beta, eps);
}

/// RMSNorm of each row, in place: `x / sqrt(mean(x²) + eps) · weight`. (Gemma's `1 + w`
/// convention: pass `1 + w`, computed once at load.)
pub fn rms_norm(x: &mut [f32], dim: usize, weight: &[f32], eps: f32) {
    kernels().rms_norm(x, dim, weight, eps);
}

/// Residual add: `x += y`.
pub fn residual_add(x: &mut [f32], y: &[f32]) {
    kernels().residual_add(x, y);
}

/// Adds `bias` (length = row width) to every row of `x`.
pub fn add_bias(x: &mut [f32], bias: &[f32]) {
    kernels().add_bias(x, bias);
}

/// Fused `x = gelu(x + bias)` (exact GELU) on every row of `x`.
pub fn add_bias_gelu(x: &mut [f32], bias: &[f32]) {
    kernels().add_bias_gelu(x, bias);
}

/// Exact GELU `x·Φ(x)` (erf; BERT's `gelu`) in place, ~1e-6 relative accuracy.
pub fn gelu(x: &mut [f32]) {
    kernels().gelu(x);
}

/// Tanh-approximate GELU (`gelu_new`, `gelu_pytorch_tanh`) in place.
pub fn gelu_tanh(x: &mut [f32]) {
    kernels().gelu_tanh(x);
}

/// SiLU `x·σ(x)` in place.
pub fn silu(x: &mut [f32]) {
    kernels().silu(x);
}

/// GeGLU: `out = gelu(gate) · up` (exact GELU).
pub fn geglu(gate: &[f32], up: &[f32], out: &mut [f32]) {
    kernels().geglu(gate, up, out);
}

/// SwiGLU: `out = silu(gate) · up`.
pub fn swiglu(gate: &[f32], up: &[f32], out: &mut [f32]) {
    kernels().swiglu(gate, up, out);
}

/// Softmax of one row in place: `softmax(x · scale + mask)`. An all-`-inf` row becomes zeros.
pub fn softmax(x: &mut [f32], scale: f32, mask: Option<&[f32]>) {
    kernels().softmax(x, scale, mask);
}

/// Mean of rows `t0..t1` of the `dim`-wide matrix `x` into `out` (tokens summed in order).
pub fn mean_pool(x: &[f32], dim: usize, t0: usize, t1: usize, out: &mut [f32]) {
    kernels().mean_pool(x, dim, t0, t1, out);
}

/// L2-normalizes `x` in place (`x / max(‖x‖, 1e-12)`).
pub fn l2_normalize(x: &mut [f32]) {
    kernels().l2_normalize(x);
}

/// Dequantizes Q8_0 blocks (e.g. one embedding-table row) into `out` (`32 · blocks.len()`).
pub fn dequantize_row_q8_0(blocks: &[BlockQ8_0], out: &mut [f32]) {
    kernels().dequantize_row_q8_0(blocks, out);
}

/// Widens F16 values to f32 (exact).
pub fn dequantize_row_f16(x: &[f16], out: &mut [f32]) {
    kernels().dequantize_row_f16(x, out);
}

/// Widens BF16 values to f32 (exact).
pub fn dequantize_row_bf16(x: &[bf16], out: &mut [f32]) {
    kernels().dequantize_row_bf16(x, out);
}
