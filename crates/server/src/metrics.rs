//! The Prometheus metrics of `GET /metrics`, kept with the `prometheus-client` crate.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of the per-request metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route (`/v1/embeddings`, …; `other` for unknown paths, so a scan cannot grow the
    /// label set without bound).
    pub route: &'static str,
    /// The HTTP status answered.
    pub status: u16,
}

/// Labels of the per-route metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// As [`RequestLabels::route`].
    pub route: &'static str,
}

/// Every metric of the server, registered once.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests received (parsed and routed), whatever became of them.
    pub received: Counter,
    /// Requests answered, all routes and statuses (a request received and never answered:
    /// its client went away first).
    pub answered_total: Counter,
    /// Requests answered, by route and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Requests answered with a 4xx/5xx status, by route.
    pub failures: Family<RouteLabels, Counter>,
    /// Time from a request's arrival to its response, by route.
    pub duration: Family<RouteLabels, Histogram>,
    /// Requests admitted and not yet answered (queued, tokenizing or running).
    pub in_flight: Gauge,
    /// Requests waiting in the batcher's queue.
    pub queue_size: Gauge,
    /// Time a request waited in the queue before its batch started.
    pub queue_time: Histogram,
    /// Texts per batch.
    pub batch_size: Histogram,
    /// Requests per batch.
    pub batch_requests: Histogram,
    /// Tokens per batch.
    pub batch_tokens: Histogram,
    /// Time the model took for a batch.
    pub batch_time: Histogram,
    /// Tokens embedded since start (its rate is the throughput).
    pub tokens: Counter,
    /// Tokens per second of the last batch (tokens over the model's time).
    pub tokens_per_second: Gauge<f64, AtomicU64>,
}

fn seconds_buckets() -> Histogram {
    // 0.5 ms … ~65 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 18))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("ggufembed");
        let received = Counter::default();
        let answered_total = Counter::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let failures = Family::<RouteLabels, Counter>::default();
        let duration = Family::<RouteLabels, Histogram>::new_with_constructor(
            seconds_buckets as fn() -> Histogram,
        );
        let in_flight = Gauge::default();
        let queue_size = Gauge::default();
        let queue_time = seconds_buckets();
        let batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 14));
        let batch_requests = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        let batch_tokens = Histogram::new(exponential_buckets(8.0, 2.0, 16));
        let batch_time = seconds_buckets();
        let tokens = Counter::default();
        let tokens_per_second = Gauge::<f64, AtomicU64>::default();
        registry.register("requests_received", "Requests received", received.clone());
        registry.register(
            "requests_answered",
            "Requests answered (any route, any status)",
            answered_total.clone(),
        );
        registry.register("requests", "Requests answered", requests.clone());
        registry.register(
            "request_failures",
            "Requests answered with an error status",
            failures.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from arrival to response",
            duration.clone(),
        );
        registry.register(
            "requests_in_flight",
            "Requests admitted and not yet answered",
            in_flight.clone(),
        );
        registry.register(
            "queue_size",
            "Requests waiting for a batch",
            queue_size.clone(),
        );
        registry.register(
            "queue_duration_seconds",
            "Time a request waited for its batch",
            queue_time.clone(),
        );
        registry.register("batch_size", "Texts per batch", batch_size.clone());
        registry.register(
            "batch_requests",
            "Requests per batch",
            batch_requests.clone(),
        );
        registry.register("batch_tokens", "Tokens per batch", batch_tokens.clone());
        registry.register(
            "batch_duration_seconds",
            "Model time per batch",
            batch_time.clone(),
        );
        registry.register("embedded_tokens", "Tokens embedded", tokens.clone());
        registry.register(
            "tokens_per_second",
            "Tokens per second of the last batch",
            tokens_per_second.clone(),
        );
        Metrics {
            registry,
            received,
            answered_total,
            requests,
            failures,
            duration,
            in_flight,
            queue_size,
            queue_time,
            batch_size,
            batch_requests,
            batch_tokens,
            batch_time,
            tokens,
            tokens_per_second,
        }
    }
}

impl Metrics {
    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Requests answered on `route` with `status` so far.
    pub fn answered(&self, route: &'static str, status: u16) -> u64 {
        self.requests
            .get_or_create(&RequestLabels { route, status })
            .get()
    }
}
