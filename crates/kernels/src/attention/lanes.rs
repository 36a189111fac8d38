//! The 16-lane f32 vector the blocked attention micro-kernels are written over.
//!
//! One implementation per ISA (`__m512`, two `__m256`, four `float32x4_t`, and `[f32; 16]` for
//! the scalar oracle). Every operation is lane-wise and exactly rounded (`fma` is fused on every
//! tier, `f32::mul_add` in the oracle), so a kernel written once over [`Lanes`] gives the same
//! bits on every ISA.

/// Lanes per vector: one zmm, two ymm, four NEON registers.
pub(crate) const L: usize = 16;

/// Sixteen f32 lanes.
///
/// # Safety
/// Implementations use ISA intrinsics: a method may only be called where that ISA's features
/// are enabled (inside the tier's `#[target_feature]` entry point, into which they inline).
pub(crate) unsafe trait Lanes: Copy {
    /// All lanes zero.
    unsafe fn zero() -> Self;
    /// All lanes `x`.
    unsafe fn splat(x: f32) -> Self;
    /// Loads 16 floats from `p` (no alignment needed).
    ///
    /// # Safety
    /// `p..p + 16` must be readable.
    unsafe fn load(p: *const f32) -> Self;
    /// Stores the lanes to `p..p + 16` (no alignment needed).
    ///
    /// # Safety
    /// `p..p + 16` must be writable.
    unsafe fn store(self, p: *mut f32);
    /// `a · b + c`, fused (one rounding).
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self;
    /// `self · b`.
    unsafe fn mul(self, b: Self) -> Self;
}

/// The scalar oracle's vector: plain arrays, `mul_add` per lane.
#[derive(Clone, Copy)]
pub(crate) struct Scalar([f32; L]);

// SAFETY: plain Rust; the pointer contracts are the callers'.
unsafe impl Lanes for Scalar {
    #[inline(always)]
    unsafe fn zero() -> Self {
        Scalar([0.0; L])
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        Scalar([x; L])
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the caller guarantees 16 readable floats.
        Scalar(unsafe { p.cast::<[f32; L]>().read_unaligned() })
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller guarantees 16 writable floats.
        unsafe { p.cast::<[f32; L]>().write_unaligned(self.0) }
    }
    #[inline(always)]
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
        Scalar(std::array::from_fn(|i| a.0[i].mul_add(b.0[i], c.0[i])))
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        Scalar(std::array::from_fn(|i| self.0[i] * b.0[i]))
    }
}
