//! `ggufembed inspect` as a user runs it: output, exit codes and error lines.

use std::path::PathBuf;
use std::process::{Command, Output};

use gguf_loader::{Array, GgmlType, GgufWriter};

fn ggufembed(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ggufembed"))
        .args(args)
        .output()
        .unwrap()
}

fn small_model(dir: &std::path::Path) -> PathBuf {
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", "bert").unwrap();
    let tokens: Vec<String> = (0..100).map(|i| format!("tok{i}")).collect();
    w.add_metadata("tokenizer.ggml.tokens", Array::String(tokens))
        .unwrap();
    w.add_metadata("bert.attention.layer_norm_epsilon", f32::NAN)
        .unwrap();
    w.add_tensor(
        "token_embd.weight",
        GgmlType::Q8_0,
        &[32, 3],
        vec![0u8; 3 * 34],
    )
    .unwrap();
    w.add_tensor("norm.bias", GgmlType::F32, &[5], vec![0u8; 20])
        .unwrap();
    let path = dir.join("small.gguf");
    w.write_file(&path).unwrap();
    path
}

#[test]
fn inspect_prints_metadata_and_every_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_model(dir.path());
    let out = ggufembed(&["inspect", path.to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("GGUF v3"), "{text}");
    assert!(
        text.contains("general.architecture: string = \"bert\""),
        "{text}"
    );
    // Long arrays are abbreviated to their head and count.
    assert!(text.contains("\"tok7\", … (100 items)]"), "{text}");
    assert!(!text.contains("tok8"), "{text}");
    assert!(text.contains("tensors (2):"), "{text}");
    assert!(
        text.contains("token_embd.weight") && text.contains("Q8_0") && text.contains("[32, 3]")
    );
}

#[test]
fn inspect_json_is_valid_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_model(dir.path());
    let out = ggufembed(&["inspect", "--json", path.to_str().unwrap()]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], 3);
    assert_eq!(v["tensors"].as_array().unwrap().len(), 2);
    assert_eq!(v["tensors"][0]["bytes"], 102);
    assert_eq!(v["tensors"][0]["shape"], serde_json::json!([32, 3]));
    let tokens = &v["metadata"]["tokenizer.ggml.tokens"]["value"];
    assert_eq!(tokens["len"], 100);
    assert_eq!(tokens["items"].as_array().unwrap().len(), 8);
    // NaN has no JSON form.
    assert!(v["metadata"]["bert.attention.layer_norm_epsilon"]["value"].is_null());
}

#[test]
fn errors_are_one_line_with_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.gguf");
    std::fs::write(
        &bad,
        b"GGUF\x03\0\0\0\xff\xff\xff\xff\xff\xff\xff\xff\0\0\0\0\0\0\0\0",
    )
    .unwrap();
    for path in [bad.to_str().unwrap(), "/definitely/not/here.gguf"] {
        let out = ggufembed(&["inspect", path]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.starts_with("error: "), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(out.stdout.is_empty());
    }
    let out = ggufembed(&["inspect", bad.to_str().unwrap()]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("header n_tensors") && err.contains("offset 8"),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["inspect"][..],
        &["frobnicate"],
        &["inspect", "--bogus", "x"],
        &[],
    ] {
        let out = ggufembed(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.starts_with("error:"), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert_eq!(ggufembed(&["--help"]).status.code(), Some(0));
}

#[test]
fn inspect_lists_all_101_tensors_of_the_shared_models() {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models");
    for t in ["f32", "f16", "q8_0"] {
        let path = shared.join(format!("all-MiniLM-L6-v2.{t}.gguf"));
        if !path.exists() {
            eprintln!("SKIPPED: {} not found", path.display());
            return;
        }
        let out = ggufembed(&["inspect", "--json", path.to_str().unwrap()]);
        assert!(out.status.success());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["tensors"].as_array().unwrap().len(), 101, "{t}");
        assert_eq!(v["metadata"]["general.architecture"]["value"], "bert");
    }
}
