//! The crate-wide macro that stamps `#[target_feature]` entry points.

/// Stamps one `#[target_feature(enable = FEATURES)] unsafe fn` per line, each forwarding its
/// arguments to a safe `#[inline(always)]` body, so the body is compiled (and vectorized by
/// LLVM) with the tier's instructions:
///
/// ```ignore
/// target_fns!("avx2,fma,f16c";
///     layer_norm(x: &mut [f32], dim: usize) => generic::layer_norm;
///     gelu(x: &mut [f32]) => generic::gelu;
/// );
/// ```
///
/// The functions are `pub(crate)` so that a family's table can take them from the per-ISA
/// module; they are only reached through such a table, whose token proves the CPU has the
/// features.
macro_rules! target_fns {
    ($features:literal; $(
        $name:ident ( $($arg:ident : $ty:ty),* $(,)? ) $(-> $ret:ty)? => $body:path;
    )*) => {$(
        /// # Safety
        /// The CPU must support the features this entry point is compiled for, and the
        /// arguments must satisfy the checks of the public function that reaches it.
        #[target_feature(enable = $features)]
        pub(crate) unsafe fn $name($($arg: $ty),*) $(-> $ret)? {
            $body($($arg),*)
        }
    )*};
}
