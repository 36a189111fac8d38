//! `ggufembed embed` and `ggufembed tokenize` as a user runs them, on a tiny generated model.

use ggufembed_testkit as common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ggufembed"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A run that fails before reading its input (a bad option) closes the pipe first: that
    // broken pipe is the child's business, its exit status is what the tests check.
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin) {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe,
            "writing stdin: {e}"
        );
    }
    child.wait_with_output().unwrap()
}

fn model() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = common::TinyBert::default().write(dir.path(), "m.gguf");
    let p = path.to_str().unwrap().to_string();
    (dir, p)
}

#[test]
fn jsonl_in_jsonl_out_in_order_with_fields_carried() {
    let (_dir, m) = model();
    let input = b"{\"text\":\"hello world\",\"id\":\"a\"}\n{\"text\":\"\",\"meta\":{\"k\":[1]}}\n{\"text\":\"the cat sat\"}\n";
    let out = run(&["embed", "-m", &m], input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["index"], i);
        assert_eq!(l["embedding"].as_array().unwrap().len(), 64);
        assert_eq!(l["truncated"], false);
    }
    assert_eq!(lines[0]["id"], "a");
    assert_eq!(lines[0]["tokens"], 4);
    assert_eq!(lines[1]["tokens"], 2);
    assert_eq!(lines[1]["meta"]["k"][0], 1);
    // The same texts through the library give the same vectors.
    let model = ggufembed::open(&m).unwrap();
    let e = model.embed(&["hello world"]).unwrap();
    let cli: Vec<f32> = lines[0]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(cli, e.row(0));
}

#[test]
fn text_lines_and_npy() {
    let (_dir, m) = model();
    let out = run(
        &[
            "embed",
            "-m",
            &m,
            "--text-lines",
            "--format",
            "npy",
            "--latency-ms",
            "1",
            "--token-budget",
            "3",
        ],
        b"a\n\nthe cat\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let npy = out.stdout;
    assert_eq!(&npy[..8], b"\x93NUMPY\x01\x00");
    let header_len = u16::from_le_bytes([npy[8], npy[9]]) as usize;
    let header = std::str::from_utf8(&npy[10..10 + header_len]).unwrap();
    assert!(header.contains("'shape': (3, 64)"), "{header}");
    assert_eq!((10 + header_len) % 64, 0);
    assert_eq!(npy.len(), 10 + header_len + 3 * 64 * 4);
}

#[test]
fn max_len_truncates_and_flags() {
    let (_dir, m) = model();
    let long = format!("{{\"text\":\"{}\"}}\n", "cat ".repeat(50));
    let out = run(&["embed", "-m", &m, "--max-len", "8"], long.as_bytes());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["tokens"].as_u64(), v["truncated"].as_bool()),
        (Some(8), Some(true))
    );
}

#[test]
fn malformed_lines_are_errors_naming_the_line() {
    let (_dir, m) = model();
    for (input, needle) in [
        (
            &b"{\"text\":\"ok\"}\nnot json\n"[..],
            "input line 2 is not valid JSON",
        ),
        (
            b"{\"text\":1}\n",
            "input line 1: \"text\" must be a string, found a number",
        ),
        (b"{\"txt\":\"x\"}\n", "input line 1 has no \"text\" field"),
        (b"[1,2]\n", "input line 1 is not a JSON object"),
        (
            b"{\"text\":\"a\"}\n\n{\"text\":\"b\"}\n",
            "input line 2 is empty",
        ),
        (b"{\"text\":\"\xff\"}\n", "input line 1 is not valid UTF-8"),
    ] {
        let out = run(&["embed", "-m", &m], input);
        assert_eq!(out.status.code(), Some(1), "{needle}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.starts_with("error: ") && err.contains(needle),
            "{err:?} vs {needle:?}"
        );
        assert_eq!(err.lines().count(), 1);
    }
}

/// A line over `MAX_LINE_BYTES` (16 MiB) is an error naming it, in both input modes, read no
/// further than the cap (the reader once buffered a line whole, however long).
#[test]
fn a_line_over_the_cap_is_an_error_naming_it() {
    let (_dir, m) = model();
    let max = ggufembed_cli::input::MAX_LINE_BYTES;
    for (text_lines, first) in [(true, &b"ok\n"[..]), (false, &b"{\"text\":\"ok\"}\n"[..])] {
        let mut input = first.to_vec();
        input.resize(first.len() + max + 1, b'x');
        input.push(b'\n');
        let args: &[&str] = if text_lines {
            &["embed", "-m", &m, "--text-lines"]
        } else {
            &["embed", "-m", &m]
        };
        let out = run(args, &input);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(
            err.trim_end(),
            format!("error: input line 2 is longer than {max} bytes, the limit per line")
        );
    }
}

#[test]
fn tokenize_prints_ids_with_specials_untruncated() {
    let (_dir, m) = model();
    let out = run(&["tokenize", "-m", &m, "--text-lines"], b"Hello World\n\n");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "{\"index\":0,\"ids\":[2,19,20,3]}",
            "{\"index\":1,\"ids\":[2,3]}"
        ]
    );
}

#[test]
fn bad_models_and_arguments() {
    let (dir, _m) = model();
    let bad = dir.path().join("bad.gguf");
    std::fs::write(&bad, b"GGUF").unwrap();
    let out = run(&["embed", "-m", bad.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .starts_with("error: truncated file")
    );
    for args in [
        &["embed"][..],
        &["embed", "-m", "x", "--token-budget", "0"],
        &["embed", "-m", "x", "--parallelism", "sideways"],
        &["embed", "-m", "x", "--format", "csv"],
        &["embed", "-m", "x", "--device", "tpu"],
    ] {
        assert_eq!(run(args, b"").status.code(), Some(2), "{args:?}");
    }
}

/// `--device cpu` runs; `--device gpu` in a build without the `gpu` feature is a clear error.
#[test]
fn device_flag() {
    let (_dir, m) = model();
    let out = run(
        &["embed", "-m", &m, "--text-lines", "--device", "cpu"],
        b"the cat\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if !cfg!(feature = "gpu") {
        let out = run(
            &["embed", "-m", &m, "--text-lines", "--device", "gpu"],
            b"the cat\n",
        );
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.contains("no GPU backend; rebuild with `--features gpu`"),
            "{err}"
        );
    }
}

#[test]
fn pooling_none_writes_per_token_vectors() {
    let (_dir, m) = model();
    let out = run(
        &["embed", "-m", &m, "--pooling", "none", "--text-lines"],
        b"hello world\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["embedding"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r.as_array().unwrap().len() == 64));
    let out = run(
        &["embed", "-m", &m, "--pooling", "none", "--format", "npy"],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("--format npy needs one vector per text")
    );
}

#[test]
fn embedding_gemma_through_the_cli_with_prompts() {
    let m = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../runtime/tests/data/tiny-embeddinggemma.q8_0.gguf"
    );
    let ok = |out: &Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout.clone()).unwrap()
    };
    let inspect = ok(&run(&["inspect", m], b""));
    assert!(inspect.contains("gemma-embedding"), "{inspect}");
    let ids = ok(&run(
        &["tokenize", "-m", m, "--text-lines"],
        b"hello world\n",
    ));
    assert!(ids.starts_with("{\"index\":0,\"ids\":[2,"), "{ids}");
    assert!(ids.trim_end().ends_with(",1]}"), "{ids}");
    let vec = |out: &str| -> Vec<f64> {
        let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        v["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let plain = ok(&run(&["embed", "-m", m, "--text-lines"], b"hello world\n"));
    let query = ok(&run(
        &["embed", "-m", m, "--text-lines", "--prompt-name", "query"],
        b"hello world\n",
    ));
    let manual = ok(&run(
        &["embed", "-m", m, "--text-lines"],
        b"task: search result | query: hello world\n",
    ));
    assert_eq!(vec(&plain).len(), 64);
    assert_ne!(vec(&plain), vec(&query));
    assert_eq!(vec(&query), vec(&manual));
    let bad = run(
        &["embed", "-m", m, "--text-lines", "--prompt-name", "nope"],
        b"x\n",
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown preset 'nope'"));
    let both = run(
        &["embed", "-m", m, "--prompt", "a", "--prompt-name", "query"],
        b"",
    );
    assert_eq!(both.status.code(), Some(2));
}

/// Qwen3-Embedding through the CLI: the 261 dev texts at `--max-len 256` against
/// sentence-transformers (token counts, cosine ≥ 0.99999 with the F32 file), its `query`
/// preset, and `--dimensions`.
#[test]
fn qwen3_embedding_through_the_cli_with_dimensions() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../runtime/tests/data/");
    let m = format!("{data}tiny-qwen3-embedding.f32.gguf");
    let reference = std::fs::read_to_string(format!(
        "{data}tiny-qwen3-embedding-dev-reference-256.jsonl"
    ))
    .unwrap();
    let cases: Vec<serde_json::Value> = reference
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let input: String = cases
        .iter()
        .map(|c| format!("{}\n", serde_json::json!({"text": c["text"]})))
        .collect();
    let embed = |extra: &[&str], stdin: &[u8]| -> Vec<serde_json::Value> {
        let mut args = vec!["embed", "-m", m.as_str(), "--max-len", "256"];
        args.extend_from_slice(extra);
        let out = run(&args, stdin);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let floats = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let rows = embed(&[], input.as_bytes());
    assert_eq!(rows.len(), cases.len());
    for (i, (row, case)) in rows.iter().zip(&cases).enumerate() {
        assert_eq!(
            row["tokens"],
            case["ids_256"].as_array().unwrap().len(),
            "text {i}"
        );
        let (a, b) = (floats(&row["embedding"]), floats(&case["embedding_256"]));
        let dot: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let cos = dot / (norm(&a) * norm(&b));
        assert!(cos >= 0.99999, "text {i}: cosine {cos}");
    }

    let query = embed(
        &["--prompt-name", "query"],
        b"{\"text\":\"what is rust\"}\n",
    );
    let manual = embed(
        &[],
        b"{\"text\":\"Instruct: Given a web search query, retrieve relevant passages that answer the query\\nQuery:what is rust\"}\n",
    );
    assert_eq!(query[0]["embedding"], manual[0]["embedding"]);

    let cut = embed(&["--dimensions", "16"], input.as_bytes());
    for (row, full) in cut.iter().zip(&rows) {
        let (c, f) = (floats(&row["embedding"]), floats(&full["embedding"]));
        assert_eq!(c.len(), 16);
        let n = f[..16].iter().map(|x| x * x).sum::<f64>().sqrt();
        for (x, y) in c.iter().zip(&f[..16]) {
            assert!((x - y / n).abs() < 1e-6, "{x} vs {}", y / n);
        }
    }
    for bad in ["0", "65"] {
        let out = run(&["embed", "-m", &m, "--dimensions", bad], b"");
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "invalid option dimensions: {bad} is outside 1..=64"
            )),
            "{err}"
        );
    }
}
