//! Writes the seed corpora and dictionaries of the fuzz crate (`fuzz/`, see docs/SECURITY.md):
//!
//! - `fuzz/models/`: tiny valid models of every registered architecture (a few KB each:
//!   width 32, one or two layers, 16 positions, vocabularies of 30-40 pieces; see
//!   `ggufembed_testkit::tiny_arch`): BERT (F32 and Q8_0), the BERT reranker, gemma-embedding,
//!   qwen3, nomic-bert, modern-bert. `embed_tiny` loads them; all but the F32 BERT also seed
//!   `open_model` (`fuzz/seeds/open_model/`), with a narrower F32 BERT (width 8, 8 positions:
//!   6 KB, most of it metadata);
//! - `fuzz/dicts/{wordpiece,sentencepiece,bpe}.gguf`: vocabulary-only files (the `tokenizer.*`
//!   keys alone) for the `tokenize_*` targets: WordPiece from the tiny BERT, SentencePiece from
//!   `../shared/models/tiny-embeddinggemma.q8_0.gguf`, byte-level BPE from
//!   `../shared/models/tiny-qwen3-embedding.q8_0.gguf` (skipped with a note when absent).
//!
//! Run from the repository root: `cargo run -p ggufembed-testkit --example write_fuzz_seeds`.
//! The outputs are committed (`tests/tiny_arch.rs` checks that they are what this writes);
//! rerun only to change them.

use std::fs;
use std::path::Path;

use gguf_loader::{GgmlType, GgufFile, GgufWriter};
use ggufembed_testkit::TinyBert;
use ggufembed_testkit::tiny_arch::{tiny_bert, tiny_models};

/// A file holding only `src`'s `general.architecture` and `tokenizer.*` keys.
fn vocab_only(src: &Path, dst: &Path) {
    let file = GgufFile::open(src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let mut w = GgufWriter::new();
    for (key, value) in file.metadata() {
        if key == "general.architecture" || key.starts_with("tokenizer.") {
            // The Hugging Face tokenizer.json copy is not read by ggufembed.
            if key != "tokenizer.huggingface.json" {
                w.add_metadata(key, value.clone()).unwrap();
            }
        }
    }
    w.write_file(dst).unwrap();
    report(dst);
}

fn report(path: &Path) {
    println!(
        "{} ({} bytes)",
        path.display(),
        fs::metadata(path).unwrap().len()
    );
}

fn main() {
    let root = Path::new("fuzz");
    let (models, dicts, corpus) = (
        root.join("models"),
        root.join("dicts"),
        root.join("seeds/open_model"),
    );
    for d in [&models, &dicts, &corpus] {
        fs::create_dir_all(d).unwrap();
    }
    let f32_bert = tiny_bert(GgmlType::F32).write(&models, "tiny-bert-f32.gguf");
    report(&f32_bert);
    for m in tiny_models() {
        for dir in [&models, &corpus] {
            let path = dir.join(m.file_name);
            fs::write(&path, &m.bytes).unwrap();
            report(&path);
        }
    }
    // Width 8 needs F32 (a Q8_0 row is whole 32-element blocks): the smallest valid model, so
    // that most of `open_model`'s mutations land in metadata and shapes.
    let narrow = TinyBert {
        n_embd: 8,
        n_ff: 8,
        n_ctx: 8,
        ..tiny_bert(GgmlType::F32)
    }
    .write(&corpus, "tiny-bert-w8-f32.gguf");
    report(&narrow);
    vocab_only(
        &models.join("tiny-bert-q8_0.gguf"),
        &dicts.join("wordpiece.gguf"),
    );
    for (model, dict) in [
        ("tiny-embeddinggemma.q8_0.gguf", "sentencepiece.gguf"),
        ("tiny-qwen3-embedding.q8_0.gguf", "bpe.gguf"),
    ] {
        let src = Path::new("../shared/models").join(model);
        if src.exists() {
            vocab_only(&src, &dicts.join(dict));
        } else {
            println!("skipped {dict}: {} is missing", src.display());
        }
    }
}
