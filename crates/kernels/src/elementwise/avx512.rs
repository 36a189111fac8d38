//! AVX-512 instantiation of the elementwise kernels (vectorized by LLVM, 16-lane).
crate::elementwise::isa_table!("avx512f,avx512bw,avx512vl,avx2,fma,f16c");
