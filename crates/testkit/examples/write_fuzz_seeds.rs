//! Writes the seed corpora and dictionaries of the fuzz crate (`fuzz/`, see docs/SECURITY.md):
//!
//! - `fuzz/models/tiny-bert-{f32,q8_0}.gguf`: tiny valid BERTs (a few KB: width 32, one layer,
//!   16 positions, the testkit's 36-piece vocabulary), loaded by `embed_tiny` and the seeds of
//!   `open_model`, with one variant per registered architecture name (`general.architecture`
//!   renamed, so mutations reach every architecture's metadata checks), and a narrower F32
//!   one (width 8, 8 positions: 4 KB, most of it metadata) seeding `open_model`;
//! - `fuzz/dicts/{wordpiece,sentencepiece,bpe}.gguf`: vocabulary-only files (the `tokenizer.*`
//!   keys alone) for the `tokenize_*` targets: WordPiece from the tiny BERT, SentencePiece from
//!   `../shared/models/tiny-embeddinggemma.q8_0.gguf`, byte-level BPE from
//!   `../shared/models/tiny-qwen3-embedding.q8_0.gguf` (skipped with a note when absent).
//!
//! Run from the repository root: `cargo run -p ggufembed-testkit --example write_fuzz_seeds`.
//! The outputs are committed; rerun only to change them.

use std::fs;
use std::path::Path;

use gguf_loader::{GgmlType, GgufFile, GgufWriter, Value};
use ggufembed_testkit::TinyBert;

fn tiny(matrix_type: GgmlType) -> TinyBert {
    TinyBert {
        n_embd: 32,
        n_layer: 1,
        n_head: 2,
        n_ff: 32,
        n_ctx: 16,
        matrix_type,
        ..TinyBert::default()
    }
}

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
    println!(
        "{} ({} bytes)",
        dst.display(),
        fs::metadata(dst).unwrap().len()
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
    for (ty, name) in [
        (GgmlType::F32, "tiny-bert-f32.gguf"),
        (GgmlType::Q8_0, "tiny-bert-q8_0.gguf"),
    ] {
        let path = tiny(ty).write(&models, name);
        // The Q8_0 model seeds `open_model` (its matrices are a quarter of the F32 one's).
        if ty == GgmlType::Q8_0 {
            fs::copy(&path, corpus.join(name)).unwrap();
        }
        println!(
            "{} ({} bytes)",
            path.display(),
            fs::metadata(&path).unwrap().len()
        );
    }
    // Width 8 needs F32 (a Q8_0 row is whole 32-element blocks): the smallest valid model, so
    // that most of `open_model`'s mutations land in metadata and shapes.
    let narrow = TinyBert {
        n_embd: 8,
        n_ff: 8,
        n_ctx: 8,
        ..tiny(GgmlType::F32)
    }
    .write(&corpus, "tiny-bert-w8-f32.gguf");
    println!(
        "{} ({} bytes)",
        narrow.display(),
        fs::metadata(&narrow).unwrap().len()
    );
    for arch in ggufembed_runtime::registry::ARCHITECTURES {
        if arch.name == "bert" {
            continue;
        }
        let mut t = tiny(GgmlType::Q8_0);
        t.overrides
            .push(("general.architecture".into(), Some(Value::from(arch.name))));
        let path = t.write(&corpus, &format!("tiny-bert-as-{}.gguf", arch.name));
        println!("{}", path.display());
    }
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
