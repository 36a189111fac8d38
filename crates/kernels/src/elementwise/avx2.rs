//! AVX2 + FMA instantiation of the elementwise kernels (vectorized by LLVM, 8-lane).
crate::elementwise::isa_table!("avx2,fma,f16c");
