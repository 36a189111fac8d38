//! A tiny sentence-transformers BERT directory (safetensors weights, `config.json`,
//! `tokenizer.json`, `vocab.txt`, pooling config and model card), for the converter's tests and
//! the CLI's `convert` test.

use std::path::{Path, PathBuf};

use half::{bf16, f16};
use safetensors::tensor::{Dtype, TensorView};
use serde_json::json;

/// The WordPiece vocabulary of the tiny model.
pub const TOKENS: &[&str] = &[
    "[PAD]",
    "[unused0]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "the",
    "a",
    "cat",
    "##s",
    "hello",
    "world",
    "##ing",
    "run",
    ",",
    ".",
    "!",
    "dog",
    "##ed",
    "is",
];

/// Shape of the tiny model.
#[derive(Clone, Copy)]
pub struct Dims {
    /// Hidden width.
    pub hidden: usize,
    /// FFN width.
    pub ff: usize,
    /// Encoder blocks.
    pub layers: usize,
    /// Position embeddings.
    pub positions: usize,
}

/// The default tiny shape.
pub const DIMS: Dims = Dims {
    hidden: 64,
    ff: 128,
    layers: 2,
    positions: 16,
};

/// Deterministic values in about [-1, 1], different for every tensor.
pub fn values(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// The HF tensors of a tiny BERT: (name, PyTorch shape).
pub fn tensor_specs(d: Dims) -> Vec<(String, Vec<usize>)> {
    let (h, f) = (d.hidden, d.ff);
    let mut specs = vec![
        (
            "embeddings.word_embeddings.weight".to_string(),
            vec![TOKENS.len(), h],
        ),
        (
            "embeddings.position_embeddings.weight".into(),
            vec![d.positions, h],
        ),
        ("embeddings.token_type_embeddings.weight".into(), vec![2, h]),
        ("embeddings.LayerNorm.weight".into(), vec![h]),
        ("embeddings.LayerNorm.bias".into(), vec![h]),
    ];
    for b in 0..d.layers {
        for (part, w, bias) in [
            ("attention.self.query", vec![h, h], h),
            ("attention.self.key", vec![h, h], h),
            ("attention.self.value", vec![h, h], h),
            ("attention.output.dense", vec![h, h], h),
            ("attention.output.LayerNorm", vec![h], h),
            ("intermediate.dense", vec![f, h], f),
            ("output.dense", vec![h, f], h),
            ("output.LayerNorm", vec![h], h),
        ] {
            specs.push((format!("encoder.layer.{b}.{part}.weight"), w));
            specs.push((format!("encoder.layer.{b}.{part}.bias"), vec![bias]));
        }
    }
    specs
}

/// The f32 values of the HF tensor `name` in the fixture.
pub fn fixture_values(d: Dims, name: &str) -> Vec<f32> {
    let specs = tensor_specs(d);
    let i = specs.iter().position(|(n, _)| n == name).unwrap();
    values(i as u64 + 1, specs[i].1.iter().product())
}

/// `v` as little-endian bytes of `dtype` (F32, F16 or BF16).
pub fn encode(v: &[f32], dtype: Dtype) -> Vec<u8> {
    match dtype {
        Dtype::F32 => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Dtype::F16 => v
            .iter()
            .flat_map(|&x| f16::from_f32(x).to_le_bytes())
            .collect(),
        Dtype::BF16 => v
            .iter()
            .flat_map(|&x| bf16::from_f32(x).to_le_bytes())
            .collect(),
        _ => unreachable!(),
    }
}

/// Writes `model.safetensors` with the fixture's tensors in `dtype`, after `edit` changes the
/// list of (name, dtype, shape, bytes).
pub fn write_safetensors(
    dir: &Path,
    d: Dims,
    dtype: Dtype,
    edit: impl FnOnce(&mut Vec<(String, Dtype, Vec<usize>, Vec<u8>)>),
) {
    let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = tensor_specs(d)
        .into_iter()
        .enumerate()
        .map(|(i, (name, shape))| {
            let v = values(i as u64 + 1, shape.iter().product());
            (name, dtype, shape, encode(&v, dtype))
        })
        .collect();
    // Tensors llama.cpp drops.
    tensors.push((
        "embeddings.position_ids".into(),
        Dtype::I64,
        vec![1, d.positions],
        (0..d.positions as i64)
            .flat_map(|i| i.to_le_bytes())
            .collect(),
    ));
    tensors.push((
        "pooler.dense.bias".into(),
        Dtype::F32,
        vec![d.hidden],
        encode(&values(99, d.hidden), Dtype::F32),
    ));
    edit(&mut tensors);
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, dt, s, b)| (n.clone(), TensorView::new(*dt, s.clone(), b).unwrap()))
        .collect();
    let bytes = safetensors::serialize(views, None).unwrap();
    std::fs::write(dir.join("model.safetensors"), bytes).unwrap();
}

/// Writes `v` to `path`, creating its directory.
pub fn write_json(path: &Path, v: &serde_json::Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

/// The `config.json` of a model of shape `d`.
pub fn config_json(d: Dims) -> serde_json::Value {
    json!({
        "_name_or_path": "test-org/tiny-bert",
        "architectures": ["BertModel"],
        "hidden_size": d.hidden,
        "intermediate_size": d.ff,
        "num_hidden_layers": d.layers,
        "num_attention_heads": 2,
        "max_position_embeddings": d.positions,
        "type_vocab_size": 2,
        "vocab_size": TOKENS.len(),
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
        "model_type": "bert"
    })
}

/// The `tokenizer.json` of the tiny vocabulary.
pub fn tokenizer_json() -> serde_json::Value {
    let vocab: serde_json::Map<String, serde_json::Value> = TOKENS
        .iter()
        .enumerate()
        .map(|(i, t)| (t.to_string(), json!(i)))
        .collect();
    let special = |id: usize| {
        json!({"id": id, "content": TOKENS[id], "single_word": false, "lstrip": false,
        "rstrip": false, "normalized": false, "special": true})
    };
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "added_tokens": [special(0), special(2), special(3), special(4), special(5)],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                       "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [3], "tokens": ["[CLS]"]},
                               "[SEP]": {"id": "[SEP]", "ids": [4], "tokens": ["[SEP]"]}},
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}]
        },
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab}
    })
}

/// A complete tiny sentence-transformers BERT directory named `tiny-bert` inside `root`.
pub fn tiny_model(root: &Path, d: Dims, dtype: Dtype) -> PathBuf {
    let dir = root.join("tiny-bert");
    std::fs::create_dir_all(&dir).unwrap();
    write_json(&dir.join("config.json"), &config_json(d));
    write_json(&dir.join("tokenizer.json"), &tokenizer_json());
    write_json(
        &dir.join("tokenizer_config.json"),
        &json!({"do_lower_case": true, "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                "cls_token": "[CLS]", "mask_token": "[MASK]", "tokenizer_class": "BertTokenizer"}),
    );
    std::fs::write(dir.join("vocab.txt"), TOKENS.join("\n") + "\n").unwrap();
    write_json(
        &dir.join("modules.json"),
        &json!([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]),
    );
    write_json(
        &dir.join("1_Pooling/config.json"),
        &json!({"word_embedding_dimension": d.hidden, "pooling_mode_cls_token": false,
                "pooling_mode_mean_tokens": true, "pooling_mode_max_tokens": false}),
    );
    write_json(
        &dir.join("sentence_bert_config.json"),
        &json!({"max_seq_length": 16, "do_lower_case": false}),
    );
    std::fs::write(
        dir.join("README.md"),
        "---\nlanguage: en\nlicense: mit\ntags:\n- sentence-transformers\npipeline_tag: sentence-similarity\n\
         datasets:\n- some-org/some-data\n- plain\n---\n# tiny\n",
    )
    .unwrap();
    write_safetensors(&dir, d, dtype, |_| {});
    dir
}
