//! The scalar oracle: the blocked kernel over plain arrays (`f32::mul_add` per lane).

use super::AttentionParams;
use super::blocked;
use super::lanes::Scalar;

/// Portable attention (see `Kernels::attention`).
///
/// # Safety
/// The arguments must satisfy the checks of `Kernels::attention`.
pub(crate) unsafe fn attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    p: &AttentionParams,
    mask: Option<&[f32]>,
    out: &mut [f32],
    scratch: &mut Vec<f32>,
) {
    // SAFETY: forwarded contract; `Scalar` needs no ISA features.
    unsafe { blocked::attention::<Scalar, 1, 4, 1, 2, 1>(q, k, v, p, mask, out, scratch) }
}
