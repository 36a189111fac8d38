//! [`Options`] checked against an opened model: what `open` turns them into.

use ggufembed_runtime::{Encoder, Pooling, SchedulerConfig};

use crate::error::{Error, Result};
use crate::options::Options;

/// Default scratch memory per worker (see [`Options::memory_budget`]).
const DEFAULT_MEMORY_BUDGET: usize = 16 << 20;
/// Bounds of the derived token budget.
const TOKEN_BUDGET_RANGE: (usize, usize) = (64, 8192);

/// The options as the model runs them.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub scheduler: SchedulerConfig,
    pub pooling: Pooling,
    pub prompt: String,
}

pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidOption {
        name,
        reason: reason.into(),
    }
}

/// Checks `options` against `encoder` (context length, memory per token, prompt presets).
pub(crate) fn resolve(options: &Options, encoder: &dyn Encoder) -> Result<Resolved> {
    let n_ctx = encoder.n_ctx();
    let pooling = match (options.pooling, encoder.default_pooling()) {
        (None, file) => file,
        (Some(p), Pooling::Rank) if p != Pooling::Rank => {
            return Err(invalid(
                "pooling",
                format!(
                    "this model is a reranker (pooling type rank): its hidden states are not \
                     trained as embeddings, so pooling '{p}' is refused"
                ),
            ));
        }
        (Some(Pooling::Rank), file) if file != Pooling::Rank => {
            return Err(invalid(
                "pooling",
                "rank pooling needs a reranker (a cross-encoder with a classification head)",
            ));
        }
        (Some(p), _) => p,
    };
    let max_len = match options.max_len {
        None => n_ctx,
        Some(m) if (2..=n_ctx).contains(&m) => m,
        Some(m) => {
            return Err(invalid(
                "max_len",
                format!("{m} is outside 2..={n_ctx} (the model's context length)"),
            ));
        }
    };
    let threads = match options.threads {
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        Some(0) => return Err(invalid("threads", "must be at least 1")),
        Some(t) if t > 1024 => return Err(invalid("threads", format!("{t} is above 1024"))),
        Some(t) => t,
    };
    let token_budget = match (options.token_budget, options.memory_budget) {
        (Some(0), _) => return Err(invalid("token_budget", "must be at least 1")),
        (Some(t), _) => t,
        (None, Some(0)) => return Err(invalid("memory_budget", "must be at least 1 byte")),
        (None, m) => (m.unwrap_or(DEFAULT_MEMORY_BUDGET) / encoder.bytes_per_token().max(1))
            .clamp(TOKEN_BUDGET_RANGE.0, TOKEN_BUDGET_RANGE.1),
    };
    let prompt = match (&options.prompt, &options.prompt_name) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "prompt",
                "give either a prompt or a prompt name, not both",
            ));
        }
        (Some(p), None) => p.clone(),
        (None, Some(name)) => preset(encoder, name)?,
        (None, None) => String::new(),
    };
    if options.latency_target.is_zero() {
        return Err(invalid("latency_target", "must be above zero"));
    }
    Ok(Resolved {
        scheduler: SchedulerConfig {
            threads,
            token_budget,
            max_len,
            parallelism: options.parallelism,
        },
        pooling,
        prompt,
    })
}

/// The prompt of the encoder's preset `name`.
fn preset(encoder: &dyn Encoder, name: &str) -> Result<String> {
    let presets = encoder.prompt_presets();
    match presets.iter().find(|(n, _)| *n == name) {
        Some((_, p)) => Ok(p.to_string()),
        None if presets.is_empty() => Err(invalid(
            "prompt_name",
            format!(
                "architecture '{}' has no prompt presets; give the prompt text instead",
                encoder.architecture()
            ),
        )),
        None => {
            let names: Vec<&str> = presets.iter().map(|(n, _)| *n).collect();
            Err(invalid(
                "prompt_name",
                format!("unknown preset '{name}' (known: {})", names.join(", ")),
            ))
        }
    }
}
