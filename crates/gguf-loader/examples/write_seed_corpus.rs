//! Writes a few small valid GGUF files into a directory, as seeds for the fuzzer.
//! Usage: `cargo run -p gguf-loader --example write_seed_corpus -- DIR`

use gguf_loader::{Array, GgmlType, GgufWriter};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: write_seed_corpus DIR")?;
    std::fs::create_dir_all(&dir)?;

    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", "bert")?;
    w.add_metadata("bert.block_count", 1u32)?;
    w.add_metadata(
        "tokenizer.ggml.tokens",
        Array::String(vec!["[CLS]".into(), "▁a".into()]),
    )?;
    w.add_metadata(
        "nested",
        Array::Array(vec![Array::U8(vec![1, 2]), Array::F64(vec![0.5])]),
    )?;
    w.add_tensor("w", GgmlType::F32, &[4, 2], vec![0u8; 32])?;
    w.add_tensor("q", GgmlType::Q8_0, &[32], vec![1u8; 34])?;
    w.add_tensor("h", GgmlType::F16, &[3], vec![0u8; 6])?;
    w.write_file(format!("{dir}/seed-small.gguf"))?;

    let mut w = GgufWriter::new();
    w.add_metadata("general.alignment", 64u32)?;
    w.add_metadata("flag", true)?;
    w.add_tensor("k", GgmlType::Q4_K, &[256, 1], vec![0u8; 144])?;
    w.write_file(format!("{dir}/seed-aligned.gguf"))?;

    GgufWriter::new().write_file(format!("{dir}/seed-empty.gguf"))?;
    Ok(())
}
