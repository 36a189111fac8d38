//! `ggufembed serve`: an OpenAI- and TEI-compatible embedding server over one
//! [`ggufembed::Model`], with dynamic batching across requests, backpressure, Prometheus
//! metrics and graceful shutdown. See docs/SERVER.md.
//!
//! ```no_run
//! use clap::Parser;
//! let args = ggufembed_server::ServeArgs::parse_from(["serve", "-m", "model.gguf", "--port", "8080"]);
//! ggufembed_server::serve(args)?; // until SIGINT/SIGTERM
//! # Ok::<(), ggufembed_server::Error>(())
//! ```
//!
//! A request is parsed and checked on the async side, tokenized on tokio's blocking threads
//! (off the model's worker pool), queued to the [`batcher`], which packs many requests into
//! one [`ggufembed::Model::embed_tokens`] call, and answered with exactly its own rows —
//! bit-identical to `ggufembed embed` on the same texts, whatever they were batched with.

pub mod batcher;
mod config;
mod error;
pub mod input;
mod layers;
pub mod metrics;
mod rerank;
mod routes;
mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use ggufembed::{Options, Pooling};
use tokio::sync::Semaphore;

pub use config::ServeArgs;
pub use error::{ApiError, Error};
pub use metrics::Metrics;
pub use state::AppState;

use crate::batcher::{Batcher, Limits};

/// A server with its model loaded and its socket bound, not yet serving.
#[derive(Debug)]
pub struct Server {
    state: Arc<AppState>,
    listener: std::net::TcpListener,
}

impl Server {
    /// Opens the model and binds the socket (so `/health` answers only once the model is
    /// loaded: nothing listens before).
    pub fn new(args: ServeArgs) -> Result<Server, Error> {
        let addr = args.addr()?;
        let mut options = Options::default();
        options.threads = args.threads.map(usize::from);
        options.max_len = args.max_len;
        let path = args.model.display().to_string();
        let model = ggufembed::open_with(&args.model, options).map_err(|source| Error::Model {
            path: path.clone(),
            source,
        })?;
        if model.pooling() == Pooling::None {
            return Err(Error::Config {
                name: "--model",
                reason: format!("'{path}' has no pooling: the server serves one vector per text"),
            });
        }
        let model = Arc::new(model);
        let metrics = Arc::new(Metrics::default());
        let limits = Limits {
            max_tokens: args.max_batch_tokens as usize,
            max_requests: args.max_batch_requests as usize,
            timeout: args.batch_timeout(),
        };
        let batcher =
            Batcher::start(Arc::clone(&model), limits, Arc::clone(&metrics)).map_err(|source| {
                Error::Io {
                    context: "cannot start the batcher thread".into(),
                    source,
                }
            })?;
        let listener = std::net::TcpListener::bind(addr).map_err(|source| Error::Io {
            context: format!("cannot listen on {addr}"),
            source,
        })?;
        listener.set_nonblocking(true).map_err(|source| Error::Io {
            context: "cannot make the socket non-blocking".into(),
            source,
        })?;
        let state = AppState {
            admission: Arc::new(Semaphore::new(args.max_concurrent_requests as usize)),
            model_name: args.model_name(),
            model,
            batcher,
            args,
            metrics,
        };
        Ok(Server {
            state: Arc::new(state),
            listener,
        })
    }

    /// The address it listens on (with the port chosen by the system for `--port 0`).
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        self.listener.local_addr().map_err(|source| Error::Io {
            context: "cannot read the socket's address".into(),
            source,
        })
    }

    /// The shared state (metrics, model), e.g. for tests.
    pub fn state(&self) -> Arc<AppState> {
        Arc::clone(&self.state)
    }

    /// Serves until `shutdown` completes; then stops accepting, finishes every request in
    /// flight, drains the batcher and returns. Needs a tokio runtime.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let listener =
            tokio::net::TcpListener::from_std(self.listener).map_err(|source| Error::Io {
                context: "cannot register the socket".into(),
                source,
            })?;
        let app = router(Arc::clone(&self.state));
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        // Every connection is closed, so no handler waits on the batcher any more: close it
        // (it finishes what is queued) and join its thread off the async workers.
        let state = self.state;
        let _ = tokio::task::spawn_blocking(move || state.batcher.close()).await;
        served.map_err(|source| Error::Io {
            context: "serving failed".into(),
            source,
        })
    }
}

/// The routes and their middleware.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.args.payload_limit;
    // Admission applies to the work routes only: health, info and metrics stay cheap and
    // answerable under load.
    let work = Router::new()
        .route("/v1/embeddings", post(routes::openai_embeddings))
        .route("/embed", post(routes::tei_embed))
        .route("/tokenize", post(routes::tokenize))
        .route("/rerank", post(rerank::tei_rerank))
        .route("/v1/rerank", post(rerank::cohere_rerank))
        .layer(from_fn_with_state(Arc::clone(&state), layers::admit))
        .layer(DefaultBodyLimit::max(limit));
    Router::new()
        .route("/health", get(routes::health))
        .route("/info", get(routes::info))
        .route("/metrics", get(routes::metrics))
        .merge(work)
        .fallback(routes::not_found)
        .layer(from_fn_with_state(Arc::clone(&state), layers::auth))
        .layer(from_fn_with_state(Arc::clone(&state), layers::track))
        .with_state(state)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Opens the model, listens, and serves until SIGINT/SIGTERM; then finishes the requests in
/// flight and returns `Ok` (exit 0). Prints `listening on http://ADDR` on stderr once ready.
pub fn serve(args: ServeArgs) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ggufembed-http")
        .build()
        .map_err(|source| Error::Io {
            context: "cannot start the async runtime".into(),
            source,
        })?;
    let server = Server::new(args)?;
    let addr = server.local_addr()?;
    {
        let s = &server.state;
        log::info!(
            "{}: {} ({}), {} dims, max {} tokens, {} threads",
            s.model_name,
            s.args.model.display(),
            s.model.architecture(),
            s.model.dim(),
            s.model.max_len(),
            s.model.threads()
        );
    }
    eprintln!("listening on http://{addr}");
    let metrics = Arc::clone(&server.state.metrics);
    runtime.block_on(server.run(shutdown_signal()))?;
    // Equal unless clients went away before their answers (what the SIGTERM test checks).
    eprintln!(
        "shut down: {} requests received, {} answered",
        metrics.received.get(),
        metrics.answered_total.get()
    );
    Ok(())
}
