//! The reranking routes, for a server started on a reranker (cross-encoder) GGUF:
//!
//! - `POST /rerank` (TEI): `{"query", "texts", "truncate", "raw_scores", "return_text"}` →
//!   `[{"index", "score", "text"?}]`, best first; scores are sigmoid-mapped unless
//!   `raw_scores` (TEI's default).
//! - `POST /v1/rerank` (Cohere / Jina): `{"model", "query", "documents" (strings or
//!   `{"text"}`), "top_n", "return_documents", "raw_scores"}` →
//!   `{"model", "results": [{"index", "relevance_score", "document"?: {"text"}}], "usage":
//!   {"total_tokens"}}`, best first.
//!
//! Pairs are tokenized and scored on a blocking thread through `Model::score_tokens` (the
//! model's packed scheduler, token types included), so a pair's score is bit-identical to
//! `ggufembed rerank`'s. Pairs longer than the model's `max_len` are cut longest side first
//! when the request's `truncate` (or `--auto-truncate`) allows it, else refused with 413.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::input::parse_body;
use crate::routes::body;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
struct TeiRerankRequest {
    query: String,
    texts: Vec<String>,
    #[serde(default)]
    truncate: Option<bool>,
    #[serde(default)]
    raw_scores: bool,
    #[serde(default)]
    return_text: bool,
}

#[derive(Serialize)]
struct TeiRank {
    index: usize,
    score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CohereRequest {
    #[serde(default)]
    model: Option<String>,
    query: String,
    documents: Vec<Value>,
    #[serde(default)]
    top_n: Option<usize>,
    #[serde(default)]
    return_documents: bool,
    #[serde(default)]
    raw_scores: bool,
    #[serde(default)]
    truncate: Option<bool>,
}

#[derive(Serialize)]
struct CohereDocument {
    text: String,
}

#[derive(Serialize)]
struct CohereResult {
    index: usize,
    relevance_score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    document: Option<CohereDocument>,
}

#[derive(Serialize)]
struct CohereUsage {
    total_tokens: usize,
}

#[derive(Serialize)]
struct CohereResponse {
    model: String,
    results: Vec<CohereResult>,
    usage: CohereUsage,
}

/// One scored document.
struct Ranked {
    index: usize,
    score: f32,
}

/// Scores `documents` against `query`: best first (ties by index), sigmoid unless `raw`;
/// returns them with the request's token count.
async fn score(
    state: &Arc<AppState>,
    query: String,
    documents: Vec<String>,
    truncate: bool,
    raw: bool,
) -> Result<(Vec<Ranked>, usize, Vec<String>), ApiError> {
    if !state.model.is_reranker() {
        return Err(ApiError::invalid(
            "this server's model is an embedding model, not a reranker: start the server \
             on a cross-encoder GGUF to use /rerank",
        ));
    }
    if documents.is_empty() {
        return Err(ApiError::invalid("no documents to rerank"));
    }
    state.check_count(documents.len())?;
    let s = Arc::clone(state);
    let work = move || -> Result<(Vec<Ranked>, usize, Vec<String>), ApiError> {
        let model = &s.model;
        let mut pairs = Vec::with_capacity(documents.len());
        for (i, d) in documents.iter().enumerate() {
            let p = model
                .tokenize_pair(&query, d)
                .map_err(|e| ApiError::invalid(format!("document {i}: {e}")))?;
            if p.truncated && !truncate {
                return Err(ApiError::too_large(format!(
                    "document {i}: the (query, document) pair is longer than the limit of {} \
                     tokens; send \"truncate\": true or start the server with --auto-truncate",
                    model.max_len()
                )));
            }
            pairs.push(p);
        }
        let tokens = pairs.iter().map(|p| p.ids.len()).sum();
        let scores = model
            .score_tokens(&pairs)
            .map_err(|e| ApiError::internal(format!("scoring failed: {e}")))?;
        let mut ranked: Vec<Ranked> = scores
            .into_iter()
            .enumerate()
            .map(|(index, x)| Ranked {
                index,
                score: if raw { x } else { ggufembed::sigmoid(x) },
            })
            .collect();
        ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
        Ok((ranked, tokens, documents))
    };
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(format!("scoring failed: {e}")))?
}

/// `POST /rerank` (TEI).
pub async fn tei_rerank(
    State(state): State<Arc<AppState>>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let req: TeiRerankRequest = parse_body(&body(raw)?)?;
    let truncate = req.truncate.unwrap_or(state.args.auto_truncate);
    let (ranked, _, mut docs) =
        score(&state, req.query, req.texts, truncate, req.raw_scores).await?;
    let out: Vec<TeiRank> = ranked
        .into_iter()
        .map(|r| TeiRank {
            index: r.index,
            score: r.score,
            text: req.return_text.then(|| std::mem::take(&mut docs[r.index])),
        })
        .collect();
    Ok(Json(out).into_response())
}

/// A Cohere/Jina document: a string, or an object with a string `text`.
fn document_text(i: usize, v: Value) -> Result<String, ApiError> {
    match v {
        Value::String(s) => Ok(s),
        Value::Object(mut o) => match o.remove("text") {
            Some(Value::String(s)) => Ok(s),
            _ => Err(ApiError::invalid(format!(
                "`documents[{i}]` must be a string or an object with a string \"text\""
            ))),
        },
        _ => Err(ApiError::invalid(format!(
            "`documents[{i}]` must be a string or an object with a string \"text\""
        ))),
    }
}

/// `POST /v1/rerank` (Cohere / Jina).
pub async fn cohere_rerank(
    State(state): State<Arc<AppState>>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let req: CohereRequest = parse_body(&body(raw)?)?;
    if req.top_n == Some(0) {
        return Err(ApiError::invalid("`top_n` must be at least 1"));
    }
    let docs = req
        .documents
        .into_iter()
        .enumerate()
        .map(|(i, v)| document_text(i, v))
        .collect::<Result<Vec<_>, _>>()?;
    let truncate = req.truncate.unwrap_or(state.args.auto_truncate);
    let (mut ranked, tokens, mut docs) =
        score(&state, req.query, docs, truncate, req.raw_scores).await?;
    if let Some(n) = req.top_n {
        ranked.truncate(n);
    }
    let results = ranked
        .into_iter()
        .map(|r| CohereResult {
            index: r.index,
            relevance_score: r.score,
            document: req.return_documents.then(|| CohereDocument {
                text: std::mem::take(&mut docs[r.index]),
            }),
        })
        .collect();
    Ok(Json(CohereResponse {
        model: req.model.unwrap_or_else(|| state.model_name.clone()),
        results,
        usage: CohereUsage {
            total_tokens: tokens,
        },
    })
    .into_response())
}
