//! `ggufembed-profile` as a user runs it, on a tiny generated model: the JSON report is
//! complete and sane, the breakdown's shares add up to 100 %, and bad arguments are one-line
//! usage errors.

use ggufembed_testkit as common;

use std::process::{Command, Output};

use gguf_loader::GgmlType;
use serde_json::Value;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ggufembed-profile"))
        .args(args)
        .output()
        .unwrap()
}

fn model(dir: &tempfile::TempDir) -> String {
    let path = common::TinyBert {
        n_ctx: 64,
        matrix_type: GgmlType::Q8_0,
        ..common::TinyBert::default()
    }
    .write(dir.path(), "m.gguf");
    path.to_str().unwrap().to_string()
}

fn json_report(args: &[&str]) -> Value {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn num(v: &Value, path: &str) -> f64 {
    let mut x = v;
    for key in path.split('.') {
        x = &x[key];
    }
    x.as_f64()
        .unwrap_or_else(|| panic!("{path} is not a number: {x}"))
}

/// Checks every field of a report with the timers on.
fn check_report(r: &Value, threads: u64, texts: u64) {
    assert!(num(r, "model.load_ms") > 0.0);
    assert_eq!(r["model"]["architecture"], "bert");
    assert_eq!(r["model"]["dim"], 64);
    assert_eq!(r["model"]["matrix_type"], "Q8_0");
    assert_eq!(r["config"]["threads"], threads);
    assert_eq!(r["config"]["timers"], true);
    assert_eq!(r["workload"]["texts"], texts);
    assert!(num(r, "workload.tokens") >= texts as f64 * 2.0);

    let calls = num(r, "throughput.calls");
    assert!(calls >= 1.0);
    assert!(num(r, "throughput.wall_s") > 0.0);
    assert!(num(r, "throughput.texts_per_s") > 0.0);
    assert!(num(r, "throughput.tokens_per_s") > num(r, "throughput.texts_per_s"));
    // CPU time and peak RSS come from /proc: null elsewhere.
    if cfg!(target_os = "linux") {
        // Up to `threads` workers plus the main thread (tokenizing).
        let util = num(r, "throughput.cpu_utilisation");
        let most = (threads + 1) as f64 / threads as f64;
        assert!(util > 0.0 && util <= most, "utilisation {util}");
        assert!(num(r, "memory.peak_rss_bytes") > 1e6);
    }

    let l = |k: &str| num(r, &format!("latency_ms.{k}"));
    assert!(l("p50") > 0.0);
    assert!(l("p50") <= l("p90") && l("p90") <= l("p99") && l("p99") <= l("max"));

    assert!(num(r, "allocations.per_call_mean") >= 1.0);
    assert!(num(r, "allocations.embed_per_call") >= 1.0);
    assert!(num(r, "allocations.bytes_per_call") > 0.0);
    assert_eq!(r["peak"]["kernel"], "q8_0");
    assert!(num(r, "peak.gops") > 0.0);
    assert!(r["flamegraph"].is_null());

    let b = &r["breakdown"];
    assert_eq!(b["threads"], threads);
    let capacity = num(b, "capacity_ms");
    let wall_ms = num(r, "throughput.wall_s") * 1e3;
    assert!((capacity - wall_ms * threads as f64).abs() < 1e-6 * capacity.max(1.0));
    let ops = b["ops"].as_array().unwrap();
    let mut timed = 0.0;
    let mut names = Vec::new();
    for op in ops {
        let name = op["op"].as_str().unwrap();
        names.push(name);
        let share = num(op, "share");
        assert!((0.0..=1.0).contains(&share), "{name}: share {share}");
        assert!(num(op, "thread_ms") >= 0.0);
        timed += share;
        if op["matmul"] == true {
            assert!(num(op, "gops") > 0.0, "{name}: {op}");
            assert!(num(op, "peak_pct") > 0.0, "{name}: {op}");
            assert!(
                num(op, "calls_per_call") >= 2.0,
                "{name}: one per layer at least"
            );
        }
    }
    for want in [
        "tokenize",
        "embed_lookup",
        "norm",
        "quantize",
        "qkv",
        "attention",
        "attn_out",
        "ffn_up",
        "activation",
        "ffn_down",
        "pooling",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    // The timed operations fit in the time available, and with "unaccounted" they make 100 %.
    assert!(timed > 0.0 && timed <= 1.01, "timed share {timed}");
    let rest = num(b, "unaccounted.share");
    assert!(rest >= 0.0);
    let total = timed + rest;
    assert!((total - 1.0).abs() < 0.01, "shares sum to {total}");
    assert!((num(b, "total_share") - 1.0).abs() < 0.01);
}

#[test]
fn synthetic_json_report_is_complete_and_sums_to_100_percent() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(&dir);
    let r = json_report(&[
        "-m",
        &m,
        "--lengths",
        "8,24,40",
        "--count",
        "6",
        "--batch-size",
        "4",
        "--threads",
        "2",
        "--iterations",
        "2",
        "--warmup",
        "1",
        "--json",
    ]);
    check_report(&r, 2, 18);
    assert_eq!(r["workload"]["source"], "synthetic");
    let lengths = r["workload"]["lengths"].as_array().unwrap();
    assert_eq!(lengths.len(), 3);
    for (g, want) in lengths.iter().zip([8.0, 24.0, 40.0]) {
        assert_eq!(num(g, "requested"), want);
        assert_eq!(num(g, "texts"), 6.0);
        // The tiny vocabulary's words are one token each: the lengths are met exactly.
        assert_eq!(num(g, "min_tokens"), want, "{g}");
        assert_eq!(num(g, "max_tokens"), want, "{g}");
    }
    // 18 texts in batches of 4 = 5 calls per pass, 2 passes.
    assert_eq!(r["throughput"]["calls"], 10);
}

#[test]
fn within_matmul_and_file_input() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(&dir);
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        "{\"text\":\"the cat sat on the mat\"}\n{\"text\":\"hello world\",\"id\":1}\n\
         {\"text\":\"a dog ran fast and the cat is slow\"}\n{\"text\":\"never read\"}\n",
    )
    .unwrap();
    let r = json_report(&[
        "-m",
        &m,
        "-i",
        input.to_str().unwrap(),
        "--limit",
        "3",
        "--batch-size",
        "1",
        "--threads",
        "2",
        "--parallelism",
        "matmul",
        "--iterations",
        "3",
        "--warmup",
        "0",
        "--json",
    ]);
    check_report(&r, 2, 3);
    assert_eq!(r["workload"]["source"], "file");
    assert_eq!(r["config"]["parallelism"], "matmul");
    assert_eq!(r["throughput"]["calls"], 9);
}

#[test]
fn text_report_and_timers_off() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(&dir);
    let lines = dir.path().join("in.txt");
    std::fs::write(&lines, "the cat\n{not json} but a line\n\nhello\n").unwrap();
    let base = [
        "-m",
        &m,
        "-i",
        lines.to_str().unwrap(),
        "--text-lines",
        "--threads",
        "1",
        "--iterations",
        "1",
    ];
    let out = run(&base);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "throughput",
        "latency",
        "operation",
        "qkv",
        "ffn_down",
        "other",
        "total",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    assert!(text.contains("4 texts"), "{text}");

    let mut args = base.to_vec();
    args.extend(["--no-timers", "--json"]);
    let r = json_report(&args);
    assert_eq!(r["config"]["timers"], false);
    assert!(r["breakdown"].is_null());
    assert!(num(&r, "throughput.texts_per_s") > 0.0);
}

fn assert_one_error_line(out: &Output, code: i32, needle: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error:"), "{err}");
    assert!(err.contains(needle), "{needle} not in {err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_arguments_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(&dir);
    for (args, needle) in [
        (vec!["-m", &m, "--batch-size", "0"], "--batch-size"),
        (vec!["-m", &m, "--parallelism", "sideways"], "sideways"),
        (vec!["-m", &m, "--isa", "mmx"], "mmx"),
        (vec!["-m", &m, "--lengths", "8,x"], "--lengths"),
        (vec!["-m", &m, "--bogus"], "--bogus"),
        (vec!["--lengths", "8"], "--model"),
        (
            vec!["-m", &m, "-i", "x.jsonl", "--lengths", "8"],
            "--lengths",
        ),
    ] {
        assert_one_error_line(&run(&args), 2, needle);
    }
}

#[test]
fn bad_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(&dir);
    let missing = dir.path().join("missing.gguf");
    assert_one_error_line(&run(&["-m", missing.to_str().unwrap()]), 1, "missing.gguf");
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"text\":\"ok\"}\n{\"txt\":1}\n").unwrap();
    assert_one_error_line(&run(&["-m", &m, "-i", bad.to_str().unwrap()]), 1, "line 2");
    assert_one_error_line(&run(&["-m", &m, "--max-len", "1000"]), 1, "max_len");
    #[cfg(not(feature = "flamegraph"))]
    assert_one_error_line(
        &run(&["-m", &m, "--flamegraph", "out.svg"]),
        1,
        "--features flamegraph",
    );
}

#[cfg(feature = "flamegraph")]
#[test]
fn flamegraph_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(&dir);
    let svg = dir.path().join("out.svg");
    let r = json_report(&[
        "-m",
        &m,
        "--lengths",
        "40",
        "--count",
        "16",
        "--iterations",
        "100",
        "--warmup",
        "0",
        "--json",
        "--flamegraph",
        svg.to_str().unwrap(),
    ]);
    assert!(num(&r, "flamegraph.samples") > 0.0);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("<svg"), "{}", &text[..text.len().min(200)]);
    assert!(text.contains("BertWeights::forward"));
}
