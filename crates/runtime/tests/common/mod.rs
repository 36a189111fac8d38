//! Helpers shared by the tokenizer test suites: fixtures, vocab-only GGUFs, HF parity.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Instant;

use ggufembed_runtime::RuntimeError;
use ggufembed_runtime::gguf_loader::{Array, GgufError, GgufFile, GgufWriter, Value};
use ggufembed_runtime::tokenizer::Tokenizer;

pub mod arch;
pub mod parity;
pub mod synth;

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

/// All metadata of a GGUF file, in order.
pub fn metadata_of(path: &std::path::Path) -> Vec<(String, Value)> {
    let file = GgufFile::open(path).unwrap();
    file.metadata()
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .collect()
}

/// An in-memory GGUF holding `metadata` only.
pub fn file_of(metadata: Vec<(String, Value)>) -> GgufFile {
    let mut writer = GgufWriter::new();
    for (key, value) in metadata {
        writer.add_metadata(key, value).unwrap();
    }
    GgufFile::from_bytes(&writer.to_bytes()).unwrap()
}

/// The tokenizer of a metadata-only GGUF.
pub fn build(metadata: Vec<(String, Value)>) -> Result<Tokenizer, RuntimeError> {
    Tokenizer::from_gguf(&file_of(metadata))
}

/// `md` without `key` (which must be there).
pub fn without(mut md: Vec<(String, Value)>, key: &str) -> Vec<(String, Value)> {
    let before = md.len();
    md.retain(|(k, _)| k != key);
    assert_eq!(md.len(), before - 1, "{key} is in the base metadata");
    md
}

/// Sets (or adds) `key`.
pub fn set(md: &mut Vec<(String, Value)>, key: &str, value: Value) {
    match md.iter_mut().find(|(k, _)| k == key) {
        Some(entry) => entry.1 = value,
        None => md.push((key.to_owned(), value)),
    }
}

/// `md` with `key` set to `value`.
pub fn with(mut md: Vec<(String, Value)>, key: &str, value: Value) -> Vec<(String, Value)> {
    set(&mut md, key, value);
    md
}

/// The token list in `md`.
pub fn tokens_mut(md: &mut [(String, Value)]) -> &mut Vec<String> {
    match md.iter_mut().find(|(k, _)| k == "tokenizer.ggml.tokens") {
        Some((_, Value::Array(Array::String(tokens)))) => tokens,
        _ => unreachable!(),
    }
}

/// The `tokenizer.ggml.merges` list of byte-level BPE metadata.
pub fn merges_mut(md: &mut [(String, Value)]) -> &mut Vec<String> {
    match md.iter_mut().find(|(k, _)| k == "tokenizer.ggml.merges") {
        Some((_, Value::Array(Array::String(merges)))) => merges,
        _ => unreachable!(),
    }
}

#[track_caller]
pub fn assert_missing_key(result: Result<Tokenizer, RuntimeError>, key: &str) {
    match result {
        Err(RuntimeError::Gguf(GgufError::MissingKey { key: k })) => assert_eq!(k, key),
        other => panic!("expected a missing-key error for {key}, got {other:?}"),
    }
}

#[track_caller]
pub fn assert_wrong_type(result: Result<Tokenizer, RuntimeError>, key: &str) {
    match result {
        Err(RuntimeError::Gguf(GgufError::WrongType { key: k, .. })) => assert_eq!(k, key),
        other => panic!("expected a wrong-type error for {key}, got {other:?}"),
    }
}

#[track_caller]
pub fn assert_metadata_error(result: Result<Tokenizer, RuntimeError>, key: &str, needle: &str) {
    match result {
        Err(err @ RuntimeError::Metadata { .. }) => {
            let RuntimeError::Metadata { key: k, reason } = &err else {
                unreachable!()
            };
            assert_eq!(k, key, "{err}");
            assert!(reason.contains(needle), "{err}");
            assert!(err.to_string().contains(key), "{err}");
        }
        other => panic!("expected a metadata error for {key}, got {other:?}"),
    }
}

/// CPU time this thread has run, in nanoseconds (Linux; `None` elsewhere). Unlike wall time,
/// it does not count time spent waiting for a core on a loaded machine.
pub fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}
