//! The HTTP routes: OpenAI's `/v1/embeddings`, TEI's `/embed` and `/tokenize`, and `/health`,
//! `/info`, `/metrics`. (`/rerank` and `/v1/rerank` are in `rerank`.)

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::input::{Inputs, parse_body, parse_inputs};
use crate::state::{AppState, truncate_rows};

/// The body, or a 413 (over `--payload-limit`) / 400 naming why it could not be read.
pub(crate) fn body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        let status = e.status();
        if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large("the body is larger than the limit (--payload-limit)")
        } else {
            ApiError::new(status, format!("cannot read the body: {}", e.body_text()))
        }
    })
}

/// `encoding_format` of OpenAI's request.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Encoding {
    #[default]
    Float,
    Base64,
}

#[derive(Debug, Deserialize)]
struct OpenAiRequest {
    input: Value,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    encoding_format: Option<Encoding>,
    #[serde(default)]
    dimensions: Option<usize>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Vector {
    Float(Vec<f32>),
    Base64(String),
}

#[derive(Serialize)]
struct OpenAiItem {
    object: &'static str,
    index: usize,
    embedding: Vector,
}

#[derive(Serialize)]
struct Usage {
    prompt_tokens: usize,
    total_tokens: usize,
}

#[derive(Serialize)]
struct OpenAiResponse {
    object: &'static str,
    data: Vec<OpenAiItem>,
    model: String,
    usage: Usage,
}

/// `POST /v1/embeddings`.
pub async fn openai_embeddings(
    State(state): State<Arc<AppState>>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    state.check_embedder()?;
    let req: OpenAiRequest = parse_body(&body(raw)?)?;
    let inputs = parse_inputs(req.input, "input")?;
    state.check_dimensions(req.dimensions)?;
    let prompt = state.prompt(None)?;
    let prepared = state
        .prepare(inputs, state.args.auto_truncate, prompt)
        .await?;
    let tokens = prepared.tokens;
    let mut rows = state.embed(prepared).await?;
    truncate_rows(&mut rows, req.dimensions, state.model.options().normalize);
    let base64 = req.encoding_format == Some(Encoding::Base64);
    let data = rows
        .into_iter()
        .enumerate()
        .map(|(index, row)| OpenAiItem {
            object: "embedding",
            index,
            embedding: if base64 {
                // Little-endian f32, as OpenAI's clients decode it.
                let bytes: Vec<u8> = row.iter().flat_map(|x| x.to_le_bytes()).collect();
                Vector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                Vector::Float(row)
            },
        })
        .collect();
    Ok(Json(OpenAiResponse {
        object: "list",
        data,
        model: req.model.unwrap_or_else(|| state.model_name.clone()),
        usage: Usage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
    })
    .into_response())
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
struct TeiRequest {
    inputs: Value,
    #[serde(default)]
    truncate: Option<bool>,
    #[serde(default = "yes")]
    normalize: bool,
    #[serde(default)]
    prompt_name: Option<String>,
    #[serde(default)]
    dimensions: Option<usize>,
}

/// `POST /embed` (TEI): an array of vectors.
pub async fn tei_embed(
    State(state): State<Arc<AppState>>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    state.check_embedder()?;
    let req: TeiRequest = parse_body(&body(raw)?)?;
    let inputs = parse_inputs(req.inputs, "inputs")?;
    let normalized = state.model.options().normalize;
    if req.normalize != normalized {
        return Err(ApiError::invalid(format!(
            "`normalize`: this server's model gives {} embeddings; `normalize: {}` is not supported",
            if normalized {
                "normalized"
            } else {
                "unnormalized"
            },
            req.normalize
        )));
    }
    state.check_dimensions(req.dimensions)?;
    let prompt = state.prompt(req.prompt_name.as_deref())?;
    let truncate = req.truncate.unwrap_or(state.args.auto_truncate);
    let prepared = state.prepare(inputs, truncate, prompt).await?;
    let mut rows = state.embed(prepared).await?;
    truncate_rows(&mut rows, req.dimensions, normalized);
    Ok(Json(rows).into_response())
}

#[derive(Debug, Deserialize)]
struct TokenizeRequest {
    inputs: Value,
    #[serde(default)]
    prompt_name: Option<String>,
}

/// `POST /tokenize` (TEI's route): each text's ids as `ggufembed tokenize` gives them (prompt
/// applied, special tokens included, not truncated).
pub async fn tokenize(
    State(state): State<Arc<AppState>>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let req: TokenizeRequest = parse_body(&body(raw)?)?;
    let Inputs::Texts(texts) = parse_inputs(req.inputs, "inputs")? else {
        return Err(ApiError::invalid(
            "`inputs` must be a string or an array of strings",
        ));
    };
    state.check_count(texts.len())?;
    let prompt = state.prompt(req.prompt_name.as_deref())?;
    let s = Arc::clone(&state);
    let work = move || -> Result<Vec<Vec<u32>>, ApiError> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let text = prompt.map_or_else(|| t.clone(), |p| format!("{p}{t}"));
                s.model
                    .tokenize(&text)
                    .map_err(|e| ApiError::invalid(format!("input {i}: {e}")))
            })
            .collect()
    };
    let ids = tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(format!("tokenization failed: {e}")))??;
    Ok(Json(ids).into_response())
}

/// `GET /health`: 200 once the model is loaded (the server listens only after loading it).
pub async fn health() -> Response {
    Json(serde_json::json!({"status": "ok"})).into_response()
}

/// `GET /info`: the model and the server's limits.
pub async fn info(State(state): State<Arc<AppState>>) -> Response {
    let model = &state.model;
    let a = &state.args;
    let mut types: Vec<String> = model
        .gguf()
        .tensors()
        .iter()
        .map(|t| t.ggml_type().to_string())
        .collect();
    types.sort();
    types.dedup();
    let presets: Vec<&str> = ggufembed::prompt_presets(model.architecture())
        .iter()
        .map(|(n, _)| *n)
        .collect();
    Json(serde_json::json!({
        "model_id": state.model_name,
        "architecture": model.architecture(),
        "model_type": if model.is_reranker() { "reranker" } else { "embedding" },
        "dimensions": model.dim(),
        "max_input_length": model.max_len(),
        "tensor_types": types,
        "pooling": format!("{:?}", model.pooling()).to_lowercase(),
        "normalized": model.options().normalize,
        "threads": model.threads(),
        "token_budget": model.token_budget(),
        "prompt_presets": presets,
        "max_batch_tokens": a.max_batch_tokens,
        "max_batch_requests": a.max_batch_requests,
        "batch_timeout_ms": a.batch_timeout_ms,
        "max_concurrent_requests": a.max_concurrent_requests,
        "max_client_batch_size": a.max_client_batch_size,
        "payload_limit": a.payload_limit,
        "auto_truncate": a.auto_truncate,
        "version": env!("CARGO_PKG_VERSION"),
    }))
    .into_response()
}

/// `GET /metrics`: Prometheus text.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// Any other path: a JSON 404.
pub async fn not_found() -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_FOUND, "no such route")
}
