//! Regenerates the tokenizer test data in `crates/runtime/tests/data/` from the shared files:
//!
//! - `minilm-vocab.gguf`: a vocab-only GGUF holding `general.architecture` and every
//!   `tokenizer.*` key of the model (no tensors), about 0.5 MB;
//! - `minilm-dev-ids.jsonl`: the reference fixture reduced to each line's `text` and `ids`
//!   (the Hugging Face tokenizer's ids, with `[CLS]`/`[SEP]`, untruncated).
//!
//! ```text
//! cargo run -p ggufembed-runtime --example extract_vocab -- \
//!     ../shared/models/all-MiniLM-L6-v2.q8_0.gguf \
//!     ../shared/fixtures/minilm-dev-reference.jsonl \
//!     crates/runtime/tests/data
//! ```
//!
//! The three arguments default to the paths above (run from the repository root). A fourth
//! names the outputs (`minilm` by default: `{name}-vocab.gguf`, `{name}-dev-ids.jsonl`); the
//! EmbeddingGemma data (`<bos>`/`<eos>` ids of Hugging Face's `GemmaTokenizer`) is made with
//!
//! ```text
//! cargo run -p ggufembed-runtime --example extract_vocab -- \
//!     ../shared/models/tiny-embeddinggemma.f32.gguf \
//!     ../shared/fixtures/tiny-embeddinggemma-dev-reference.jsonl \
//!     crates/runtime/tests/data tiny-embeddinggemma
//! ```

use std::error::Error;
use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;

use ggufembed_runtime::gguf_loader::{GgufFile, GgufWriter};

/// One trimmed fixture line.
#[derive(serde::Deserialize, serde::Serialize)]
struct Line {
    text: String,
    ids: Vec<u32>,
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args_os().skip(1);
    let model = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "../shared/models/all-MiniLM-L6-v2.q8_0.gguf".into()),
    );
    let fixture = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "../shared/fixtures/minilm-dev-reference.jsonl".into()),
    );
    let out_dir = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "crates/runtime/tests/data".into()),
    );
    let name = args
        .next()
        .map_or_else(|| "minilm".to_owned(), |n| n.to_string_lossy().into_owned());
    fs::create_dir_all(&out_dir)?;

    // Vocab-only GGUF: file order, tokenizer keys and the architecture only.
    let file = GgufFile::open(&model)?;
    let mut writer = GgufWriter::new();
    let mut n_keys = 0;
    for (key, value) in file.metadata() {
        if key == "general.architecture" || key.starts_with("tokenizer.") {
            writer.add_metadata(key, value.clone())?;
            n_keys += 1;
        }
    }
    let vocab_path = out_dir.join(format!("{name}-vocab.gguf"));
    writer.write_file(&vocab_path)?;
    println!(
        "{}: {n_keys} keys, {} bytes",
        vocab_path.display(),
        fs::metadata(&vocab_path)?.len()
    );

    // Trimmed fixture: text and ids of every line, in order.
    let ids_path = out_dir.join(format!("{name}-dev-ids.jsonl"));
    let mut out = BufWriter::new(fs::File::create(&ids_path)?);
    let mut n_lines = 0;
    for line in BufReader::new(fs::File::open(&fixture)?).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(&line)?;
        serde_json::to_writer(&mut out, &parsed)?;
        out.write_all(b"\n")?;
        n_lines += 1;
    }
    out.flush()?;
    println!(
        "{}: {n_lines} lines, {} bytes",
        ids_path.display(),
        fs::metadata(&ids_path)?.len()
    );
    Ok(())
}
