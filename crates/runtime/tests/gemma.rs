//! EmbeddingGemma graph tests on the tiny model (`tests/data/tiny-embeddinggemma.{f32,q8_0}.gguf`,
//! copies of `../shared/models`): parity with sentence-transformers on every dev text at max
//! length 256, batch invariance, and refusal of hostile files.
//!
//! The reference (`tests/data/tiny-embeddinggemma-dev-reference-256.jsonl`) is the shared
//! fixture trimmed to what these tests use: the text, its untruncated id count, Hugging Face's
//! ids truncated to 256 (`<eos>` kept last) and the sentence-transformers float32 embedding at
//! max_seq_length 256 (rounded to 9 significant digits, exact for float32).

use std::ops::Range;
use std::path::{Path, PathBuf};

mod common;

use common::{arch, synth};

use ggufembed_runtime::exec::Exec;
use ggufembed_runtime::gemma::{GemmaModel, GemmaScratch, GemmaWeights};
use ggufembed_runtime::gguf_loader::{GgmlType, GgufFile, GgufWriter, Value};
use ggufembed_runtime::kernels::kernels;
use ggufembed_runtime::registry::load_model;
use ggufembed_runtime::{Batch, Pooling, Tokenizer};

const ARCH: &str = "gemma-embedding";
const MAX_LEN: usize = 256;

#[derive(serde::Deserialize)]
struct Case {
    text: String,
    n_ids: usize,
    ids_256: Vec<u32>,
    embedding_256: Vec<f32>,
}

fn cases() -> Vec<Case> {
    let path = common::data("tiny-embeddinggemma-dev-reference-256.jsonl");
    let text = std::fs::read_to_string(path).expect("read the reference");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("parse a reference line"))
        .collect()
}

fn model_path(quant: &str) -> PathBuf {
    common::data(&format!("tiny-embeddinggemma.{quant}.gguf"))
}

fn open(path: &Path) -> (GgufFile, GemmaModel) {
    let file = GgufFile::open(path).expect("open the GGUF");
    let model = load_model::<GemmaModel>(&file, ARCH).expect("load the model");
    (file, model)
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// Runs `texts` (already tokenized) as one packed batch.
fn embed(
    w: &GemmaWeights<'_>,
    exec: &Exec<'_>,
    texts: &[&[u32]],
    pooling: Pooling,
    s: &mut GemmaScratch,
) -> Vec<f32> {
    arch::embed::<GemmaModel>(w, exec, texts, pooling, s)
}

/// Every dev text, tokenized at max length 256 (ids checked against Hugging Face's), embedded
/// in packed batches of up to 2,048 tokens, L2-normalized, compared with sentence-transformers.
fn check_parity(quant: &str, bar: f64) {
    let (file, model) = open(&model_path(quant));
    let tokenizer = Tokenizer::from_gguf(&file).expect("tokenizer");
    let weights = model.bind(&file).expect("bind");
    let k = kernels();
    let exec = Exec::serial(k);
    let cases = cases();
    assert_eq!(cases.len(), 261, "reference line count");
    let mut ids = Vec::new();
    let tokenized: Vec<Vec<u32>> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let truncated = tokenizer
                .encode_truncated_into(&c.text, MAX_LEN, &mut ids)
                .expect("encode");
            assert_eq!(ids, c.ids_256, "text {i} ids differ from Hugging Face's");
            assert_eq!(truncated, c.n_ids > MAX_LEN, "text {i} truncation flag");
            ids.clone()
        })
        .collect();

    let mut s = GemmaScratch::default();
    let mut results: Vec<(f64, usize)> = Vec::new();
    let mut start = 0;
    while start < cases.len() {
        let mut end = start + 1;
        let mut tokens = tokenized[start].len();
        while end < cases.len() && tokens + tokenized[end].len() <= 2048 {
            tokens += tokenized[end].len();
            end += 1;
        }
        let batch: Vec<&[u32]> = tokenized[start..end].iter().map(Vec::as_slice).collect();
        let out = embed(&weights, &exec, &batch, Pooling::Mean, &mut s);
        for (j, row) in out.chunks_exact(model.dim()).enumerate() {
            let mut row = row.to_vec();
            k.l2_normalize(&mut row);
            assert!(
                row.iter().all(|v| v.is_finite()),
                "text {} not finite",
                start + j
            );
            results.push((cosine(&row, &cases[start + j].embedding_256), start + j));
        }
        start = end;
    }
    results.sort_by(|a, b| a.0.total_cmp(&b.0));
    for &(c, i) in results.iter().take(3) {
        eprintln!(
            "  {quant}: cosine {c:.9} text {i} ({} tokens) {:?}",
            tokenized[i].len(),
            cases[i].text.chars().take(40).collect::<String>()
        );
    }
    let (worst, i) = results[0];
    eprintln!(
        "{quant}: worst cosine {worst:.9} (1 - cos = {:.2e}) over {} texts",
        1.0 - worst,
        results.len()
    );
    assert!(worst >= bar, "{quant}: cosine {worst} < {bar} on text {i}");
}

#[test]
fn f32_matches_sentence_transformers() {
    check_parity("f32", 0.99999);
}

#[test]
fn q8_0_matches_sentence_transformers() {
    check_parity("q8_0", 0.998);
}

#[test]
fn model_reports_its_shape() {
    let (_, model) = open(&model_path("f32"));
    let c = &model.config;
    assert_eq!((c.n_embd, c.n_layer, c.n_head, c.n_head_kv), (64, 6, 2, 1));
    assert_eq!((c.head_dim, c.n_ff, c.sliding_window), (32, 96, 8));
    assert_eq!(
        (model.dim(), model.n_ctx(), model.n_vocab),
        (64, 2048, 1001)
    );
    assert_eq!(model.pooling(), Pooling::Mean);
    let global: Vec<usize> = (0..c.n_layer).filter(|&l| c.is_global(l)).collect();
    assert_eq!(global, [5]);
}

/// A text's vector (and, without pooling, its token vectors) is bit-identical alone and packed
/// between neighbours, with a fresh or a reused scratch, and with matmuls split across workers.
#[test]
fn batching_does_not_change_results() {
    for quant in ["f32", "q8_0"] {
        let (file, _) = open(&model_path(quant));
        let tokenizer = Tokenizer::from_gguf(&file).unwrap();
        let enc = |t: &str| tokenizer.encode(t).unwrap();
        let target = enc("The quick brown fox jumps over the lazy dog, twice and again.");
        let before = enc("A short one.");
        let after = enc(&"Padding text that is a good deal longer than the window. ".repeat(6));
        arch::assert_batch_invariant::<GemmaModel>(&file, ARCH, quant, [&before, &target, &after]);
    }
}

#[test]
fn bad_batches_are_refused() {
    let (file, model) = open(&model_path("f32"));
    let w = model.bind(&file).unwrap();
    let exec = Exec::serial(kernels());
    let mut s = GemmaScratch::default();
    let mut out = vec![0.0; 64];
    // Refused by the one check (`Batch::check`), before the graph: `forward` takes only a
    // checked batch.
    let limits = w.limits();
    let mut run = |ids: &[u32], seqs: &[Range<usize>], out: &mut [f32]| {
        let batch = Batch::new(ids, seqs).check(&limits)?;
        w.forward(&exec, &batch, Pooling::Mean, out, &mut s)
    };
    let long = vec![5u32; 2049];
    for (ids, seq, what) in [
        (&[2u32, 1001, 1][..], 0..3, "outside the vocabulary"),
        (&[2, 1][..], 0..3, "outside the 2 ids"),
        (&[2, 1][..], 0..0, "sequence 0 has 0 tokens"),
        (
            &long[..],
            0..2049,
            "sequence 0 has 2049 tokens, expected 1..=2048",
        ),
    ] {
        let err = run(ids, std::slice::from_ref(&seq), &mut out).unwrap_err();
        assert!(err.to_string().contains(what), "{err}");
    }
    let mut two = vec![0.0; 128];
    let err = run(&[2, 5, 1], &[0..2, 1..3], &mut two).unwrap_err();
    assert!(
        err.to_string()
            .contains("sequence 1 starts at token 1, expected 2"),
        "{err}"
    );
    let err = run(&[2, 1], std::slice::from_ref(&(0..2)), &mut two).unwrap_err();
    assert!(err.to_string().contains("expected 1 rows × 64"), "{err}");
    // A batch checked for a larger vocabulary does not fit this graph.
    arch::assert_refuses_looser_vocab(limits, |batch| {
        w.forward(&exec, batch, Pooling::Mean, &mut out, &mut s)
    });
}

// ---- hostile files ----

/// The tiny F32 model rewritten: metadata edited by `meta`, tensors dropped or reshaped by
/// `tensor` (`None` drops; the data is kept, so a reshape must keep the element count).
fn rewrite(
    meta: impl Fn(&mut Vec<(String, Value)>),
    tensor: impl Fn(&str, Vec<u64>) -> Option<Vec<u64>>,
) -> GgufFile {
    synth::rewrite(&GgufFile::open(model_path("f32")).unwrap(), meta, tensor)
}

fn with_meta(key: &str, value: Option<Value>) -> GgufFile {
    arch::with_meta(
        &GgufFile::open(model_path("f32")).unwrap(),
        ARCH,
        key,
        value,
    )
}

#[track_caller]
fn assert_refused(file: &GgufFile, name: &str, needle: &str) {
    arch::assert_refused::<GemmaModel>(file, ARCH, name, needle);
}

#[test]
fn the_unmodified_rewrite_loads() {
    let file = rewrite(|_| {}, |_, s| Some(s));
    load_model::<GemmaModel>(&file, ARCH).expect("an identical copy loads");
}

#[test]
fn missing_tensors_are_refused() {
    for name in [
        "blk.3.attn_k_norm.weight",
        "blk.5.ffn_gate.weight",
        "token_embd.weight",
        "output_norm.weight",
        "dense_3.weight",
    ] {
        let file = rewrite(|_| {}, |n, s| (n != name).then_some(s));
        assert_refused(&file, name, "not found");
    }
}

#[test]
fn wrong_shapes_are_refused() {
    for (name, shape) in [
        ("blk.2.attn_k.weight", vec![32, 64]),
        ("blk.0.attn_q_norm.weight", vec![16, 2]),
        ("dense_2.weight", vec![256, 64]),
        ("token_embd.weight", vec![1001, 64]),
    ] {
        let file = rewrite(
            |_| {},
            |n, s| Some(if n == name { shape.clone() } else { s }),
        );
        assert_refused(&file, name, "shape");
    }
}

#[test]
fn bad_hyper_parameters_are_refused() {
    let u = |v: u32| Some(Value::U32(v));
    for (key, value, needle) in [
        ("attention.head_count", u(0), "out of range"),
        ("attention.head_count_kv", u(0), "out of range"),
        ("attention.head_count_kv", u(3), "do not divide"),
        ("attention.sliding_window", u(0), "out of range"),
        (
            "attention.sliding_window",
            u(4096),
            "larger than the context",
        ),
        ("attention.sliding_window", None, "not found"),
        ("attention.key_length", u(31), "odd"),
        ("attention.value_length", u(16), "differs"),
        ("embedding_length", u(0), "out of range"),
        ("block_count", u(0), "out of range"),
        ("context_length", u(0), "out of range"),
        ("rope.freq_base", Some(Value::F32(0.0)), "positive"),
        ("rope.freq_base_swa", Some(Value::F32(f32::NAN)), "positive"),
        (
            "attention.layer_norm_rms_epsilon",
            Some(Value::F32(-1.0)),
            "positive",
        ),
        ("pooling_type", u(4), "not supported"),
        ("dense_3_feat_in", u(128), "differs"),
        ("dense_2_feat_in", None, "missing while"),
    ] {
        let file = with_meta(key, value);
        assert_refused(&file, &format!("{ARCH}.{key}"), needle);
    }
}

/// Shapes follow the metadata: a consistent change of heads moves the error to the tensors.
#[test]
fn heads_are_checked_against_tensors() {
    let file = with_meta("attention.head_count", Some(Value::U32(1)));
    assert_refused(&file, "blk.0.attn_q.weight", "expected [64, 32]");
}

#[test]
fn dense_tensors_without_their_keys_are_refused() {
    let file = rewrite(
        |md| md.retain(|(k, _)| !k.contains(".dense_")),
        |_, s| Some(s),
    );
    assert_refused(&file, "dense_2.weight", "keys are missing");
}

/// Without the dense keys and tensors (a file converted without the sentence-transformers
/// modules), the output is the pooled hidden state, as llama.cpp computes it.
#[test]
fn files_without_dense_layers_pool_the_hidden_state() {
    let file = rewrite(
        |md| md.retain(|(k, _)| !k.contains(".dense_")),
        |n, s| (!n.starts_with("dense_")).then_some(s),
    );
    let model = load_model::<GemmaModel>(&file, ARCH).unwrap();
    assert_eq!(model.dim(), 64);
    let w = model.bind(&file).unwrap();
    let exec = Exec::serial(kernels());
    let ids = [2u32, 100, 200, 300, 1];
    let pooled = embed(
        &w,
        &exec,
        &[&ids],
        Pooling::Mean,
        &mut GemmaScratch::default(),
    );
    let tokens = embed(
        &w,
        &exec,
        &[&ids],
        Pooling::None,
        &mut GemmaScratch::default(),
    );
    let mut mean = vec![0.0; 64];
    kernels().mean_pool(&tokens, 64, 0, ids.len(), &mut mean);
    assert_eq!(pooled, mean);
}

#[test]
fn unsupported_tensor_types_are_refused() {
    // A norm stored as F16 (the loader accepts the file; the model does not).
    let src = GgufFile::open(model_path("f32")).unwrap();
    let mut w = GgufWriter::new();
    for (key, value) in common::metadata_of(&model_path("f32")) {
        w.add_metadata(key, value).unwrap();
    }
    for info in src.tensors() {
        let (ty, data) = if info.name() == "blk.1.ffn_norm.weight" {
            (GgmlType::F16, vec![0u8; 128])
        } else {
            (info.ggml_type(), src.tensor_bytes(info).to_vec())
        };
        w.add_tensor(info.name(), ty, info.shape(), data).unwrap();
    }
    let file = GgufFile::from_bytes(&w.to_bytes()).unwrap();
    assert_refused(&file, "blk.1.ffn_norm.weight", "expected F32");
}
