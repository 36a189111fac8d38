//! Writes a benchmark model: random Q8_0 weights at a real model's shape, in llama.cpp's layout
//! and metadata (`ggufembed_testkit::bench_model`), for speed measurements against llama.cpp on
//! the same file. ARCH is one of `gemma` (EmbeddingGemma-300M), `qwen3` (Qwen3-Embedding-0.6B),
//! `nomic-bert` (nomic-embed-text-v1.5), `modern-bert` (ModernBERT-base). The tokenizer metadata
//! comes from TOKENIZER.gguf, by default the architecture's tiny model in `tests/data`.
//!
//! ```text
//! cargo run --release -p ggufembed-runtime --example make_bench_model -- ARCH OUT.gguf [TOKENIZER.gguf]
//! ```
//! (`scripts/make-bench-model.sh ARCH OUT.gguf` runs this.) `tests/bench_model.rs` runs the
//! same generator at small shapes.

use std::error::Error;
use std::path::PathBuf;

use ggufembed_runtime::gguf_loader::GgufFile;
use ggufembed_testkit::bench_model::{SHAPES, build};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let names: Vec<&str> = SHAPES.iter().map(|(name, ..)| *name).collect();
    let usage = || {
        eprintln!(
            "usage: make_bench_model ARCH OUT.gguf [TOKENIZER.gguf]   (ARCH: {})",
            names.join(", ")
        );
        std::process::exit(2)
    };
    if !(2..=3).contains(&args.len()) {
        usage();
    }
    let Some((_, shape, tiny)) = SHAPES.iter().find(|(name, ..)| args[0] == **name) else {
        usage()
    };
    let out = PathBuf::from(&args[1]);
    let tokenizer = args.get(2).map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data")
                .join(tiny)
        },
        PathBuf::from,
    );
    build(shape, &GgufFile::open(&tokenizer)?, 0x6265_6E63)?.write_file(&out)?;
    println!(
        "{}: {} bytes",
        out.display(),
        std::fs::metadata(&out)?.len()
    );
    Ok(())
}
