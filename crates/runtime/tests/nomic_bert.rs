//! nomic-bert graph tests: parity with the independent PyTorch reference on every dev text at
//! max length 256 (`../shared`, skipped when absent), batch invariance, and refusal of hostile
//! files (on a synthetic model written here, so these need no shared file).

use std::ops::Range;

mod common;

use common::arch;

use common::{parity, synth};
use ggufembed_runtime::exec::Exec;
use ggufembed_runtime::gguf_loader::{GgmlType, GgufFile, GgufWriter, Value};
use ggufembed_runtime::kernels::kernels;
use ggufembed_runtime::nomic_bert::{NomicBertModel, NomicBertScratch, NomicBertWeights};
use ggufembed_runtime::registry::load_model;
use ggufembed_runtime::{Batch, Pooling, Tokenizer};

const ARCH: &str = "nomic-bert";

/// Runs `texts` (already tokenized) as one packed batch.
fn embed(
    w: &NomicBertWeights<'_>,
    exec: &Exec<'_>,
    texts: &[&[u32]],
    pooling: Pooling,
    s: &mut NomicBertScratch,
) -> Vec<f32> {
    arch::embed::<NomicBertModel>(w, exec, texts, pooling, s)
}

fn run(
    w: &NomicBertWeights<'_>,
    exec: &Exec<'_>,
    ids: &[u32],
    seqs: &[Range<usize>],
    pooling: Pooling,
    s: &mut NomicBertScratch,
) -> Vec<f32> {
    arch::run::<NomicBertModel>(w, exec, ids, seqs, pooling, s)
}

fn check_shared(quant: &str, bar: f64) {
    let Some(cases) = parity::reference("tiny-nomic-bert-dev-reference.jsonl") else {
        return;
    };
    let Some(path) = common::shared(&format!("models/tiny-nomic-bert.{quant}.gguf")) else {
        return;
    };
    let file = GgufFile::open(path).expect("open the GGUF");
    let model = load_model::<NomicBertModel>(&file, ARCH).expect("load the model");
    let tokenizer = Tokenizer::from_gguf(&file).expect("tokenizer");
    let w = model.bind(&file).expect("bind");
    let exec = Exec::serial(kernels());
    let mut s = NomicBertScratch::default();
    parity::check(
        &format!("tiny-nomic-bert {quant}"),
        &tokenizer,
        &cases,
        64,
        256,
        bar,
        |ids, seqs| run(&w, &exec, ids, seqs, Pooling::Mean, &mut s),
    );
}

#[test]
fn shared_f32_matches_the_reference() {
    check_shared("f32", 0.99999);
}

#[test]
fn shared_q8_0_matches_the_reference() {
    check_shared("q8_0", 0.998);
}

// ---- a synthetic model (no shared file needed) ----

const D: usize = 64;
const FF: usize = 96;
const LAYERS: usize = 2;
const HEADS: usize = 4;
const EPS: f32 = 1e-12;
const ROPE_BASE: f32 = 1000.0;
const VOCAB: u64 = 3200;

fn keys() -> Vec<(&'static str, Value)> {
    vec![
        ("embedding_length", Value::U32(D as u32)),
        ("block_count", Value::U32(LAYERS as u32)),
        ("feed_forward_length", Value::U32(FF as u32)),
        ("context_length", Value::U32(512)),
        ("attention.head_count", Value::U32(HEADS as u32)),
        ("attention.layer_norm_epsilon", Value::F32(EPS)),
        ("rope.freq_base", Value::F32(ROPE_BASE)),
        ("attention.causal", Value::Bool(false)),
        ("pooling_type", Value::U32(1)),
    ]
}

fn tensors() -> Vec<(String, Vec<u64>)> {
    let (d, f) = (D as u64, FF as u64);
    let mut t = vec![
        ("token_embd.weight".to_string(), vec![d, VOCAB]),
        ("token_types.weight".into(), vec![d, 2]),
        ("token_embd_norm.weight".into(), vec![d]),
        ("token_embd_norm.bias".into(), vec![d]),
    ];
    for i in 0..LAYERS {
        for (name, shape) in [
            ("attn_qkv.weight", vec![d, 3 * d]),
            ("attn_output.weight", vec![d, d]),
            ("attn_output_norm.weight", vec![d]),
            ("attn_output_norm.bias", vec![d]),
            ("ffn_up.weight", vec![d, f]),
            ("ffn_gate.weight", vec![d, f]),
            ("ffn_down.weight", vec![f, d]),
            ("layer_output_norm.weight", vec![d]),
            ("layer_output_norm.bias", vec![d]),
        ] {
            t.push((format!("blk.{i}.{name}"), shape));
        }
    }
    t
}

fn synthetic(q8_0: bool) -> GgufFile {
    let bytes = synth::model(
        "tiny-nomic-bert-vocab.gguf",
        ARCH,
        &keys(),
        &tensors(),
        q8_0,
        7,
    );
    GgufFile::from_bytes(&bytes).unwrap()
}

fn load(file: &GgufFile) -> NomicBertModel {
    load_model::<NomicBertModel>(file, ARCH).expect("load the model")
}

/// The graph written out plainly in f64 from the module docs (and nomic's `NomicBertModel`):
/// token + type-0 rows, LayerNorm; per layer fused QKV, NeoX RoPE, full attention, output
/// projection, post-LayerNorm, SwiGLU (`silu(gate) ⊙ up`), post-LayerNorm; mean pooling.
fn naive(file: &GgufFile, ids: &[u32]) -> Vec<f64> {
    let t = |name: &str| synth::tensor(file, name);
    let eps = f64::from(EPS);
    let (tok, types) = (t("token_embd.weight"), t("token_types.weight"));
    let (nw, nb) = (t("token_embd_norm.weight"), t("token_embd_norm.bias"));
    let mut x: Vec<Vec<f64>> = ids
        .iter()
        .map(|&id| {
            let row: Vec<f64> = (0..D)
                .map(|i| tok[id as usize * D + i] + types[i])
                .collect();
            synth::layer_norm(&row, &nw, Some(&nb), eps)
        })
        .collect();
    let hd = D / HEADS;
    for l in 0..LAYERS {
        let t = |name: &str| synth::tensor(file, &format!("blk.{l}.{name}"));
        let qkv = t("attn_qkv.weight");
        let (mut q, mut k, mut v) = (Vec::new(), Vec::new(), Vec::new());
        for (pos, row) in x.iter().enumerate() {
            let y = synth::matvec(&qkv, D, row);
            let (mut qi, mut ki) = (y[..D].to_vec(), y[D..2 * D].to_vec());
            for h in 0..HEADS {
                synth::rope(&mut qi[h * hd..(h + 1) * hd], pos, f64::from(ROPE_BASE));
                synth::rope(&mut ki[h * hd..(h + 1) * hd], pos, f64::from(ROPE_BASE));
            }
            q.push(qi);
            k.push(ki);
            v.push(y[2 * D..].to_vec());
        }
        let a = synth::attention(&q, &k, &v, HEADS, |_, _| true);
        let (o, up, gate, down) = (
            t("attn_output.weight"),
            t("ffn_up.weight"),
            t("ffn_gate.weight"),
            t("ffn_down.weight"),
        );
        let (n1w, n1b) = (t("attn_output_norm.weight"), t("attn_output_norm.bias"));
        let (n2w, n2b) = (t("layer_output_norm.weight"), t("layer_output_norm.bias"));
        for (xi, ai) in x.iter_mut().zip(&a) {
            let r: Vec<f64> = synth::matvec(&o, D, ai)
                .iter()
                .zip(xi.iter())
                .map(|(p, q)| p + q)
                .collect();
            let h = synth::layer_norm(&r, &n1w, Some(&n1b), eps);
            let (u, g) = (synth::matvec(&up, D, &h), synth::matvec(&gate, D, &h));
            let act: Vec<f64> = u.iter().zip(&g).map(|(u, g)| synth::silu(*g) * u).collect();
            let r: Vec<f64> = synth::matvec(&down, FF, &act)
                .iter()
                .zip(&h)
                .map(|(p, q)| p + q)
                .collect();
            *xi = synth::layer_norm(&r, &n2w, Some(&n2b), eps);
        }
    }
    synth::mean(&x)
}

fn texts(tokenizer: &Tokenizer) -> Vec<Vec<u32>> {
    [
        "",
        "Hello world!",
        "The quick brown fox jumps over the lazy dog, twice and again.",
        &"Rotary positions matter when the text is longer than a few words. ".repeat(4),
    ]
    .iter()
    .map(|t| tokenizer.encode(t).unwrap())
    .collect()
}

#[test]
fn synthetic_model_matches_a_naive_reference() {
    let file = synthetic(false);
    let model = load(&file);
    let w = model.bind(&file).unwrap();
    let tokenizer = Tokenizer::from_gguf(&file).unwrap();
    let texts = texts(&tokenizer);
    let batch: Vec<&[u32]> = texts.iter().map(Vec::as_slice).collect();
    let exec = Exec::serial(kernels());
    let out = embed(
        &w,
        &exec,
        &batch,
        Pooling::Mean,
        &mut NomicBertScratch::default(),
    );
    for (i, (row, ids)) in out.chunks_exact(D).zip(&texts).enumerate() {
        let want = naive(&file, ids);
        let cos = synth::cosine64(row, &want);
        eprintln!(
            "text {i} ({} tokens): 1 - cos = {:.2e}",
            ids.len(),
            1.0 - cos
        );
        assert!(cos > 0.999_999, "text {i}: cosine {cos}");
    }
}

#[test]
fn model_reports_its_shape() {
    let file = synthetic(false);
    let model = load(&file);
    let c = &model.config;
    assert_eq!(
        (c.n_embd, c.n_layer, c.n_head, c.n_head_kv),
        (D, LAYERS, HEADS, HEADS)
    );
    assert_eq!((c.head_dim, c.n_ff, c.rope_base), (16, FF, ROPE_BASE));
    assert_eq!(
        (model.n_ctx(), model.n_vocab, model.n_types),
        (512, 3200, 2)
    );
    assert_eq!(model.pooling(), Pooling::Mean);
    assert!(!c.causal);
    let bpt = model.bytes_per_token();
    assert!(bpt > 4 * (3 * D + FF) && bpt < 4 * 20 * FF, "{bpt}");
}

/// A text's vector (and, without pooling, its token vectors) is bit-identical alone and packed
/// between neighbours, with a fresh or a reused scratch, and with matmuls split across workers.
#[test]
fn batching_does_not_change_results() {
    for q8_0 in [false, true] {
        let file = synthetic(q8_0);
        let t = texts(&Tokenizer::from_gguf(&file).unwrap());
        arch::assert_batch_invariant::<NomicBertModel>(
            &file,
            ARCH,
            &format!("q8_0 {q8_0}"),
            [&t[1], &t[2], &t[3]],
        );
    }
}

#[test]
fn separate_projections_equal_the_fused_one() {
    // attn_qkv cut into attn_q / attn_k / attn_v (rows 0..64, 64..128, 128..192).
    let fused = synthetic(false);
    let mut w = GgufWriter::new();
    for (k, v) in fused.metadata() {
        w.add_metadata(k, v.clone()).unwrap();
    }
    for info in fused.tensors() {
        let bytes = fused.tensor_bytes(info);
        if let Some(layer) = info.name().strip_suffix(".attn_qkv.weight") {
            let row = D * 4;
            for (i, part) in ["attn_q", "attn_k", "attn_v"].iter().enumerate() {
                let data = bytes[i * D * row..(i + 1) * D * row].to_vec();
                w.add_tensor(
                    format!("{layer}.{part}.weight"),
                    GgmlType::F32,
                    &[D as u64, D as u64],
                    data,
                )
                .unwrap();
            }
        } else {
            w.add_tensor(info.name(), info.ggml_type(), info.shape(), bytes.to_vec())
                .unwrap();
        }
    }
    let split = GgufFile::from_bytes(&w.to_bytes()).unwrap();
    let exec = Exec::serial(kernels());
    let ids = [2u32, 100, 200, 300, 3];
    let run_file = |f: &GgufFile| {
        let m = load(f);
        let w = m.bind(f).unwrap();
        embed(
            &w,
            &exec,
            &[&ids],
            Pooling::Mean,
            &mut NomicBertScratch::default(),
        )
    };
    assert_eq!(run_file(&fused), run_file(&split));
}

#[test]
fn bad_batches_are_refused() {
    let file = synthetic(false);
    let model = load(&file);
    let w = model.bind(&file).unwrap();
    let exec = Exec::serial(kernels());
    let mut s = NomicBertScratch::default();
    let mut out = vec![0.0; D];
    // Refused by the one check (`Batch::check`), before the graph: `forward` takes only a
    // checked batch.
    let limits = w.limits();
    let mut run = |ids: &[u32], seqs: &[Range<usize>], out: &mut [f32]| {
        let batch = Batch::new(ids, seqs).check(&limits)?;
        w.forward(&exec, &batch, Pooling::Mean, out, &mut s)
    };
    let long = vec![5u32; 513];
    for (ids, seq, what) in [
        (&[2u32, 3200, 3][..], 0..3, "outside the vocabulary"),
        (&[2, 3][..], 0..3, "outside the 2 ids"),
        (&[2, 3][..], 0..0, "sequence 0 has 0 tokens"),
        (
            &long[..],
            0..513,
            "sequence 0 has 513 tokens, expected 1..=512",
        ),
    ] {
        let err = run(ids, std::slice::from_ref(&seq), &mut out).unwrap_err();
        assert!(err.to_string().contains(what), "{err}");
    }
    let mut two = vec![0.0; 2 * D];
    let err = run(&[2, 5, 3], &[0..2, 1..3], &mut two).unwrap_err();
    assert!(
        err.to_string()
            .contains("sequence 1 starts at token 1, expected 2"),
        "{err}"
    );
    // A batch checked for a larger vocabulary does not fit this graph.
    arch::assert_refuses_looser_vocab(limits, |batch| {
        w.forward(&exec, batch, Pooling::Mean, &mut out, &mut s)
    });
}

// ---- hostile files ----

#[track_caller]
fn assert_refused(file: &GgufFile, name: &str, needle: &str) {
    arch::assert_refused::<NomicBertModel>(file, ARCH, name, needle);
}

fn with_meta(key: &str, value: Option<Value>) -> GgufFile {
    arch::with_meta(&synthetic(false), ARCH, key, value)
}

#[test]
fn the_unmodified_rewrite_loads() {
    let file = synth::rewrite(&synthetic(true), |_| {}, |_, s| Some(s));
    load(&file);
}

#[test]
fn missing_tensors_are_refused() {
    for name in [
        "token_embd.weight",
        "token_embd_norm.bias",
        "blk.0.attn_qkv.weight",
        "blk.1.ffn_gate.weight",
        "blk.1.layer_output_norm.bias",
    ] {
        let file = synth::rewrite(&synthetic(false), |_| {}, |n, s| (n != name).then_some(s));
        // Without the fused QKV, the separate projections are looked for.
        let name = name.replace("attn_qkv", "attn_q");
        assert_refused(&file, &name, "not found");
    }
    // Token types are optional: without them no type row is added.
    let file = synth::rewrite(
        &synthetic(false),
        |_| {},
        |n, s| (n != "token_types.weight").then_some(s),
    );
    assert_eq!(load(&file).n_types, 0);
}

#[test]
fn wrong_shapes_are_refused() {
    for (name, shape) in [
        ("blk.1.attn_qkv.weight", vec![192, 64]),
        ("blk.0.ffn_down.weight", vec![64, 96]),
        ("blk.0.attn_output_norm.weight", vec![32, 2]),
        ("token_embd.weight", vec![3200, 64]),
        ("token_types.weight", vec![2, 64]),
    ] {
        let file = synth::rewrite(
            &synthetic(false),
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
        ("embedding_length", u(0), "out of range"),
        ("embedding_length", u(1 << 20), "out of range"),
        ("block_count", u(0), "out of range"),
        ("block_count", None, "not found"),
        ("context_length", u(0), "out of range"),
        ("feed_forward_length", u(u32::MAX), "out of range"),
        ("attention.head_count", u(0), "out of range"),
        ("attention.head_count", u(5), "do not divide"),
        ("attention.head_count", u(64), "odd"),
        ("attention.head_count_kv", u(3), "do not divide"),
        ("attention.key_length", u(32), "differs"),
        ("rope.dimension_count", u(8), "partial RoPE"),
        ("rope.freq_base", Some(Value::F32(0.0)), "positive"),
        (
            "rope.freq_base",
            Some(Value::F32(f32::INFINITY)),
            "positive",
        ),
        (
            "attention.layer_norm_epsilon",
            Some(Value::F32(-1.0)),
            "positive",
        ),
        (
            "attention.layer_norm_epsilon",
            Some(Value::F32(2.0)),
            "epsilon",
        ),
        ("attention.layer_norm_epsilon", None, "not found"),
        ("pooling_type", u(4), "not supported"),
        ("attention.causal", u(1), "bool"),
    ] {
        let file = with_meta(key, value);
        assert_refused(&file, &format!("{ARCH}.{key}"), needle);
    }
}

/// Shapes follow the metadata: a consistent change of heads moves the error to the tensors.
#[test]
fn kv_heads_are_checked_against_tensors() {
    let file = with_meta("attention.head_count_kv", Some(Value::U32(2)));
    assert_refused(&file, "blk.0.attn_qkv.weight", "expected [64, 128]");
}

#[test]
fn unsupported_tensor_types_are_refused() {
    let src = synthetic(false);
    let mut w = GgufWriter::new();
    for (k, v) in src.metadata() {
        w.add_metadata(k, v.clone()).unwrap();
    }
    for info in src.tensors() {
        let (ty, data) = if info.name() == "blk.1.attn_output_norm.weight" {
            (GgmlType::F16, vec![0u8; 128])
        } else {
            (info.ggml_type(), src.tensor_bytes(info).to_vec())
        };
        w.add_tensor(info.name(), ty, info.shape(), data).unwrap();
    }
    let file = GgufFile::from_bytes(&w.to_bytes()).unwrap();
    assert_refused(&file, "blk.1.attn_output_norm.weight", "expected F32");
}
