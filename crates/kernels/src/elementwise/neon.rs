//! NEON instantiation of the elementwise kernels (vectorized by LLVM, 4-lane).
crate::elementwise::isa_table!("neon");
