//! ModernBERT graph tests: parity with sentence-transformers on every dev text at max length
//! 256 (`../shared`, skipped when absent), batch invariance, and refusal of hostile
//! files (on a synthetic model written here, so these need no shared file).

use std::ops::Range;

mod common;

use common::arch;

use common::{parity, synth};
use ggufembed_runtime::exec::Exec;
use ggufembed_runtime::gguf_loader::{GgmlType, GgufFile, GgufWriter, Value};
use ggufembed_runtime::kernels::kernels;
use ggufembed_runtime::modern_bert::{
    GatedActivation, ModernBertModel, ModernBertScratch, ModernBertWeights,
};
use ggufembed_runtime::registry::load_model;
use ggufembed_runtime::{Batch, Pooling, Tokenizer};

const ARCH: &str = "modern-bert";

/// Runs `texts` (already tokenized) as one packed batch.
fn embed(
    w: &ModernBertWeights<'_>,
    exec: &Exec<'_>,
    texts: &[&[u32]],
    pooling: Pooling,
    s: &mut ModernBertScratch,
) -> Vec<f32> {
    arch::embed::<ModernBertModel>(w, exec, texts, pooling, s)
}

fn run(
    w: &ModernBertWeights<'_>,
    exec: &Exec<'_>,
    ids: &[u32],
    seqs: &[Range<usize>],
    pooling: Pooling,
    s: &mut ModernBertScratch,
) -> Vec<f32> {
    arch::run::<ModernBertModel>(w, exec, ids, seqs, pooling, s)
}

fn check_shared(quant: &str, bar: f64) {
    let Some(cases) = parity::reference("tiny-modernbert-dev-reference.jsonl") else {
        return;
    };
    let Some(path) = common::shared(&format!("models/tiny-modernbert.{quant}.gguf")) else {
        return;
    };
    let file = GgufFile::open(path).expect("open the GGUF");
    let model = load_model::<ModernBertModel>(&file, ARCH).expect("load the model");
    let tokenizer = Tokenizer::from_gguf(&file).expect("tokenizer");
    let w = model.bind(&file).expect("bind");
    let exec = Exec::serial(kernels());
    let mut s = ModernBertScratch::default();
    parity::check(
        &format!("tiny-modernbert {quant}"),
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
const LAYERS: usize = 4;
const HEADS: usize = 4;
const EPS: f32 = 1e-5;
const BASE: f32 = 160_000.0;
const BASE_SWA: f32 = 10_000.0;
const WINDOW: usize = 16;
const VOCAB: u64 = 1205;

fn keys() -> Vec<(&'static str, Value)> {
    vec![
        ("embedding_length", Value::U32(D as u32)),
        ("block_count", Value::U32(LAYERS as u32)),
        ("feed_forward_length", Value::U32(FF as u32)),
        ("context_length", Value::U32(512)),
        ("attention.head_count", Value::U32(HEADS as u32)),
        ("attention.layer_norm_epsilon", Value::F32(EPS)),
        ("rope.freq_base", Value::F32(BASE)),
        ("rope.freq_base_swa", Value::F32(BASE_SWA)),
        ("attention.sliding_window", Value::U32(WINDOW as u32)),
        ("attention.sliding_window_pattern", Value::U32(3)),
        ("attention.causal", Value::Bool(false)),
        ("hidden_activation", Value::String("gelu".into())),
        ("pooling_type", Value::U32(1)),
    ]
}

fn tensors() -> Vec<(String, Vec<u64>)> {
    let (d, f) = (D as u64, FF as u64);
    let mut t = vec![
        ("token_embd.weight".to_string(), vec![d, VOCAB]),
        ("token_embd_norm.weight".into(), vec![d]),
        ("output_norm.weight".into(), vec![d]),
    ];
    for i in 0..LAYERS {
        if i > 0 {
            t.push((format!("blk.{i}.attn_norm.weight"), vec![d]));
        }
        for (name, shape) in [
            ("attn_qkv.weight", vec![d, 3 * d]),
            ("attn_output.weight", vec![d, d]),
            ("ffn_norm.weight", vec![d]),
            ("ffn_up.weight", vec![d, 2 * f]),
            ("ffn_down.weight", vec![f, d]),
        ] {
            t.push((format!("blk.{i}.{name}"), shape));
        }
    }
    t
}

fn synthetic(q8_0: bool) -> GgufFile {
    let bytes = synth::model(
        "tiny-modernbert-vocab.gguf",
        ARCH,
        &keys(),
        &tensors(),
        q8_0,
        11,
    );
    GgufFile::from_bytes(&bytes).unwrap()
}

fn load(file: &GgufFile) -> ModernBertModel {
    load_model::<ModernBertModel>(file, ARCH).expect("load the model")
}

/// The graph written out plainly in f64 from the module docs (and Hugging Face's
/// `ModernBertModel`): token row, LayerNorm; per layer pre-LayerNorm (none on layer 0), fused
/// QKV, NeoX RoPE (base 160000 on global layers 0 and 3, 10000 on local ones), attention (local
/// layers: |i − j| ≤ 8), residual; pre-LayerNorm, GeGLU on the two halves of `ffn_up` (exact
/// GELU on the first), residual; final LayerNorm; mean pooling.
fn naive(file: &GgufFile, ids: &[u32]) -> Vec<f64> {
    let t = |name: &str| synth::tensor(file, name);
    let eps = f64::from(EPS);
    let (tok, nw) = (t("token_embd.weight"), t("token_embd_norm.weight"));
    let mut x: Vec<Vec<f64>> = ids
        .iter()
        .map(|&id| {
            let row = &tok[id as usize * D..(id as usize + 1) * D];
            synth::layer_norm(row, &nw, None, eps)
        })
        .collect();
    let hd = D / HEADS;
    for l in 0..LAYERS {
        let t = |name: &str| synth::tensor(file, &format!("blk.{l}.{name}"));
        let global = l % 3 == 0;
        let base = f64::from(if global { BASE } else { BASE_SWA });
        let qkv = t("attn_qkv.weight");
        let (mut q, mut k, mut v) = (Vec::new(), Vec::new(), Vec::new());
        for (pos, row) in x.iter().enumerate() {
            let h = match l {
                0 => row.clone(),
                _ => synth::layer_norm(row, &t("attn_norm.weight"), None, eps),
            };
            let y = synth::matvec(&qkv, D, &h);
            let (mut qi, mut ki) = (y[..D].to_vec(), y[D..2 * D].to_vec());
            for h in 0..HEADS {
                synth::rope(&mut qi[h * hd..(h + 1) * hd], pos, base);
                synth::rope(&mut ki[h * hd..(h + 1) * hd], pos, base);
            }
            q.push(qi);
            k.push(ki);
            v.push(y[2 * D..].to_vec());
        }
        let a = synth::attention(&q, &k, &v, HEADS, |i, j| {
            global || i.abs_diff(j) <= WINDOW / 2
        });
        let (o, up, down, fw) = (
            t("attn_output.weight"),
            t("ffn_up.weight"),
            t("ffn_down.weight"),
            t("ffn_norm.weight"),
        );
        for (xi, ai) in x.iter_mut().zip(&a) {
            for (xv, p) in xi.iter_mut().zip(synth::matvec(&o, D, ai)) {
                *xv += p;
            }
            let h = synth::layer_norm(xi, &fw, None, eps);
            let u = synth::matvec(&up, D, &h);
            let act: Vec<f64> = (0..FF).map(|j| synth::gelu(u[j]) * u[FF + j]).collect();
            for (xv, p) in xi.iter_mut().zip(synth::matvec(&down, FF, &act)) {
                *xv += p;
            }
        }
    }
    let ow = t("output_norm.weight");
    let x: Vec<Vec<f64>> = x
        .iter()
        .map(|r| synth::layer_norm(r, &ow, None, eps))
        .collect();
    synth::mean(&x)
}

fn texts(tokenizer: &Tokenizer) -> Vec<Vec<u32>> {
    [
        "",
        "Hello world!",
        "The quick brown fox jumps over the lazy dog, twice and again.",
        &"Local windows matter only when the text is longer than the window. ".repeat(4),
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
    assert!(
        texts[3].len() > 4 * WINDOW,
        "the long text must exceed the window"
    );
    let batch: Vec<&[u32]> = texts.iter().map(Vec::as_slice).collect();
    let exec = Exec::serial(kernels());
    let out = embed(
        &w,
        &exec,
        &batch,
        Pooling::Mean,
        &mut ModernBertScratch::default(),
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
    assert_eq!(
        (c.head_dim, c.n_ff, c.sliding_window),
        (16, FF, Some(WINDOW))
    );
    assert_eq!((c.rope_base, c.rope_base_swa), (BASE, BASE_SWA));
    assert_eq!((model.n_ctx(), model.n_vocab), (512, 1205));
    assert_eq!(model.pooling(), Pooling::Mean);
    assert_eq!(c.activation, GatedActivation::GeGlu);
    let global: Vec<usize> = (0..c.n_layer).filter(|&l| c.is_global(l)).collect();
    assert_eq!(global, [0, 3]);
    assert_eq!(c.attention_window(1), Some(WINDOW / 2 + 1));
    assert_eq!(c.attention_window(3), None);
    let bpt = model.bytes_per_token();
    assert!(bpt > 4 * (3 * D + FF) && bpt < 4 * 20 * FF, "{bpt}");
}

/// Without a sliding window every layer is global; pattern 0 makes every layer local.
#[test]
fn window_keys_choose_the_global_layers() {
    let none = load(&with_meta("attention.sliding_window", None)).config;
    assert!((0..LAYERS).all(|l| none.is_global(l) && none.attention_window(l).is_none()));
    let zero = load(&with_meta("attention.sliding_window", Some(Value::U32(0)))).config;
    assert_eq!(zero.sliding_window, None);
    let local = load(&with_meta(
        "attention.sliding_window_pattern",
        Some(Value::U32(0)),
    ))
    .config;
    assert!((0..LAYERS).all(|l| !local.is_global(l)));
    let two = load(&with_meta(
        "attention.sliding_window_pattern",
        Some(Value::U32(2)),
    ))
    .config;
    let global: Vec<usize> = (0..LAYERS).filter(|&l| two.is_global(l)).collect();
    assert_eq!(global, [0, 2]);
    let swiglu = load(&with_meta(
        "hidden_activation",
        Some(Value::String("silu".into())),
    ));
    assert_eq!(swiglu.config.activation, GatedActivation::SwiGlu);
    let base = load(&with_meta("rope.freq_base_swa", None)).config;
    assert_eq!(base.rope_base_swa, BASE);
}

/// A text's vector (and, without pooling, its token vectors) is bit-identical alone and packed
/// between neighbours, with a fresh or a reused scratch, and with matmuls split across workers.
#[test]
fn batching_does_not_change_results() {
    for q8_0 in [false, true] {
        let file = synthetic(q8_0);
        let t = texts(&Tokenizer::from_gguf(&file).unwrap());
        arch::assert_batch_invariant::<ModernBertModel>(
            &file,
            ARCH,
            &format!("q8_0 {q8_0}"),
            [&t[1], &t[2], &t[3]],
        );
    }
}

#[test]
fn bad_batches_are_refused() {
    let file = synthetic(false);
    let model = load(&file);
    let w = model.bind(&file).unwrap();
    let exec = Exec::serial(kernels());
    let mut s = ModernBertScratch::default();
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
        (&[1201u32, 1205, 1202][..], 0..3, "outside the vocabulary"),
        (&[1201, 1202][..], 0..3, "outside the 2 ids"),
        (&[1201, 1202][..], 0..0, "sequence 0 has 0 tokens"),
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
    let err = run(&[1201, 5, 1202], &[0..2, 1..3], &mut two).unwrap_err();
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
    arch::assert_refused::<ModernBertModel>(file, ARCH, name, needle);
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
        "token_embd_norm.weight",
        "output_norm.weight",
        "blk.1.attn_norm.weight",
        "blk.2.ffn_up.weight",
        "blk.3.ffn_norm.weight",
        "blk.3.attn_qkv.weight",
    ] {
        let file = synth::rewrite(&synthetic(false), |_| {}, |n, s| (n != name).then_some(s));
        let name = name.replace("attn_qkv", "attn_q");
        assert_refused(&file, &name, "not found");
    }
}

/// ModernBERT's layer 0 has no attention norm (identity); a file that has one gets it applied.
#[test]
fn a_layer_0_attention_norm_is_applied_when_present() {
    let src = synthetic(false);
    let mut w = GgufWriter::new();
    for (k, v) in src.metadata() {
        w.add_metadata(k, v.clone()).unwrap();
    }
    for info in src.tensors() {
        let data = src.tensor_bytes(info).to_vec();
        w.add_tensor(info.name(), info.ggml_type(), info.shape(), data)
            .unwrap();
    }
    let twos: Vec<u8> = (0..D).flat_map(|_| 2.0f32.to_le_bytes()).collect();
    w.add_tensor("blk.0.attn_norm.weight", GgmlType::F32, &[D as u64], twos)
        .unwrap();
    let normed = GgufFile::from_bytes(&w.to_bytes()).unwrap();
    let exec = Exec::serial(kernels());
    let ids = [1201u32, 100, 200, 300, 1202];
    let run_file = |f: &GgufFile| {
        let m = load(f);
        let w = m.bind(f).unwrap();
        embed(
            &w,
            &exec,
            &[&ids],
            Pooling::Mean,
            &mut ModernBertScratch::default(),
        )
    };
    assert_ne!(run_file(&src), run_file(&normed));
}

#[test]
fn biases_are_refused() {
    let src = synthetic(false);
    let mut w = GgufWriter::new();
    for (k, v) in src.metadata() {
        w.add_metadata(k, v.clone()).unwrap();
    }
    for info in src.tensors() {
        let data = src.tensor_bytes(info).to_vec();
        w.add_tensor(info.name(), info.ggml_type(), info.shape(), data)
            .unwrap();
    }
    w.add_tensor("blk.2.attn_qkv.bias", GgmlType::F32, &[192], vec![0u8; 768])
        .unwrap();
    let file = GgufFile::from_bytes(&w.to_bytes()).unwrap();
    assert_refused(&file, "blk.2.attn_qkv.bias", "no biases");
}

#[test]
fn wrong_shapes_are_refused() {
    for (name, shape) in [
        ("blk.1.attn_qkv.weight", vec![192, 64]),
        ("blk.0.ffn_up.weight", vec![192, 64]),
        ("blk.0.ffn_down.weight", vec![64, 96]),
        ("blk.2.attn_norm.weight", vec![32, 2]),
        ("token_embd.weight", vec![1205, 64]),
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
        ("block_count", u(0), "out of range"),
        ("block_count", u(100_000), "out of range"),
        ("context_length", None, "not found"),
        ("feed_forward_length", u(0), "out of range"),
        ("attention.head_count", u(0), "out of range"),
        ("attention.head_count", u(3), "do not divide"),
        ("attention.head_count_kv", u(3), "do not divide"),
        ("attention.value_length", u(8), "differs"),
        ("rope.dimension_count", u(8), "partial RoPE"),
        (
            "attention.sliding_window",
            u(4096),
            "larger than the context",
        ),
        (
            "attention.sliding_window_pattern",
            u(1 << 20),
            "out of range",
        ),
        ("rope.freq_base", Some(Value::F32(-1.0)), "positive"),
        ("rope.freq_base_swa", Some(Value::F32(f32::NAN)), "positive"),
        (
            "attention.layer_norm_epsilon",
            Some(Value::F32(0.0)),
            "positive",
        ),
        ("attention.layer_norm_epsilon", None, "not found"),
        (
            "hidden_activation",
            Some(Value::String("relu".into())),
            "'relu' is not supported",
        ),
        ("hidden_activation", u(1), "string"),
        ("pooling_type", u(7), "not supported"),
    ] {
        let file = with_meta(key, value);
        assert_refused(&file, &format!("{ARCH}.{key}"), needle);
    }
}

#[test]
fn unsupported_tensor_types_are_refused() {
    let src = synthetic(false);
    let mut w = GgufWriter::new();
    for (k, v) in src.metadata() {
        w.add_metadata(k, v.clone()).unwrap();
    }
    for info in src.tensors() {
        let (ty, data) = if info.name() == "output_norm.weight" {
            (GgmlType::F16, vec![0u8; 128])
        } else {
            (info.ggml_type(), src.tensor_bytes(info).to_vec())
        };
        w.add_tensor(info.name(), ty, info.shape(), data).unwrap();
    }
    let file = GgufFile::from_bytes(&w.to_bytes()).unwrap();
    assert_refused(&file, "output_norm.weight", "expected F32");
}
