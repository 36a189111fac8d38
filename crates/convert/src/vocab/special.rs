//! The special tokens, as gguf-py's `SpecialVocab` reads them: ids and add-flags from
//! `tokenizer.json` (its normalizer and post-processor), `tokenizer_config.json` and
//! `config.json`.

use std::path::Path;

use serde_json::{Map, Value as Json};

use crate::hf;
use crate::{ConvertError, Result};

/// An added token of tokenizer.json.
pub(super) struct AddedToken {
    pub(super) id: u64,
    pub(super) content: String,
    pub(super) special: bool,
}

/// Python truthiness of an optional JSON value.
fn truthy(v: Option<&Json>) -> bool {
    match v {
        None | Some(Json::Null) => false,
        Some(Json::Bool(b)) => *b,
        Some(Json::String(s)) => !s.is_empty(),
        Some(Json::Array(a)) => !a.is_empty(),
        Some(Json::Object(o)) => !o.is_empty(),
        Some(Json::Number(n)) => n.as_f64() != Some(0.0),
    }
}

/// Whether a tokenizer.json normalizer lowercases (gguf-py's `_parse_normalizer`).
fn normalizer_lowercases(normalizer: &Json) -> bool {
    match normalizer.get("type").and_then(Json::as_str) {
        Some("Lowercase") => true,
        Some("BertNormalizer") => normalizer
            .get("lowercase")
            .and_then(Json::as_bool)
            .unwrap_or(true),
        Some("Sequence") => normalizer
            .get("normalizers")
            .and_then(Json::as_array)
            .is_some_and(|ns| ns.iter().any(normalizer_lowercases)),
        _ => false,
    }
}

/// The special tokens of a vocabulary: what `tokenizer.ggml.*_token_id` and
/// `add_*_token` are written from.
#[derive(Debug, Default)]
pub(super) struct Special {
    /// (type, id) in the order gguf-py's `special_token_ids` dict holds them.
    pub(super) ids: Vec<(String, u32)>,
    /// (type, add) in the order of gguf-py's `add_special_token` dict.
    pub(super) add: Vec<(String, bool)>,
    pub(super) chat_template: Option<String>,
    pub(super) lowercase: bool,
    pub(super) types: Vec<String>,
}

impl Special {
    fn set_id(&mut self, typ: &str, id: Option<&Json>, n_vocab: usize) {
        let Some(id) = id.and_then(Json::as_u64) else {
            return;
        };
        if id < n_vocab as u64 && !self.ids.iter().any(|(t, _)| t == typ) {
            self.ids.push((typ.to_string(), id as u32));
        }
    }

    fn set_add(&mut self, typ: &str, value: bool) {
        match self.add.iter_mut().find(|(t, _)| t == typ) {
            Some(entry) => entry.1 = value,
            None => self.add.push((typ.to_string(), value)),
        }
    }
}

/// gguf-py's `SpecialVocab(dir, n_vocab=...)`: `_try_load_from_tokenizer_json` then
/// `_try_load_from_config_json`.
pub(super) fn special_vocab(
    dir: &Path,
    tokenizer: Option<&Map<String, Json>>,
    mut tc: Option<Map<String, Json>>,
    added: &[AddedToken],
    config: &Map<String, Json>,
    n_vocab: usize,
) -> Result<Special> {
    let mut s = Special {
        types: ["bos", "eos", "unk", "sep", "pad", "cls", "mask"]
            .map(String::from)
            .to_vec(),
        ..Special::default()
    };
    // Without tokenizer.json gguf-py looks special tokens up in an empty added-token list.
    let added: &[AddedToken] = if tokenizer.is_some() { added } else { &[] };
    if let Some(tok) = tokenizer {
        if let Some(n) = tok.get("normalizer").filter(|n| truthy(Some(n))) {
            s.lowercase = normalizer_lowercases(n);
        }
        parse_post_processor(tok, &mut tc, &mut s);
    }
    let tc_truthy = tc.as_ref().is_some_and(|m| !m.is_empty());
    if tc_truthy {
        let tc = tc.as_ref().expect("checked");
        let jinja = dir.join("chat_template.jinja");
        let json = dir.join("chat_template.json");
        let alt = if jinja.is_file() {
            Some(Json::String(std::fs::read_to_string(&jinja).map_err(
                |source| ConvertError::Io {
                    path: jinja,
                    source,
                },
            )?))
        } else if json.is_file() {
            hf::read_json(&json, "chat template")?
                .get("chat_template")
                .cloned()
        } else {
            None
        };
        if let Some(Json::String(t)) = tc.get("chat_template").cloned().or(alt) {
            s.chat_template = Some(t);
        }
        for typ in s.types.clone() {
            if let Some(Json::Bool(b)) = tc.get(&format!("add_{typ}_token")) {
                s.set_add(&typ, *b);
            }
            let content = match tc.get(&format!("{typ}_token")) {
                Some(Json::String(c)) => c.clone(),
                Some(Json::Object(o)) => match o.get("content") {
                    Some(Json::String(c)) => c.clone(),
                    _ => continue,
                },
                _ => continue,
            };
            let id = added
                .iter()
                .find(|a| a.content == content)
                .map(|a| Json::from(a.id));
            s.set_id(&typ, id.as_ref(), n_vocab);
        }
    }
    for typ in s.types.clone() {
        let key = format!("{typ}_token_id");
        let id = config
            .get(&key)
            .filter(|v| !v.is_null())
            .or_else(|| config.get("text_config").and_then(|t| t.get(&key)));
        s.set_id(&typ, id, n_vocab);
    }
    Ok(s)
}

/// The `post_processor` part of gguf-py's `_try_load_from_tokenizer_json`: which of BOS, EOS
/// and SEP the tokenizer adds.
fn parse_post_processor(
    tok: &Map<String, Json>,
    tc: &mut Option<Map<String, Json>>,
    s: &mut Special,
) {
    let tc_truthy = tc.as_ref().is_some_and(|m| !m.is_empty());
    let get = |tc: &Option<Map<String, Json>>, k: &str| tc.as_ref().and_then(|m| m.get(k)).cloned();
    let mut bos = get(tc, "bos_token");
    let mut cls = get(tc, "cls_token");
    let mut eos = get(tc, "eos_token");
    let mut sep = get(tc, "sep_token");
    let set = |tc: &mut Option<Map<String, Json>>, k: &str, v: Option<Json>| {
        if let (Some(m), Some(v)) = (tc.as_mut(), v) {
            m.insert(k.to_string(), v);
        }
    };
    if !truthy(bos.as_ref()) && truthy(cls.as_ref()) && tc_truthy {
        bos = cls.clone();
        set(tc, "bos_token", bos.clone());
    }
    if !truthy(eos.as_ref()) && truthy(sep.as_ref()) && tc_truthy {
        eos = sep.clone();
        set(tc, "eos_token", eos.clone());
    }
    let Some(pp) = tok.get("post_processor").filter(|p| truthy(Some(p))) else {
        return;
    };
    let processors: Vec<&Json> = match pp.get("processors").and_then(Json::as_array) {
        Some(list) => list.iter().collect(),
        None => vec![pp],
    };
    let special_id = |item: Option<&Json>| -> Option<String> {
        item.and_then(|i| i.get("SpecialToken"))
            .and_then(|t| t.get("id"))
            .and_then(Json::as_str)
            .map(String::from)
    };
    let is = |v: &Option<Json>, tokstr: &str| v.as_ref().and_then(Json::as_str) == Some(tokstr);
    for processor in processors {
        match processor.get("type").and_then(Json::as_str) {
            Some("RobertaProcessing") => {
                s.set_add("bos", true);
                s.set_add("eos", true);
                s.set_add("sep", true);
                if !truthy(cls.as_ref()) && tc_truthy {
                    cls = processor
                        .get("cls")
                        .and_then(|c| c.get(0))
                        .cloned()
                        .or(bos.clone());
                    set(tc, "cls_token", cls.clone());
                }
                if !truthy(sep.as_ref()) && tc_truthy {
                    sep = processor
                        .get("sep")
                        .and_then(|c| c.get(0))
                        .cloned()
                        .or(eos.clone());
                    set(tc, "sep_token", sep.clone());
                }
            }
            Some("TemplateProcessing") => {
                let empty = Vec::new();
                let single = processor
                    .get("single")
                    .and_then(Json::as_array)
                    .unwrap_or(&empty);
                let pair = processor
                    .get("pair")
                    .and_then(Json::as_array)
                    .unwrap_or(&empty);
                let mut first: Option<String> = None;
                let mut last: Option<String> = None;
                if single.len() > 1 {
                    first = special_id(single.first()).filter(|f| !f.is_empty());
                    if let Some(f) = &first {
                        if !tc_truthy {
                            bos = Some(Json::String(f.clone()));
                        }
                        s.set_add("bos", is(&bos, f) || is(&cls, f));
                    }
                    last = special_id(single.last()).filter(|l| !l.is_empty());
                    if let Some(l) = &last {
                        if !tc_truthy {
                            eos = Some(Json::String(l.clone()));
                        } else if !is(&eos, l) {
                            if !s.types.iter().any(|t| t == "eot") {
                                s.types.push("eot".into());
                                set(tc, "eot_token", eos.clone());
                            } else if !s.types.iter().any(|t| t == "eom") {
                                s.types.push("eom".into());
                                set(tc, "eom_token", eos.clone());
                            }
                            eos = Some(Json::String(l.clone()));
                            set(tc, "eos_token", eos.clone());
                        }
                        s.set_add("eos", is(&eos, l));
                    }
                }
                if !pair.is_empty() {
                    let start = usize::from(first.is_some() && special_id(pair.first()) == first);
                    let stop = if last.is_some() && special_id(pair.last()) == last {
                        pair.len() - 1
                    } else {
                        pair.len()
                    };
                    let inner = if start < stop {
                        &pair[start..stop]
                    } else {
                        &[][..]
                    };
                    if !inner.is_empty() {
                        let seq = |i: &Json| {
                            i.get("Sequence")
                                .and_then(|q| q.get("id"))
                                .and_then(Json::as_str)
                                .map(String::from)
                        };
                        let a = seq(&inner[0]);
                        let b = seq(&inner[inner.len() - 1]);
                        if a.as_deref() == Some("A") && b.as_deref() == Some("B") && inner.len() > 2
                        {
                            let middle = &inner[1..inner.len() - 1];
                            let mut add_sep = false;
                            if let Some(e) = special_id(middle.first()).filter(|e| !e.is_empty())
                                && (is(&sep, &e) || is(&eos, &e))
                                && last.is_none()
                            {
                                add_sep = true;
                            }
                            if middle.len() == 2
                                && let Some(e) = special_id(middle.get(1)).filter(|e| !e.is_empty())
                                && (is(&sep, &e) || is(&eos, &e))
                            {
                                add_sep = true;
                            }
                            s.set_add("sep", add_sep);
                            if add_sep && !truthy(sep.as_ref()) && tc_truthy {
                                set(tc, "sep_token", eos.clone());
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bert_template_adds_bos_and_eos_but_not_sep() {
        let tok: Map<String, Json> = serde_json::from_str(
            r#"{"post_processor": {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                           {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                         {"SpecialToken": {"id": "[SEP]", "type_id": 1}}]}}"#,
        )
        .unwrap();
        let mut tc: Option<Map<String, Json>> =
            Some(serde_json::from_str(r#"{"cls_token": "[CLS]", "sep_token": "[SEP]"}"#).unwrap());
        let mut s = Special {
            types: vec!["bos".into()],
            ..Special::default()
        };
        parse_post_processor(&tok, &mut tc, &mut s);
        assert_eq!(
            s.add,
            vec![
                ("bos".into(), true),
                ("eos".into(), true),
                ("sep".into(), false)
            ]
        );
        assert_eq!(tc.unwrap()["bos_token"], "[CLS]");
    }
}
