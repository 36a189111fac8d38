//! `ggufembed rerank` as a user runs it: JSONL pairs in input order with fields carried
//! through, the sorted `--query` view with `--top-n`, the sigmoid, and clear errors; scores
//! equal the library's (on a tiny generated cross-encoder) and sentence-transformers' (on the
//! shared dev pairs, when `../shared` is present).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use ggufembed_testkit::{Classifier, TinyBert};
use serde_json::Value;

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ggufembed"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin) {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe,
            "writing stdin: {e}"
        );
    }
    child.wait_with_output().unwrap()
}

fn lines(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn reranker() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = TinyBert {
        classifier: Some(Classifier {
            pooler: true,
            n_labels: 1,
        }),
        ..TinyBert::default()
    }
    .write(dir.path(), "r.gguf");
    let p = path.to_str().unwrap().to_string();
    (dir, p)
}

const DOCS: [&str; 4] = [
    "the cat sat on the mat.",
    "a dog ran fast",
    "",
    "hello world!",
];

#[test]
fn pairs_in_input_order_with_fields_carried_and_library_scores() {
    let (_dir, m) = reranker();
    let input: String = DOCS
        .iter()
        .enumerate()
        .map(|(i, d)| format!("{{\"query\":\"the cat\",\"document\":{d:?},\"id\":{i}}}\n"))
        .collect();
    let out = lines(&run(
        &["rerank", "-m", &m, "--threads", "2"],
        input.as_bytes(),
    ));
    let lib = ggufembed::open(&m).unwrap();
    let want = lib
        .score_pairs(&DOCS.iter().map(|d| ("the cat", *d)).collect::<Vec<_>>())
        .unwrap();
    assert_eq!(out.len(), DOCS.len());
    for (i, (o, w)) in out.iter().zip(&want).enumerate() {
        assert_eq!(o["index"], i);
        assert_eq!(o["id"], i, "fields carried through");
        assert_eq!(o["truncated"], false);
        assert_eq!(o["score"].as_f64().unwrap() as f32, w.score, "pair {i}");
    }
    // The sigmoid of the same scores.
    let sig = lines(&run(&["rerank", "-m", &m, "--sigmoid"], input.as_bytes()));
    for (s, w) in sig.iter().zip(&want) {
        assert_eq!(
            s["score"].as_f64().unwrap() as f32,
            ggufembed::sigmoid(w.score)
        );
    }
}

#[test]
fn query_view_is_sorted_and_cut_to_top_n() {
    let (_dir, m) = reranker();
    let input = DOCS.join("\n") + "\n";
    let all = lines(&run(
        &["rerank", "-m", &m, "--query", "the cat"],
        input.as_bytes(),
    ));
    assert_eq!(all.len(), DOCS.len());
    let scores: Vec<f64> = all.iter().map(|o| o["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    let mut idx: Vec<u64> = all.iter().map(|o| o["index"].as_u64().unwrap()).collect();
    let top = lines(&run(
        &["rerank", "-m", &m, "-q", "the cat", "--top-n", "2"],
        input.as_bytes(),
    ));
    assert_eq!(top, all[..2].to_vec());
    idx.sort_unstable();
    assert_eq!(idx, [0, 1, 2, 3]);
}

#[test]
fn bad_input_and_wrong_models_are_one_line_errors() {
    let (dir, m) = reranker();
    let embedder = TinyBert::default().write(dir.path(), "e.gguf");
    let e = embedder.to_str().unwrap();
    for (args, stdin, needle) in [
        (vec!["rerank", "-m", e], "", "not a reranker"),
        (
            vec!["rerank", "-m", &m],
            "{\"query\":\"a\"}\n",
            "no \"document\" field",
        ),
        (
            vec!["rerank", "-m", &m],
            "{\"query\":1,\"document\":\"b\"}\n",
            "must be a string",
        ),
        (
            vec!["rerank", "-m", &m],
            "not json\n",
            "line 1 is not valid JSON",
        ),
        (vec!["rerank", "-m", &m], "\n", "line 1 is empty"),
        (
            vec!["embed", "-m", &m, "--text-lines"],
            "hi\n",
            "is a reranker",
        ),
    ] {
        let out = run(&args, stdin.as_bytes());
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("error:") && err.contains(needle),
            "{args:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // --top-n without --query is a usage error.
    let out = run(&["rerank", "-m", &m, "--top-n", "2"], b"");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn shared_dev_pairs_match_sentence_transformers() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    let (model, pairs) = (
        root.join("models/tiny-reranker.f32.gguf"),
        root.join("fixtures/tiny-reranker-dev-pairs.jsonl"),
    );
    if !model.exists() || !pairs.exists() {
        eprintln!("SKIPPED: ../shared not present");
        return;
    }
    let out = lines(&run(
        &[
            "rerank",
            "-m",
            model.to_str().unwrap(),
            "-i",
            pairs.to_str().unwrap(),
        ],
        b"",
    ));
    let reference: Vec<Value> = std::fs::read_to_string(&pairs)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(out.len(), reference.len());
    let mut worst = 0.0f64;
    for (o, r) in out.iter().zip(&reference) {
        let want = r["score"].as_f64().unwrap();
        let d = (o["score"].as_f64().unwrap() - want).abs() / want.abs().max(1.0);
        worst = worst.max(d);
        assert_eq!(o["truncated"], r["truncated"]);
        assert_eq!(o["group"], r["group"], "input fields carried through");
    }
    eprintln!("ggufembed rerank f32: max relative error {worst:.2e}");
    assert!(worst <= 1e-3);
}
