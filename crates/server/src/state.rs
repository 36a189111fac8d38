//! The server's shared state, and what every embedding route does around the batcher: checks
//! the request against the limits, tokenizes it off the worker pool, queues it, and shapes the
//! rows it gets back (Matryoshka truncation).

use std::sync::Arc;

use ggufembed::Model;
use tokio::sync::Semaphore;

use crate::batcher::Batcher;
use crate::config::ServeArgs;
use crate::error::ApiError;
use crate::input::Inputs;
use crate::metrics::Metrics;

/// What the routes share: the model, its batcher, the flags, the metrics, the admission
/// permits.
#[derive(Debug)]
pub struct AppState {
    /// The model (shared with the batcher's thread).
    pub model: Arc<Model>,
    /// The batcher in front of the model.
    pub batcher: Batcher,
    /// The flags the server was started with.
    pub args: ServeArgs,
    /// The model name in responses.
    pub model_name: String,
    /// The metrics of `/metrics`.
    pub metrics: Arc<Metrics>,
    /// One permit per request in flight (`--max-concurrent-requests`).
    pub admission: Arc<Semaphore>,
}

/// A request's sequences, ready for the batcher.
#[derive(Debug)]
pub struct Prepared {
    /// Ids per input, within `max_len` and the vocabulary.
    pub seqs: Vec<Vec<u32>>,
    /// Their total token count.
    pub tokens: usize,
}

impl AppState {
    /// The prompt text of preset `name` for this model's architecture.
    pub fn prompt(&self, name: Option<&str>) -> Result<Option<&'static str>, ApiError> {
        let Some(name) = name.or(self.args.prompt_name.as_deref()) else {
            return Ok(None);
        };
        let presets = ggufembed::prompt_presets(self.model.architecture());
        if presets.is_empty() {
            return Err(ApiError::invalid(format!(
                "`prompt_name`: architecture '{}' has no prompt presets",
                self.model.architecture()
            )));
        }
        match presets.iter().find(|(n, _)| *n == name) {
            Some((_, p)) => Ok(Some(p)),
            None => {
                let names: Vec<&str> = presets.iter().map(|(n, _)| *n).collect();
                Err(ApiError::invalid(format!(
                    "`prompt_name`: unknown preset '{name}' (known: {})",
                    names.join(", ")
                )))
            }
        }
    }

    /// Refuses embedding requests on a reranker's server.
    pub fn check_embedder(&self) -> Result<(), ApiError> {
        if self.model.is_reranker() {
            return Err(ApiError::invalid(
                "this server's model is a reranker (a cross-encoder), not an embedding \
                 model: use /rerank or /v1/rerank",
            ));
        }
        Ok(())
    }

    /// Refuses a request with more inputs than `--max-client-batch-size`, or none.
    pub fn check_count(&self, n: usize) -> Result<(), ApiError> {
        let max = self.args.max_client_batch_size as usize;
        if n > max {
            return Err(ApiError::too_large(format!(
                "{n} inputs in one request, above the limit of {max} (--max-client-batch-size)"
            )));
        }
        Ok(())
    }

    /// Checks and tokenizes `inputs` (on tokio's blocking threads: tokenizing is CPU work that
    /// must not stall the async workers, and it stays off the model's pool). Texts longer than
    /// `max_len` tokens are cut when `truncate`, else refused with 413.
    pub async fn prepare(
        self: &Arc<Self>,
        inputs: Inputs,
        truncate: bool,
        prompt: Option<&'static str>,
    ) -> Result<Prepared, ApiError> {
        if inputs.is_empty() {
            return Err(ApiError::invalid("the input is empty"));
        }
        self.check_count(inputs.len())?;
        let state = Arc::clone(self);
        let work = move || state.tokenize(inputs, truncate, prompt);
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ApiError::internal(format!("tokenization failed: {e}")))?
    }

    fn tokenize(
        &self,
        inputs: Inputs,
        truncate: bool,
        prompt: Option<&str>,
    ) -> Result<Prepared, ApiError> {
        let model = &self.model;
        let max_len = model.max_len();
        let seqs = match inputs {
            Inputs::Texts(texts) => {
                let mut seqs = Vec::with_capacity(texts.len());
                for (i, text) in texts.into_iter().enumerate() {
                    // The same string `ggufembed embed --prompt-name` tokenizes.
                    let text = match prompt {
                        Some(p) => format!("{p}{text}"),
                        None => text,
                    };
                    let (ids, full) = model
                        .tokenize_for_embedding(&text)
                        .map_err(|e| ApiError::invalid(format!("input {i}: {e}")))?;
                    if full > ids.len() && !truncate {
                        return Err(ApiError::too_large(format!(
                            "input {i} has {full} tokens, above the limit of {max_len}; send \
                             \"truncate\": true or start the server with --auto-truncate"
                        )));
                    }
                    seqs.push(ids);
                }
                seqs
            }
            Inputs::Tokens(seqs) => {
                let vocab = model.vocab_size();
                for (i, s) in seqs.iter().enumerate() {
                    if s.is_empty() {
                        return Err(ApiError::invalid(format!("input {i} has no token ids")));
                    }
                    if s.len() > max_len {
                        return Err(ApiError::too_large(format!(
                            "input {i} has {} tokens, above the limit of {max_len}",
                            s.len()
                        )));
                    }
                    if let Some(id) = s.iter().find(|&&id| id as usize >= vocab) {
                        return Err(ApiError::invalid(format!(
                            "input {i}: token id {id} is outside the vocabulary of {vocab}"
                        )));
                    }
                }
                seqs
            }
        };
        let tokens = seqs.iter().map(Vec::len).sum();
        Ok(Prepared { seqs, tokens })
    }

    /// Runs prepared sequences through the batcher: one row per input, as `Model::embed`.
    pub async fn embed(&self, prepared: Prepared) -> Result<Vec<Vec<f32>>, ApiError> {
        match self.batcher.embed(prepared.seqs).await {
            Some(Ok(rows)) => Ok(rows),
            Some(Err(e)) => Err(ApiError::internal(format!("embedding failed: {e}"))),
            None => Err(ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "the server is shutting down",
            )),
        }
    }

    /// Checks a `dimensions` request against the model's width (the library's rule,
    /// [`ggufembed::check_dimensions`]).
    pub fn check_dimensions(&self, dimensions: Option<usize>) -> Result<(), ApiError> {
        match dimensions {
            Some(d) => ggufembed::check_dimensions(d, self.model.dim()).map_err(|e| match e {
                ggufembed::Error::InvalidOption { reason, .. } => {
                    ApiError::invalid(format!("`dimensions` {reason}"))
                }
                other => ApiError::invalid(other.to_string()),
            }),
            None => Ok(()),
        }
    }
}

/// Matryoshka: keeps the first `d` values of each row and re-normalizes them to unit length
/// (rows of the full width are left as the model gave them, bit for bit), with the library's
/// [`ggufembed::truncate_embedding`], so a request's `dimensions` gives what
/// `Options::dimensions` gives.
pub fn truncate_rows(rows: &mut [Vec<f32>], dimensions: Option<usize>, normalized: bool) {
    let Some(d) = dimensions else { return };
    for row in rows {
        ggufembed::truncate_embedding(row, d, normalized);
    }
}

#[cfg(test)]
mod tests {
    use super::truncate_rows;

    #[test]
    fn matryoshka_truncates_and_renormalizes() {
        let mut rows = vec![vec![0.6, 0.0, 0.8], vec![3.0, 4.0, 1.0]];
        truncate_rows(&mut rows, Some(2), true);
        assert_eq!(rows[0], vec![1.0, 0.0]);
        assert_eq!(rows[1], vec![0.6, 0.8]);
        let mut full = vec![vec![0.6, 0.0, 0.8]];
        truncate_rows(&mut full, Some(3), true);
        assert_eq!(full[0], vec![0.6, 0.0, 0.8]);
    }
}
