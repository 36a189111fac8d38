//! Request bodies: JSON parsing with errors that name the problem (400 for a body that is not
//! JSON, 422 for JSON of the wrong shape), and the `input`/`inputs` field's forms.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

/// What a request asks to embed or tokenize.
#[derive(Debug, PartialEq, Eq)]
pub enum Inputs {
    /// Texts, tokenized by the server.
    Texts(Vec<String>),
    /// Token-id sequences, used as they are (special tokens included).
    Tokens(Vec<Vec<u32>>),
}

impl Inputs {
    /// How many inputs.
    pub fn len(&self) -> usize {
        match self {
            Inputs::Texts(t) => t.len(),
            Inputs::Tokens(t) => t.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Parses a request body (already within the payload limit) into `T`.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::invalid(format!("invalid request: {e}")),
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::bad_request(format!("the body is not valid JSON: {e}"))
            }
        }
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn token_id(v: &Value, field: &str, at: &str) -> Result<u32, ApiError> {
    v.as_u64()
        .and_then(|id| u32::try_from(id).ok())
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "`{field}{at}` must be a token id (an integer in 0..2^32), found {}",
                match v {
                    Value::Number(n) => format!("{n}"),
                    other => kind(other).to_string(),
                }
            ))
        })
}

fn ids(items: &[Value], field: &str, at: &str) -> Result<Vec<u32>, ApiError> {
    items
        .iter()
        .enumerate()
        .map(|(j, v)| token_id(v, field, &format!("{at}[{j}]")))
        .collect()
}

/// The `input` (OpenAI) or `inputs` (TEI) field: a string, an array of strings, an array of
/// token ids, or an array of token-id arrays. `field` names it in errors.
pub fn parse_inputs(value: Value, field: &str) -> Result<Inputs, ApiError> {
    let items = match value {
        Value::String(s) => return Ok(Inputs::Texts(vec![s])),
        Value::Array(items) => items,
        other => {
            return Err(ApiError::invalid(format!(
                "`{field}` must be a string, an array of strings or an array of token-id arrays, found {}",
                kind(&other)
            )));
        }
    };
    let Some(first) = items.first() else {
        return Err(ApiError::invalid(format!("`{field}` is empty")));
    };
    match first {
        Value::String(_) => {
            let mut texts = Vec::with_capacity(items.len());
            for (i, v) in items.into_iter().enumerate() {
                match v {
                    Value::String(s) => texts.push(s),
                    other => {
                        return Err(ApiError::invalid(format!(
                            "`{field}[{i}]` must be a string like `{field}[0]`, found {}",
                            kind(&other)
                        )));
                    }
                }
            }
            Ok(Inputs::Texts(texts))
        }
        Value::Number(_) => Ok(Inputs::Tokens(vec![ids(&items, field, "")?])),
        Value::Array(_) => {
            let mut seqs = Vec::with_capacity(items.len());
            for (i, v) in items.iter().enumerate() {
                match v {
                    Value::Array(inner) => seqs.push(ids(inner, field, &format!("[{i}]"))?),
                    other => {
                        return Err(ApiError::invalid(format!(
                            "`{field}[{i}]` must be an array of token ids like `{field}[0]`, found {}",
                            kind(other)
                        )));
                    }
                }
            }
            Ok(Inputs::Tokens(seqs))
        }
        other => Err(ApiError::invalid(format!(
            "`{field}[0]` must be a string, a token id or an array of token ids, found {}",
            kind(other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_form_and_every_wrong_type() {
        assert_eq!(
            parse_inputs(json!("a"), "input").unwrap(),
            Inputs::Texts(vec!["a".into()])
        );
        assert_eq!(
            parse_inputs(json!(["a", "b"]), "input").unwrap(),
            Inputs::Texts(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            parse_inputs(json!([1, 2]), "input").unwrap(),
            Inputs::Tokens(vec![vec![1, 2]])
        );
        assert_eq!(
            parse_inputs(json!([[1], [2, 3]]), "input").unwrap(),
            Inputs::Tokens(vec![vec![1], vec![2, 3]])
        );
        for (v, needle) in [
            (json!(5), "found a number"),
            (json!([]), "`input` is empty"),
            (json!(["a", 1]), "`input[1]` must be a string"),
            (json!([[1], "x"]), "`input[1]` must be an array"),
            (json!([[1, -1]]), "`input[0][1]` must be a token id"),
            (
                json!([1, 5_000_000_000u64]),
                "`input[1]` must be a token id",
            ),
            (json!([{}]), "`input[0]` must be a string"),
        ] {
            let e = parse_inputs(v.clone(), "input").unwrap_err();
            assert_eq!(e.status, 422, "{v}");
            assert!(e.message.contains(needle), "{v}: {}", e.message);
        }
    }

    #[test]
    fn syntax_errors_are_400_and_type_errors_422() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct R {
            n: u32,
        }
        let e = parse_body::<R>(b"{\"n\": ").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("not valid JSON"), "{}", e.message);
        let e = parse_body::<R>(b"{\"n\": \"x\"}").unwrap_err();
        assert_eq!(e.status, 422);
        assert!(e.message.contains("invalid type"), "{}", e.message);
        let e = parse_body::<R>(b"{}").unwrap_err();
        assert!(e.message.contains("missing field `n`"), "{}", e.message);
    }
}
