//! Reading the JSON files of a Hugging Face model directory: `config.json`, `modules.json`, the
//! pooling module's `config.json` and `sentence_bert_config.json`.

use std::path::Path;

use serde_json::{Map, Value as Json};

use super::{ConvertError, Result, SUPPORTED_ARCHITECTURES};

/// Reads and parses a JSON file; a missing file is [`ConvertError::MissingFile`] (`what`
/// says what it is for).
pub(crate) fn read_json(path: &Path, what: &str) -> Result<Json> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConvertError::MissingFile {
                path: path.to_path_buf(),
                what: what.into(),
            });
        }
        Err(source) => {
            return Err(ConvertError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    serde_json::from_slice(&bytes).map_err(|source| ConvertError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a JSON file that may be absent.
pub(crate) fn read_optional_json(path: &Path) -> Result<Option<Json>> {
    if !path.exists() {
        return Ok(None);
    }
    read_json(path, "file").map(Some)
}

/// A JSON file that must hold an object.
pub(crate) fn expect_object(path: &Path, json: Json) -> Result<Map<String, Json>> {
    match json {
        Json::Object(m) => Ok(m),
        other => Err(ConvertError::BadKey {
            path: path.to_path_buf(),
            key: "(top level)".into(),
            reason: format!("must be a JSON object, found {}", json_kind(&other)),
        }),
    }
}

/// A short description of a JSON value's kind for error messages.
pub(crate) fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// The hyperparameters of a BERT `config.json`.
#[derive(Debug)]
pub(crate) struct Config {
    /// Every key, for lookups of optional ones (`pad_token_id`, `_name_or_path`, …).
    pub raw: Map<String, Json>,
    /// `architectures[0]`.
    pub architecture: String,
    pub n_layer: u64,
    pub n_ctx: u64,
    pub n_embd: u64,
    pub n_ff: u64,
    pub n_head: u64,
    pub n_head_kv: Option<u64>,
    pub head_dim: Option<u64>,
    pub layer_norm_eps: f64,
    pub rms_norm_eps: Option<f64>,
    /// `type_vocab_size` (BertConfig's default 2 when absent).
    pub type_vocab_size: u64,
    /// `vocab_size`, if given.
    pub vocab_size: Option<u64>,
    /// Classifier labels in id order, when `id2label` is not transformers' dummy pair.
    pub id2label: Option<Vec<String>>,
}

impl Config {
    /// Loads and checks `dir/config.json`.
    pub fn load(dir: &Path) -> Result<Config> {
        let path = dir.join("config.json");
        let raw = expect_object(
            &path,
            read_json(&path, "model configuration (config.json)")?,
        )?;
        let bad = |key: &str, reason: String| ConvertError::BadKey {
            path: path.clone(),
            key: key.into(),
            reason,
        };

        let architecture = match raw.get("architectures") {
            None => return Err(bad("architectures", "is missing".into())),
            Some(Json::Array(a)) => match a.first() {
                Some(Json::String(s)) => s.clone(),
                Some(other) => {
                    return Err(bad(
                        "architectures",
                        format!("[0] must be a string, found {}", json_kind(other)),
                    ));
                }
                None => return Err(bad("architectures", "is an empty list".into())),
            },
            Some(other) => {
                return Err(bad(
                    "architectures",
                    format!("must be a list of strings, found {}", json_kind(other)),
                ));
            }
        };
        if !SUPPORTED_ARCHITECTURES.contains(&architecture.as_str()) {
            return Err(ConvertError::UnsupportedArchitecture {
                path,
                found: architecture,
            });
        }

        // llama.cpp's find_hparam: the first of these keys that is present.
        let uint = |keys: &[&str], required: bool| -> Result<Option<u64>> {
            for &key in keys {
                if let Some(v) = raw.get(key) {
                    return match v.as_u64() {
                        Some(n) if n > 0 && n <= u64::from(u32::MAX) => Ok(Some(n)),
                        _ => Err(bad(
                            key,
                            format!("must be a positive 32-bit integer, found {v}"),
                        )),
                    };
                }
            }
            if required {
                Err(bad(keys[0], "is missing".into()))
            } else {
                Ok(None)
            }
        };
        let float = |keys: &[&str]| -> Result<Option<f64>> {
            for &key in keys {
                if let Some(v) = raw.get(key) {
                    return match v.as_f64() {
                        Some(x) if x.is_finite() && x >= 0.0 => Ok(Some(x)),
                        _ => Err(bad(
                            key,
                            format!("must be a non-negative number, found {v}"),
                        )),
                    };
                }
            }
            Ok(None)
        };

        let n_layer = uint(
            &["n_layers", "num_hidden_layers", "n_layer", "num_layers"],
            true,
        )?
        .unwrap_or(0);
        let n_ctx = uint(
            &[
                "max_position_embeddings",
                "n_ctx",
                "n_positions",
                "max_length",
                "max_sequence_length",
                "model_max_length",
            ],
            true,
        )?
        .unwrap_or(0);
        let n_embd = uint(&["hidden_size", "n_embd", "dim"], true)?.unwrap_or(0);
        let n_ff = uint(&["intermediate_size", "n_inner", "hidden_dim"], true)?.unwrap_or(0);
        let n_head = uint(&["num_attention_heads", "n_head", "n_heads"], true)?.unwrap_or(0);
        if n_embd % n_head != 0 {
            return Err(bad(
                "num_attention_heads",
                format!("({n_head}) does not divide hidden_size ({n_embd})"),
            ));
        }
        let n_head_kv = uint(&["num_key_value_heads", "n_kv_heads"], false)?;
        let head_dim = uint(&["head_dim"], false)?;
        // BertConfig's default, which transformers' AutoConfig fills in before llama.cpp reads it.
        let layer_norm_eps =
            float(&["layer_norm_eps", "layer_norm_epsilon", "norm_epsilon"])?.unwrap_or(1e-12);
        let rms_norm_eps = float(&["rms_norm_eps", "norm_eps"])?;
        let type_vocab_size = uint(&["type_vocab_size"], false)?.unwrap_or(2);
        let vocab_size = uint(&["vocab_size"], false)?;

        let id2label = match raw.get("id2label") {
            None | Some(Json::Null) => None,
            Some(Json::Object(m)) => {
                let mut labels = Vec::with_capacity(m.len());
                for (k, v) in m {
                    let id: i64 = k
                        .parse()
                        .map_err(|_| bad("id2label", format!("key '{k}' is not an integer")))?;
                    let label = v.as_str().ok_or_else(|| {
                        bad("id2label", format!("label of '{k}' is not a string"))
                    })?;
                    labels.push((id, label.to_string()));
                }
                labels.sort();
                let dummy = labels.len() == 2 && labels[0].1 == "LABEL_0";
                if dummy || labels.is_empty() {
                    None
                } else {
                    Some(labels.into_iter().map(|(_, l)| l).collect())
                }
            }
            Some(other) => {
                return Err(bad(
                    "id2label",
                    format!("must be an object, found {}", json_kind(other)),
                ));
            }
        };

        Ok(Config {
            raw,
            architecture,
            n_layer,
            n_ctx,
            n_embd,
            n_ff,
            n_head,
            n_head_kv,
            head_dim,
            layer_norm_eps,
            rms_norm_eps,
            type_vocab_size,
            vocab_size,
            id2label,
        })
    }
}

/// llama.cpp's pooling type from the sentence-transformers modules: `Some(1)` mean, `Some(2)`
/// CLS, `Some(3)` last token, `None` when there is no `modules.json` or no Pooling module.
/// Also checks that `sentence_bert_config.json`, when present, is valid JSON.
pub(crate) fn load_pooling(dir: &Path) -> Result<Option<u32>> {
    let st_config = dir.join("sentence_bert_config.json");
    if let Some(json) = read_optional_json(&st_config)? {
        expect_object(&st_config, json)?;
    }

    let modules_path = dir.join("modules.json");
    let Some(modules) = read_optional_json(&modules_path)? else {
        return Ok(None);
    };
    let bad = |key: String, reason: String| ConvertError::BadKey {
        path: modules_path.clone(),
        key,
        reason,
    };
    let Json::Array(modules) = modules else {
        return Err(bad(
            "(top level)".into(),
            format!("must be a list of modules, found {}", json_kind(&modules)),
        ));
    };
    let mut pooling_path = None;
    for (i, module) in modules.iter().enumerate() {
        let ty = module.get("type").and_then(Json::as_str);
        let Some(ty) = ty else {
            return Err(bad(
                format!("[{i}].type"),
                "is missing or not a string".into(),
            ));
        };
        if ty == "sentence_transformers.models.Pooling" {
            match module.get("path").and_then(Json::as_str) {
                Some(p) => pooling_path = Some(p.to_string()),
                None => {
                    return Err(bad(
                        format!("[{i}].path"),
                        "is missing or not a string".into(),
                    ));
                }
            }
            break;
        }
    }
    let Some(pooling_path) = pooling_path else {
        return Ok(None);
    };
    if Path::new(&pooling_path).is_absolute() || pooling_path.split(['/', '\\']).any(|c| c == "..")
    {
        return Err(bad(
            "path".into(),
            format!("pooling module path '{pooling_path}' leaves the model directory"),
        ));
    }
    let path = dir.join(&pooling_path).join("config.json");
    let pooling = expect_object(&path, read_json(&path, "pooling configuration")?)?;
    let flag = |key: &str| -> Result<bool> {
        match pooling.get(key) {
            None | Some(Json::Null) => Ok(false),
            Some(Json::Bool(b)) => Ok(*b),
            Some(other) => Err(ConvertError::BadKey {
                path: path.clone(),
                key: key.into(),
                reason: format!("must be a boolean, found {}", json_kind(other)),
            }),
        }
    };
    if flag("pooling_mode_mean_tokens")? {
        Ok(Some(1))
    } else if flag("pooling_mode_cls_token")? {
        Ok(Some(2))
    } else if flag("pooling_mode_lasttoken")? {
        Ok(Some(3))
    } else {
        let set: Vec<&str> = pooling
            .iter()
            .filter(|(k, v)| k.starts_with("pooling_mode") && v.as_bool() == Some(true))
            .map(|(k, _)| k.as_str())
            .collect();
        Err(ConvertError::UnknownPooling {
            path,
            reason: if set.is_empty() {
                "no pooling mode is enabled; llama.cpp supports mean, cls and last-token pooling"
                    .into()
            } else {
                format!(
                    "{} is not supported; llama.cpp supports mean, cls and last-token pooling",
                    set.join(", ")
                )
            },
        })
    }
}
