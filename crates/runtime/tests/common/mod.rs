//! Helpers shared by the tokenizer test suites: fixtures, vocab-only GGUFs, HF parity.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Instant;

use ggufembed_runtime::gguf_loader::GgufFile;
use ggufembed_runtime::tokenizer::Tokenizer;

/// A fixture line: a text and the Hugging Face tokenizer's ids for it.
#[derive(serde::Deserialize)]
pub struct Line {
    pub text: String,
    pub ids: Vec<u32>,
}

/// A committed test data file.
pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A file of the shared folder beside the repository (`../shared`), if present.
pub fn shared(relative: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(relative);
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED: {} not found (../shared is not present here)",
            path.display()
        );
        None
    }
}

/// The lines of a committed `{text, ids}` JSONL fixture.
pub fn fixture(name: &str) -> Vec<Line> {
    let text = std::fs::read_to_string(data(name)).expect("read the fixture");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("parse a fixture line"))
        .collect()
}

/// The tokenizer of a GGUF file.
pub fn tokenizer(path: &std::path::Path) -> Tokenizer {
    let file = GgufFile::open(path).expect("open the GGUF");
    Tokenizer::from_gguf(&file).expect("build the tokenizer")
}

/// Checks every fixture line; panics on the first mismatch with the text and both id lists.
pub fn assert_fixture_parity(tokenizer: &Tokenizer, lines: &[Line], what: &str) {
    assert_eq!(lines.len(), 261, "fixture line count");
    let mut mismatches = 0;
    let mut first = None;
    let (mut bytes, mut n_ids) = (0, 0);
    let start = Instant::now();
    for (i, line) in lines.iter().enumerate() {
        let got = tokenizer.encode(&line.text).expect("encode");
        bytes += line.text.len();
        n_ids += got.len();
        if got != line.ids {
            mismatches += 1;
            first.get_or_insert((i, line, got));
        }
    }
    eprintln!(
        "{what}: encoded {} texts ({bytes} bytes, {n_ids} ids) in {:?}",
        lines.len(),
        start.elapsed()
    );
    if let Some((i, line, got)) = first {
        panic!(
            "{what}: {mismatches} of {} fixture texts differ; first is line {i}: text {:?}\n  \
             Hugging Face: {:?}\n  ours:         {:?}",
            lines.len(),
            line.text,
            line.ids,
            got
        );
    }
}
