//! The WordPiece vocabulary and special tokens, as llama.cpp's `BertModel.set_vocab` (with
//! `TextModel.get_vocab_base`) and gguf-py's `SpecialVocab` write them.

use std::path::{Path, PathBuf};

use gguf_loader::{Array, Value};
use serde_json::{Map, Value as Json};

mod special;

use super::hf::{self, Config};
use super::pretok;
use super::{ConvertError, Result};
use special::{AddedToken, Special, special_vocab};

/// gguf-py's `TokenType`.
const NORMAL: i32 = 1;
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;
const UNUSED: i32 = 5;

/// Largest vocabulary accepted (before allocating a token list for it).
const MAX_VOCAB: u64 = 1 << 24;

/// The vocabulary and tokenizer metadata of a model.
#[derive(Debug)]
pub(crate) struct Vocab {
    /// Tokens in id order, in llama.cpp's phantom-space spelling.
    pub tokens: Vec<String>,
    /// gguf-py token types, in id order.
    pub toktypes: Vec<i32>,
    /// `tokenizer.ggml.pre`.
    pub pre: String,
    special: Special,
}

/// `TextModel.does_token_look_special`.
fn looks_special(token: &str) -> bool {
    matches!(token, "<pad>" | "<mask>" | "<2mass>" | "[@BOS@]")
        || (token.starts_with("<|") && token.ends_with("|>"))
        || (token.starts_with("<｜") && token.ends_with("｜>"))
        || (token.starts_with("<unused") && token.ends_with('>'))
}

/// `BertModel.set_vocab`'s phantom-space spelling.
fn phantom(token: &str, toktype: i32) -> String {
    if toktype == CONTROL {
        token.to_string()
    } else if let Some(rest) = token.strip_prefix("##") {
        rest.to_string()
    } else {
        format!("\u{2581}{token}")
    }
}

/// Loads the vocabulary from `tokenizer.json` (preferred) or `vocab.txt`, with the special
/// tokens from `tokenizer_config.json` and `config.json`.
pub(crate) fn load(dir: &Path, config: &Config, warnings: &mut Vec<String>) -> Result<Vocab> {
    let tokenizer_path = dir.join("tokenizer.json");
    let vocab_txt = dir.join("vocab.txt");
    let tc_path = dir.join("tokenizer_config.json");
    let tokenizer_config = match hf::read_optional_json(&tc_path)? {
        Some(j) => Some(hf::expect_object(&tc_path, j)?),
        None => None,
    };

    // token -> id, as transformers' `tokenizer.vocab` (base vocabulary plus added tokens).
    let mut entries: Vec<(String, u64)>;
    let added: Vec<AddedToken>;
    let tokenizer_json: Option<Map<String, Json>>;
    let vocab_source: PathBuf;
    if tokenizer_path.exists() {
        let tok = hf::expect_object(
            &tokenizer_path,
            hf::read_json(&tokenizer_path, "tokenizer")?,
        )?;
        let bad = |reason: String| ConvertError::Vocab {
            path: tokenizer_path.clone(),
            reason,
        };
        let model = tok
            .get("model")
            .and_then(Json::as_object)
            .ok_or_else(|| bad("key 'model' is missing or not an object".into()))?;
        let ty = model
            .get("type")
            .and_then(Json::as_str)
            .unwrap_or("WordPiece");
        if ty != "WordPiece" {
            return Err(bad(format!(
                "tokenizer model is {ty}, but BERT needs a WordPiece tokenizer"
            )));
        }
        let vocab = model
            .get("vocab")
            .and_then(Json::as_object)
            .ok_or_else(|| bad("key 'model.vocab' is missing or not an object".into()))?;
        entries = Vec::with_capacity(vocab.len());
        for (token, id) in vocab {
            let id = id.as_u64().ok_or_else(|| {
                bad(format!(
                    "id of token {token:?} in 'model.vocab' is not a non-negative integer"
                ))
            })?;
            entries.push((token.clone(), id));
        }
        let mut list = Vec::new();
        if let Some(a) = tok.get("added_tokens") {
            let a = a
                .as_array()
                .ok_or_else(|| bad("key 'added_tokens' is not a list".into()))?;
            for (i, t) in a.iter().enumerate() {
                let id = t.get("id").and_then(Json::as_u64);
                let content = t.get("content").and_then(Json::as_str);
                let (Some(id), Some(content)) = (id, content) else {
                    return Err(bad(format!(
                        "added_tokens[{i}] needs an integer 'id' and a string 'content'"
                    )));
                };
                let special = t.get("special").and_then(Json::as_bool).unwrap_or(false);
                list.push(AddedToken {
                    id,
                    content: content.to_string(),
                    special,
                });
            }
        }
        added = list;
        tokenizer_json = Some(tok);
        vocab_source = tokenizer_path.clone();
    } else if vocab_txt.exists() {
        let text = std::fs::read(&vocab_txt).map_err(|source| ConvertError::Io {
            path: vocab_txt.clone(),
            source,
        })?;
        let text = String::from_utf8(text).map_err(|e| ConvertError::Vocab {
            path: vocab_txt.clone(),
            reason: format!("not valid UTF-8: {e}"),
        })?;
        entries = text
            .split_terminator('\n')
            .enumerate()
            .map(|(i, line)| {
                (
                    line.strip_suffix('\r').unwrap_or(line).to_string(),
                    i as u64,
                )
            })
            .collect();
        // A slow BertTokenizer registers its special tokens as added tokens.
        let mut list = Vec::new();
        if let Some(tc) = &tokenizer_config {
            let map_path = dir.join("special_tokens_map.json");
            let map = match hf::read_optional_json(&map_path)? {
                Some(j) => hf::expect_object(&map_path, j)?,
                None => Map::new(),
            };
            for key in [
                "bos_token",
                "eos_token",
                "unk_token",
                "sep_token",
                "pad_token",
                "cls_token",
                "mask_token",
            ] {
                let v = tc.get(key).or_else(|| map.get(key));
                let content = match v {
                    Some(Json::String(s)) => s.as_str(),
                    Some(Json::Object(o)) => o.get("content").and_then(Json::as_str).unwrap_or(""),
                    _ => "",
                };
                if let Some((_, id)) = entries.iter().find(|(t, _)| t == content) {
                    list.push(AddedToken {
                        id: *id,
                        content: content.to_string(),
                        special: true,
                    });
                }
            }
        }
        added = list;
        tokenizer_json = None;
        vocab_source = vocab_txt.clone();
    } else {
        return Err(ConvertError::Vocab {
            path: dir.to_path_buf(),
            reason: "neither tokenizer.json nor vocab.txt is present".into(),
        });
    }
    for a in &added {
        entries.push((a.content.clone(), a.id));
    }
    if entries.is_empty() {
        return Err(ConvertError::Vocab {
            path: vocab_source,
            reason: "the vocabulary is empty".into(),
        });
    }

    let n_vocab = match config.vocab_size {
        Some(n) => n,
        None => {
            let mut uniq: Vec<&str> = entries.iter().map(|(t, _)| t.as_str()).collect();
            uniq.sort_unstable();
            uniq.dedup();
            uniq.len() as u64
        }
    };
    if n_vocab > MAX_VOCAB {
        return Err(ConvertError::Vocab {
            path: vocab_source,
            reason: format!(
                "vocab_size {n_vocab} (config.json) is implausibly large (limit {MAX_VOCAB})"
            ),
        });
    }
    let max_id = entries.iter().map(|(_, id)| *id).max().unwrap_or(0);
    if max_id >= n_vocab {
        return Err(ConvertError::Vocab {
            path: vocab_source,
            reason: format!("token id {max_id} is not below vocab_size {n_vocab} (config.json)"),
        });
    }
    let n_vocab = n_vocab as usize;
    let mut reverse: Vec<Option<&str>> = vec![None; n_vocab];
    for (token, id) in &entries {
        reverse[*id as usize] = Some(token);
    }
    let mut tokens = Vec::with_capacity(n_vocab);
    let mut toktypes = Vec::with_capacity(n_vocab);
    for (i, token) in reverse.iter().enumerate() {
        let (token, ty) = match token {
            None => (format!("[PAD{i}]"), UNUSED),
            Some(token) => match added.iter().rev().find(|a| a.content == *token) {
                Some(a) if a.special || looks_special(token) => (token.to_string(), CONTROL),
                Some(_) => (token.replace('\u{2581}', " "), USER_DEFINED),
                None => (token.to_string(), NORMAL),
            },
        };
        tokens.push(phantom(&token, ty));
        toktypes.push(ty);
    }

    let special = special_vocab(
        dir,
        tokenizer_json.as_ref(),
        tokenizer_config.clone(),
        &added,
        &config.raw,
        n_vocab,
    )?;
    let lowercase_wordpiece = match &tokenizer_json {
        Some(_) => special.lowercase,
        None => tokenizer_config_lowercases(&tc_path)?,
    };
    let fallback = if lowercase_wordpiece {
        "jina-v2-en"
    } else {
        "default"
    };
    let pre = if tokenizer_json.is_some() {
        match pretok::identify(&tokenizer_path) {
            pretok::PreTokenizer::Known(name) => name.to_string(),
            pretok::PreTokenizer::Unknown(hash) => {
                warnings.push(format!(
                    "tokenizer.ggml.pre: the probe hash {hash} of tokenizer.json is not in llama.cpp's table \
                     (llama.cpp refuses to convert such a tokenizer); wrote '{fallback}'"
                ));
                fallback.to_string()
            }
            pretok::PreTokenizer::Unavailable(reason) => {
                warnings.push(format!(
                    "tokenizer.ggml.pre: the tokenizers library cannot run tokenizer.json ({reason}); wrote '{fallback}'"
                ));
                fallback.to_string()
            }
        }
    } else {
        let tc = tokenizer_config.as_ref();
        let flag = |key: &str, default: bool| {
            tc.and_then(|m| m.get(key))
                .and_then(Json::as_bool)
                .unwrap_or(default)
        };
        let token = |key: &str, default: &'static str| -> String {
            match tc.and_then(|m| m.get(key)) {
                Some(Json::String(s)) => s.clone(),
                Some(Json::Object(o)) => o
                    .get("content")
                    .and_then(Json::as_str)
                    .unwrap_or(default)
                    .to_string(),
                _ => default.to_string(),
            }
        };
        let (unk, cls, sep) = (
            token("unk_token", "[UNK]"),
            token("cls_token", "[CLS]"),
            token("sep_token", "[SEP]"),
        );
        let slow = pretok::SlowBert {
            vocab: entries
                .iter()
                .map(|(t, id)| (t.clone(), *id as u32))
                .collect(),
            do_lower_case: flag("do_lower_case", true),
            tokenize_chinese_chars: flag("tokenize_chinese_chars", true),
            strip_accents: tc
                .and_then(|m| m.get("strip_accents"))
                .and_then(Json::as_bool),
            unk: &unk,
            cls: &cls,
            sep: &sep,
        };
        match pretok::identify_slow_bert(&slow) {
            pretok::PreTokenizer::Known(name) => name.to_string(),
            other => {
                let why = match other {
                    pretok::PreTokenizer::Unknown(hash) => format!(
                        "the probe hash {hash} of the tokenizer built from vocab.txt is not in llama.cpp's table \
                         (llama.cpp refuses to convert such a tokenizer)"
                    ),
                    pretok::PreTokenizer::Unavailable(reason) => {
                        format!("cannot build a tokenizer from vocab.txt ({reason})")
                    }
                    pretok::PreTokenizer::Known(_) => unreachable!("handled above"),
                };
                warnings.push(format!("tokenizer.ggml.pre: {why}; wrote '{fallback}'"));
                fallback.to_string()
            }
        }
    };
    Ok(Vocab {
        tokens,
        toktypes,
        pre,
        special,
    })
}

/// Whether a slow BertTokenizer lowercases (`do_lower_case`, true by default).
fn tokenizer_config_lowercases(path: &Path) -> Result<bool> {
    match hf::read_optional_json(path)? {
        Some(Json::Object(m)) => Ok(m
            .get("do_lower_case")
            .and_then(Json::as_bool)
            .unwrap_or(true)),
        _ => Ok(true),
    }
}

impl Vocab {
    /// The `tokenizer.*` keys, in llama.cpp's order.
    pub(crate) fn metadata(&self, type_vocab_size: u64) -> Vec<(String, Value)> {
        let mut m: Vec<(String, Value)> = vec![
            (
                "tokenizer.ggml.token_type_count".into(),
                Value::U32(type_vocab_size as u32),
            ),
            ("tokenizer.ggml.model".into(), "bert".into()),
            ("tokenizer.ggml.pre".into(), Value::String(self.pre.clone())),
            (
                "tokenizer.ggml.tokens".into(),
                Value::Array(Array::String(self.tokens.clone())),
            ),
            (
                "tokenizer.ggml.token_type".into(),
                Value::Array(Array::I32(self.toktypes.clone())),
            ),
        ];
        for (typ, id) in &self.special.ids {
            let key = match typ.as_str() {
                "bos" => "bos_token_id",
                "eos" => "eos_token_id",
                "unk" => "unknown_token_id",
                "sep" => "seperator_token_id",
                "pad" => "padding_token_id",
                "mask" => "mask_token_id",
                "eot" => "eot_token_id",
                "eom" => "eom_token_id",
                _ => continue, // gguf-py has no writer for cls: skipped with a warning there
            };
            m.push((format!("tokenizer.ggml.{key}"), Value::U32(*id)));
        }
        for (typ, add) in &self.special.add {
            if matches!(typ.as_str(), "bos" | "eos" | "sep") {
                m.push((format!("tokenizer.ggml.add_{typ}_token"), Value::Bool(*add)));
            }
        }
        if let Some(t) = &self.special.chat_template {
            m.push(("tokenizer.chat_template".into(), Value::String(t.clone())));
        }
        if self.special.lowercase {
            m.push((
                "tokenizer.ggml.normalizer.lowercase".into(),
                Value::Bool(true),
            ));
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phantom_spelling() {
        assert_eq!(phantom("[CLS]", CONTROL), "[CLS]");
        assert_eq!(phantom("[unused0]", NORMAL), "\u{2581}[unused0]");
        assert_eq!(phantom("##ing", NORMAL), "ing");
        assert_eq!(phantom("the", NORMAL), "\u{2581}the");
    }
}
