//! [`ServeArgs`]: the server's flags (`ggufembed serve …`), parsed by clap, with the defaults
//! measured in docs/SERVER.md.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::error::Error;

/// `ggufembed serve`: an OpenAI- and TEI-compatible embedding server.
///
/// The struct is both a standalone parser (the `ggufembed-server` binary, the tests) and a
/// [`clap::Args`] for a `serve` subcommand: `Serve(ggufembed_server::ServeArgs)`.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "ggufembed serve",
    version,
    about = "OpenAI- and TEI-compatible embedding server with dynamic batching"
)]
pub struct ServeArgs {
    /// The GGUF model.
    #[arg(short = 'm', long = "model", value_name = "MODEL")]
    pub model: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0: any free port, printed at start).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Worker threads of the model (default: all cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Longest input in tokens (default: the model's context length).
    #[arg(long = "max-len", value_name = "N")]
    pub max_len: Option<usize>,
    /// Most tokens one batch across requests may hold (a request larger than this runs alone).
    #[arg(long = "max-batch-tokens", value_name = "N", default_value_t = 16384,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_batch_tokens: u32,
    /// Most requests one batch may hold.
    #[arg(long = "max-batch-requests", value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_batch_requests: u32,
    /// How long the first queued request may wait for others to join its batch, in ms (0: a
    /// batch starts with whatever is queued; requests arriving meanwhile form the next one).
    #[arg(long = "batch-timeout-ms", value_name = "MS", default_value_t = 0)]
    pub batch_timeout_ms: u64,
    /// Requests in flight (queued or running) beyond which new ones get 429 at once.
    #[arg(long = "max-concurrent-requests", value_name = "N", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_requests: u32,
    /// Most inputs in one request (more: 413).
    #[arg(long = "max-client-batch-size", value_name = "N", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_client_batch_size: u32,
    /// Largest request body in bytes (more: 413).
    #[arg(
        long = "payload-limit",
        value_name = "BYTES",
        default_value_t = 2_000_000
    )]
    pub payload_limit: usize,
    /// Truncate inputs longer than --max-len tokens instead of answering 413.
    #[arg(long = "auto-truncate")]
    pub auto_truncate: bool,
    /// Require `Authorization: Bearer KEY` on every route but /health (401 otherwise).
    #[arg(long = "api-key", value_name = "KEY")]
    pub api_key: Option<String>,
    /// The model name in responses and /info (default: the file name without `.gguf`).
    #[arg(long = "model-id", value_name = "NAME")]
    pub model_id: Option<String>,
    /// A prompt preset (e.g. gemma-embedding's `query`) used when a request names none.
    #[arg(long = "prompt-name", value_name = "NAME")]
    pub prompt_name: Option<String>,
}

impl ServeArgs {
    /// The socket address to bind.
    pub fn addr(&self) -> Result<SocketAddr, Error> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        let ip = host.parse().map_err(|_| Error::Config {
            name: "--host",
            reason: format!("'{}' is not an IP address", self.host),
        })?;
        Ok(SocketAddr::new(ip, self.port))
    }

    /// The batch timeout as a duration.
    pub fn batch_timeout(&self) -> Duration {
        Duration::from_millis(self.batch_timeout_ms)
    }

    /// The model name reported to clients.
    pub fn model_name(&self) -> String {
        self.model_id.clone().unwrap_or_else(|| {
            let name = self
                .model
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            name.strip_suffix(".gguf").unwrap_or(&name).to_string()
        })
    }
}
