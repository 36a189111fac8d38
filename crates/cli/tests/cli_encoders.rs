//! `ggufembed embed` and `ggufembed tokenize` on the tiny nomic-bert and ModernBERT models of
//! `../shared` (skipped, with a SKIPPED line, when it is absent): every dev text at `--max-len
//! 256`, ids identical to Hugging Face's, cosine with the reference ≥ 0.99999 (f32) and ≥ 0.998
//! (q8_0) on every text, and the same output bytes with 1 thread or 3 splitting matmuls.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn shared(rel: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("SKIPPED: ../shared/{rel} not found");
        None
    }
}

/// Runs the CLI with `args`, `stdin` in; its stdout (panics unless it succeeds).
fn run(args: &[&str], stdin: &[u8]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ggufembed"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let n = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (n(a) * n(b))
}

fn check(name: &str, quant: &str, bar: f64) {
    let (Some(reference), Some(model)) = (
        shared(&format!("fixtures/tiny-{name}-dev-reference.jsonl")),
        shared(&format!("models/tiny-{name}.{quant}.gguf")),
    ) else {
        return;
    };
    let cases: Vec<serde_json::Value> = std::fs::read_to_string(reference)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let input: String = cases
        .iter()
        .map(|c| format!("{}\n", serde_json::json!({ "text": c["text"] })))
        .collect();
    let m = model.to_str().unwrap();
    let embed = run(&["embed", "-m", m, "--max-len", "256"], input.as_bytes());
    let tokens = run(&["tokenize", "-m", m], input.as_bytes());
    let (mut worst, mut sum) = ((1.0f64, 0usize), 0.0);
    let lines: Vec<serde_json::Value> = embed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), cases.len());
    for (i, ((c, e), t)) in cases.iter().zip(&lines).zip(tokens.lines()).enumerate() {
        let t: serde_json::Value = serde_json::from_str(t).unwrap();
        assert_eq!(t["ids"], c["ids"], "{name} {quant}: ids of text {i}");
        assert_eq!(e["index"], i);
        let cos = cosine(&floats(&e["embedding"]), &floats(&c["embedding_256"]));
        sum += cos;
        if cos < worst.0 {
            worst = (cos, i);
        }
    }
    println!(
        "{name} {quant}: worst cosine {:.9} on text {}, mean {:.9}",
        worst.0,
        worst.1,
        sum / cases.len() as f64
    );
    assert!(worst.0 >= bar, "{name} {quant}: {worst:?} < {bar}");
    let other = run(
        &[
            "embed",
            "-m",
            m,
            "--max-len",
            "256",
            "--threads",
            "3",
            "--parallelism",
            "matmul",
        ],
        input.as_bytes(),
    );
    let one = run(
        &["embed", "-m", m, "--max-len", "256", "--threads", "1"],
        input.as_bytes(),
    );
    assert!(
        embed == other && embed == one,
        "{name} {quant}: threads change the output"
    );
}

#[test]
fn nomic_bert_f32() {
    check("nomic-bert", "f32", 0.99999);
}

#[test]
fn nomic_bert_q8_0() {
    check("nomic-bert", "q8_0", 0.998);
}

#[test]
fn modernbert_f32() {
    check("modernbert", "f32", 0.99999);
}

#[test]
fn modernbert_q8_0() {
    check("modernbert", "q8_0", 0.998);
}
