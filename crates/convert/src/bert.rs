//! BERT: Hugging Face tensor names → GGUF names, shape checks, output types, and the `bert.*`
//! hyperparameter keys, as llama.cpp's `BertModel` converter writes them.

use gguf_loader::{Array, GgmlType, Value};
use safetensors::tensor::Dtype;

use super::hf::Config;
use super::quant;
use super::safetensors_file::SafetensorsFile;
use super::{ConvertError, OutType, Result};

/// One tensor to convert.
#[derive(Debug)]
pub(crate) struct PlanItem {
    /// Name in the safetensors file.
    pub hf_name: String,
    /// GGUF name.
    pub gguf_name: String,
}

/// A converted tensor, ready for the writer.
pub(crate) struct Converted {
    pub name: String,
    pub ggml_type: GgmlType,
    /// ggml order.
    pub shape: Vec<u64>,
    pub data: Vec<u8>,
}

/// The cross-encoder architecture, whose classification head is kept.
const SEQUENCE_CLASSIFICATION: &str = "BertForSequenceClassification";

/// A `BertForSequenceClassification`'s head → llama.cpp's names: the classifier as
/// `cls.output` (as llama.cpp's converter writes it) and BERT's pooler as `cls` (which
/// llama.cpp's converter drops, reversing rankings; llama.cpp's rank pooling applies it as
/// `tanh(cls · h + b)` when present). `n_labels` rows of the classifier.
fn map_head(name: &str, config: &Config) -> Option<(String, Vec<u64>)> {
    let e = config.n_embd;
    let n_labels = config.id2label.as_ref().map_or(2, |l| l.len() as u64);
    let (gguf, shape) = match name {
        "pooler.dense.weight" => ("cls.weight", vec![e, e]),
        "pooler.dense.bias" => ("cls.bias", vec![e]),
        "classifier.weight" => ("cls.output.weight", vec![n_labels, e]),
        "classifier.bias" => ("cls.output.bias", vec![n_labels]),
        _ => return None,
    };
    Some((gguf.to_owned(), shape))
}

/// Tensors llama.cpp's BERT converter drops.
fn is_skipped(name: &str) -> bool {
    matches!(
        name,
        "embeddings.position_ids" | "pooler.dense.weight" | "pooler.dense.bias"
    ) || name.starts_with("cls.predictions")
        || name.starts_with("cls.seq_relationship")
        || name.ends_with(".attention.masked_bias")
        || name.ends_with(".attention.bias")
        || name.ends_with(".rotary_emb.inv_freq")
}

/// `BertModel.filter_tensors`' renames: drop a `bert.` prefix, `.gamma`/`.beta` → `.weight`/`.bias`.
fn normalize(name: &str) -> String {
    let name = name.strip_prefix("bert.").unwrap_or(name);
    if let Some(base) = name.strip_suffix(".gamma") {
        format!("{base}.weight")
    } else if let Some(base) = name.strip_suffix(".beta") {
        format!("{base}.bias")
    } else {
        name.to_string()
    }
}

const LAYER_PARTS: &[(&str, &str)] = &[
    ("attention.self.query", "attn_q"),
    ("attention.self.key", "attn_k"),
    ("attention.self.value", "attn_v"),
    ("attention.output.dense", "attn_output"),
    ("attention.output.LayerNorm", "attn_output_norm"),
    ("intermediate.dense", "ffn_up"),
    ("output.dense", "ffn_down"),
    ("output.LayerNorm", "layer_output_norm"),
];

const EMBEDDING_PARTS: &[(&str, &str)] = &[
    ("embeddings.word_embeddings", "token_embd"),
    ("embeddings.token_type_embeddings", "token_types"),
    ("embeddings.position_embeddings", "position_embd"),
    ("embeddings.LayerNorm", "token_embd_norm"),
];

/// gguf-py's tensor name map for BERT (with `.weight`/`.bias` suffixes).
fn map_name(name: &str, n_layer: u64) -> Option<String> {
    let (base, suffix) = name.rsplit_once('.')?;
    if suffix != "weight" && suffix != "bias" {
        return None;
    }
    if let Some(&(_, g)) = EMBEDDING_PARTS.iter().find(|(hf, _)| *hf == base) {
        return Some(format!("{g}.{suffix}"));
    }
    let rest = base.strip_prefix("encoder.layer.")?;
    let (bid, part) = rest.split_once('.')?;
    let b: u64 = bid.parse().ok()?;
    if b.to_string() != bid || b >= n_layer {
        return None;
    }
    let &(_, g) = LAYER_PARTS.iter().find(|(hf, _)| *hf == part)?;
    Some(format!("blk.{b}.{g}.{suffix}"))
}

/// The PyTorch-order shape `config.json` implies for a GGUF tensor name.
fn expected_shape(gguf_name: &str, config: &Config, n_vocab: u64) -> Vec<u64> {
    let (e, f) = (config.n_embd, config.n_ff);
    let (base, suffix) = gguf_name.rsplit_once('.').unwrap_or((gguf_name, ""));
    let part = base.rsplit('.').next().unwrap_or(base);
    match (part, suffix) {
        ("token_embd", _) => vec![n_vocab, e],
        ("token_types", _) => vec![config.type_vocab_size, e],
        ("position_embd", _) => vec![config.n_ctx, e],
        ("ffn_up", "weight") => vec![f, e],
        ("ffn_up", _) => vec![f],
        ("ffn_down", "weight") => vec![e, f],
        (_, "weight") if !part.ends_with("_norm") => vec![e, e],
        _ => vec![e],
    }
}

/// The tensors to convert, in llama.cpp's order (safetensors names sorted), each checked
/// against `config.json`; every tensor BERT needs must be present.
pub(crate) fn plan_tensors(
    config: &Config,
    weights: &SafetensorsFile,
    n_vocab: u64,
) -> Result<Vec<PlanItem>> {
    let classifier = config.architecture == SEQUENCE_CLASSIFICATION;
    let mut plan = Vec::new();
    for hf_name in weights.names() {
        let name = normalize(&hf_name);
        let head = if classifier {
            map_head(&name, config)
        } else {
            None
        };
        if head.is_none() && is_skipped(&name) {
            continue;
        }
        let Some((gguf_name, expected)) = head.or_else(|| {
            map_name(&name, config.n_layer).map(|g| {
                let shape = expected_shape(&g, config, n_vocab);
                (g, shape)
            })
        }) else {
            return Err(ConvertError::UnexpectedTensor {
                path: weights.path.clone(),
                name: hf_name,
            });
        };
        let t = weights
            .get(&hf_name)
            .ok_or_else(|| ConvertError::MissingTensor {
                path: weights.path.clone(),
                name: hf_name.clone(),
            })?;
        // Refuse unreadable dtypes before any progress is reported.
        if !matches!(t.dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16) {
            return Err(ConvertError::TensorDtype {
                path: weights.path.clone(),
                name: hf_name,
                dtype: format!("{:?}", t.dtype),
            });
        }
        if t.shape != expected {
            return Err(ConvertError::TensorShape {
                path: weights.path.clone(),
                name: hf_name,
                expected,
                found: t.shape,
            });
        }
        if plan.iter().any(|p: &PlanItem| p.gguf_name == gguf_name) {
            return Err(ConvertError::Safetensors {
                path: weights.path.clone(),
                reason: format!(
                    "tensor '{hf_name}' duplicates another tensor that also maps to '{gguf_name}'"
                ),
            });
        }
        plan.push(PlanItem { hf_name, gguf_name });
    }

    let mut required: Vec<(String, String)> = Vec::new();
    if classifier {
        required.push(("classifier.weight".into(), "cls.output.weight".into()));
    }
    for (hf, g) in EMBEDDING_PARTS {
        for s in ["weight", "bias"] {
            if *g != "token_embd_norm" && s == "bias" {
                continue;
            }
            required.push((format!("{hf}.{s}"), format!("{g}.{s}")));
        }
    }
    for b in 0..config.n_layer {
        for (hf, g) in LAYER_PARTS {
            for s in ["weight", "bias"] {
                required.push((
                    format!("encoder.layer.{b}.{hf}.{s}"),
                    format!("blk.{b}.{g}.{s}"),
                ));
            }
        }
    }
    for (hf, g) in required {
        if !plan.iter().any(|p| p.gguf_name == g) {
            return Err(ConvertError::MissingTensor {
                path: weights.path.clone(),
                name: hf,
            });
        }
    }
    Ok(plan)
}

/// The ggml type llama.cpp's `prepare_tensors` picks for a tensor of `n_dims` dimensions.
fn output_type(gguf_name: &str, n_dims: usize, out_type: OutType) -> GgmlType {
    if n_dims <= 1 || gguf_name.ends_with("_norm.weight") {
        return GgmlType::F32;
    }
    if matches!(gguf_name, "position_embd.weight" | "token_types.weight")
        || !gguf_name.ends_with(".weight")
    {
        return GgmlType::F32;
    }
    out_type.ggml_type()
}

/// Reads, widens and converts one tensor.
pub(crate) fn convert_tensor(
    weights: &SafetensorsFile,
    item: &PlanItem,
    out_type: OutType,
    warnings: &mut Vec<String>,
) -> Result<Converted> {
    let t = weights
        .get(&item.hf_name)
        .ok_or_else(|| ConvertError::MissingTensor {
            path: weights.path.clone(),
            name: item.hf_name.clone(),
        })?;
    let values = weights.to_f32(&item.hf_name, &t)?;
    let shape: Vec<u64> = t.shape.iter().rev().copied().collect();
    let mut ggml_type = output_type(&item.gguf_name, shape.len(), out_type);
    let data = match ggml_type {
        GgmlType::Q8_0 => match shape
            .first()
            .filter(|&&n| n.is_multiple_of(quant::Q8_0_BLOCK as u64))
            .and_then(|_| quant::quantize_row_q8_0_ref(&values))
        {
            Some(q) => q,
            None => {
                warnings.push(format!(
                    "tensor '{}': rows of {} elements are not whole Q8_0 blocks of 32, written as F16 (as llama.cpp does)",
                    item.gguf_name,
                    shape.first().copied().unwrap_or(0)
                ));
                ggml_type = GgmlType::F16;
                quant::f32_to_f16_bytes(&values)
            }
        },
        GgmlType::F16 => quant::f32_to_f16_bytes(&values),
        _ => quant::f32_to_bytes(&values),
    };
    Ok(Converted {
        name: item.gguf_name.clone(),
        ggml_type,
        shape,
        data,
    })
}

/// `TextModel.set_gguf_parameters` + `BertModel.set_gguf_parameters`, in their order.
pub(crate) fn hparams_metadata(
    config: &Config,
    out_type: OutType,
    pooling: Option<u32>,
) -> Vec<(String, Value)> {
    let u32v = |n: u64| Value::U32(n as u32); // Config::load checked n <= u32::MAX
    let mut m: Vec<(String, Value)> = vec![
        ("bert.block_count".into(), u32v(config.n_layer)),
        ("bert.context_length".into(), u32v(config.n_ctx)),
        ("bert.embedding_length".into(), u32v(config.n_embd)),
        ("bert.feed_forward_length".into(), u32v(config.n_ff)),
        ("bert.attention.head_count".into(), u32v(config.n_head)),
    ];
    if let Some(kv) = config.n_head_kv {
        m.push(("bert.attention.head_count_kv".into(), u32v(kv)));
    }
    if let Some(eps) = config.rms_norm_eps {
        m.push((
            "bert.attention.layer_norm_rms_epsilon".into(),
            Value::F32(eps as f32),
        ));
    }
    m.push((
        "bert.attention.layer_norm_epsilon".into(),
        Value::F32(config.layer_norm_eps as f32),
    ));
    if let Some(hd) = config.head_dim {
        m.push(("bert.attention.key_length".into(), u32v(hd)));
        m.push(("bert.attention.value_length".into(), u32v(hd)));
    }
    m.push(("general.file_type".into(), Value::U32(out_type.file_type())));
    m.push(("bert.attention.causal".into(), Value::Bool(false)));
    if let Some(p) = pooling {
        m.push(("bert.pooling_type".into(), Value::U32(p)));
    }
    if let Some(labels) = &config.id2label {
        m.push((
            "bert.classifier.output_labels".into(),
            Value::Array(Array::String(labels.clone())),
        ));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_like_gguf_py() {
        assert_eq!(
            map_name("embeddings.LayerNorm.bias", 2).as_deref(),
            Some("token_embd_norm.bias")
        );
        assert_eq!(
            map_name("encoder.layer.1.attention.output.LayerNorm.weight", 2).as_deref(),
            Some("blk.1.attn_output_norm.weight")
        );
        assert_eq!(
            map_name("encoder.layer.0.output.dense.bias", 2).as_deref(),
            Some("blk.0.ffn_down.bias")
        );
        assert_eq!(map_name("encoder.layer.2.output.dense.bias", 2), None);
        assert_eq!(map_name("encoder.layer.01.output.dense.bias", 2), None);
        assert_eq!(map_name("encoder.layer.0.output.dense.scale", 2), None);
        assert_eq!(
            normalize("bert.encoder.layer.0.output.LayerNorm.gamma"),
            "encoder.layer.0.output.LayerNorm.weight"
        );
        assert!(is_skipped("pooler.dense.weight") && is_skipped("cls.predictions.bias"));
    }

    #[test]
    fn types_follow_llama_cpp() {
        assert_eq!(
            output_type("token_embd.weight", 2, OutType::Q8_0),
            GgmlType::Q8_0
        );
        assert_eq!(
            output_type("position_embd.weight", 2, OutType::Q8_0),
            GgmlType::F32
        );
        assert_eq!(
            output_type("token_types.weight", 2, OutType::F16),
            GgmlType::F32
        );
        assert_eq!(
            output_type("blk.0.attn_q.bias", 1, OutType::F16),
            GgmlType::F32
        );
        assert_eq!(
            output_type("blk.0.attn_output_norm.weight", 1, OutType::F16),
            GgmlType::F32
        );
        assert_eq!(
            output_type("blk.0.ffn_down.weight", 2, OutType::F16),
            GgmlType::F16
        );
    }
}
