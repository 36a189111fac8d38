//! Middleware around the routes, outermost first: request metrics, the API key, admission
//! (`--max-concurrent-requests`: 429 at once beyond it, never a queue without bound).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::metrics::{RequestLabels, RouteLabels};
use crate::state::AppState;

/// The routes known to the metrics; anything else is counted as `other`.
const ROUTES: &[&str] = &[
    "/v1/embeddings",
    "/embed",
    "/tokenize",
    "/health",
    "/info",
    "/metrics",
];

fn route_label(path: &str) -> &'static str {
    ROUTES
        .iter()
        .find(|r| **r == path)
        .copied()
        .unwrap_or("other")
}

/// Counts every answered request by route and status, and times it.
pub async fn track(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = route_label(req.uri().path());
    let start = Instant::now();
    let m = &state.metrics;
    m.received.inc();
    let response = next.run(req).await;
    m.answered_total.inc();
    let status = response.status();
    m.requests
        .get_or_create(&RequestLabels {
            route,
            status: status.as_u16(),
        })
        .inc();
    if status.is_client_error() || status.is_server_error() {
        m.failures.get_or_create(&RouteLabels { route }).inc();
    }
    m.duration
        .get_or_create(&RouteLabels { route })
        .observe(start.elapsed().as_secs_f64());
    response
}

/// Equal-length comparison that does not stop at the first differing byte.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// With `--api-key`: `Authorization: Bearer KEY` on every route but `/health`, else 401.
pub async fn auth(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let Some(key) = state.args.api_key.as_deref() else {
        return next.run(req).await;
    };
    if req.uri().path() == "/health" {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    match given {
        Some(token) if same(token, key.as_bytes()) => next.run(req).await,
        Some(_) => unauthorized("the API key is wrong"),
        None => unauthorized("this server needs an `Authorization: Bearer KEY` header"),
    }
}

fn unauthorized(message: &str) -> Response {
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}

/// Keeps `requests_in_flight` equal to the permits held, whatever ends the request (a
/// response, or the client going away and the handler being dropped).
struct InFlight<'a>(&'a AppState);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.metrics.in_flight.dec();
    }
}

/// Admits a request if fewer than `--max-concurrent-requests` are in flight, else 429 at once.
pub async fn admit(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let Ok(permit) = Arc::clone(&state.admission).try_acquire_owned() else {
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "{} requests in flight, the limit (--max-concurrent-requests); retry later",
                state.args.max_concurrent_requests
            ),
        )
        .into_response();
    };
    state.metrics.in_flight.inc();
    let _in_flight = InFlight(&state);
    let response = next.run(req).await;
    drop(permit);
    response
}
