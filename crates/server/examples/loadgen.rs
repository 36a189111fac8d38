//! Load generator for `ggufembed serve` and other OpenAI-compatible embedding servers
//! (llama.cpp's `llama-server --embedding`): C clients, each on its own keep-alive connection,
//! send `POST /v1/embeddings` with N texts from a JSONL file (`{"text": …}` per line) for a
//! fixed time, and one JSON line of results is printed: requests, 429s (and how fast they came),
//! errors, throughput, p50/p99 latency of the successful requests.
//!
//! What is counted: the requests that *complete* inside the measured window (after the
//! warm-up), whenever they started, so a point whose latency is longer than the window is not
//! read as zero throughput; at the window's end the requests still in flight are abandoned
//! (reported as `abandoned`). A client that gets a 429 backs off `--backoff-ms` before its
//! next request, as a real client would (a client retrying at once would only measure how
//! fast the server can say no).
//!
//! ```sh
//! cargo run --release -p ggufembed-server --example loadgen -- \
//!     --url http://127.0.0.1:8080 --input ../shared/fixtures/bench-sentences.jsonl \
//!     --concurrency 16 --texts 1 --seconds 10
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;

#[derive(Parser)]
struct Args {
    /// Server address, e.g. http://127.0.0.1:8080 (loopback: plain HTTP/1.1).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// JSONL file with a "text" field per line.
    #[arg(long)]
    input: std::path::PathBuf,
    /// Clients, each with one request in flight.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Texts per request.
    #[arg(long, default_value_t = 1)]
    texts: usize,
    /// Measured duration in seconds.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Unmeasured warm-up before it, in seconds.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Bearer key to send.
    #[arg(long)]
    api_key: Option<String>,
    /// A label for the output line (e.g. "ggufembed" or "llama-server").
    #[arg(long, default_value = "")]
    label: String,
    /// How long a client waits after a 429 before its next request, in ms (OpenAI's Python
    /// client waits ~0.5 s or more; 100 ms keeps the refused clients knocking).
    #[arg(long, default_value_t = 100)]
    backoff_ms: u64,
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    /// Latencies of the 429 answers (they should come at once).
    refusals: Vec<Duration>,
    texts: usize,
    /// Texts answered, the warm-up's included (what the server's CPU time was spent on).
    texts_all: usize,
    errors: usize,
    abandoned: usize,
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.input).map_err(|e| e.to_string())?;
    let sentences: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_string))
        .collect();
    if sentences.is_empty() || args.texts == 0 || args.concurrency == 0 {
        return Err("need texts, --texts ≥ 1 and --concurrency ≥ 1".into());
    }
    let host = args
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let addr: SocketAddr = host.parse().map_err(|e| format!("--url host:port: {e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let args = Arc::new(args);
    let sentences = Arc::new(sentences);
    let next = Arc::new(AtomicUsize::new(0));
    let tallies = runtime.block_on(async {
        let warm_end = Instant::now() + Duration::from_secs_f64(args.warmup);
        let end = warm_end + Duration::from_secs_f64(args.seconds);
        let tasks: Vec<_> = (0..args.concurrency)
            .map(|_| {
                let (args, sentences, next) = (args.clone(), sentences.clone(), next.clone());
                tokio::spawn(client(addr, args, sentences, next, warm_end, end))
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.push(t.await.unwrap_or_default());
        }
        all
    });
    let mut lat: Vec<Duration> = tallies.iter().flat_map(|t| t.latencies.clone()).collect();
    lat.sort();
    let mut refused: Vec<Duration> = tallies.iter().flat_map(|t| t.refusals.clone()).collect();
    refused.sort();
    // NaN (no sample) prints as JSON null.
    let pct = |v: &[Duration], p: f64| {
        v.get(((v.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    };
    let texts: usize = tallies.iter().map(|t| t.texts).sum();
    let out = serde_json::json!({
        "label": args.label,
        "concurrency": args.concurrency,
        "texts_per_request": args.texts,
        "seconds": args.seconds,
        "ok": lat.len(),
        "status_429": refused.len(),
        "p99_429_ms": pct(&refused, 0.99),
        "errors": tallies.iter().map(|t| t.errors).sum::<usize>(),
        "abandoned": tallies.iter().map(|t| t.abandoned).sum::<usize>(),
        "requests_per_s": lat.len() as f64 / args.seconds,
        "texts_per_s": texts as f64 / args.seconds,
        "texts_all": tallies.iter().map(|t| t.texts_all).sum::<usize>(),
        "p50_ms": pct(&lat, 0.50),
        "p99_ms": pct(&lat, 0.99),
    });
    println!("{out}");
    Ok(())
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Option<Sender> {
    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .ok()?;
    tokio::spawn(conn);
    Some(sender)
}

async fn client(
    addr: SocketAddr,
    args: Arc<Args>,
    sentences: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
    warm_end: Instant,
    end: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut sender: Option<Sender> = None;
    while Instant::now() < end {
        if sender.is_none() {
            sender = connect(addr).await;
            if sender.is_none() {
                tally.errors += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        }
        let first = next.fetch_add(args.texts, Ordering::Relaxed);
        let batch: Vec<&str> = (first..first + args.texts)
            .map(|i| sentences[i % sentences.len()].as_str())
            .collect();
        let body = serde_json::json!({"input": batch, "model": "m"}).to_string();
        let mut req = hyper::Request::post("/v1/embeddings")
            .header("host", "localhost")
            .header("content-type", "application/json");
        if let Some(k) = &args.api_key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let Ok(req) = req.body(Full::new(Bytes::from(body))) else {
            tally.errors += 1;
            continue;
        };
        let start = Instant::now();
        let s = sender.as_mut().unwrap_or_else(|| unreachable!());
        let exchange = async {
            let resp = s.send_request(req).await.ok()?;
            let status = resp.status().as_u16();
            resp.into_body().collect().await.ok()?;
            Some(status)
        };
        // At the window's end the request is dropped (and its connection with it).
        let Ok(result) = tokio::time::timeout_at(end.into(), exchange).await else {
            tally.abandoned += 1;
            break;
        };
        let done = Instant::now();
        let measured = done >= warm_end;
        match result {
            Some(200) if measured => {
                tally.latencies.push(done - start);
                tally.texts += args.texts;
                tally.texts_all += args.texts;
            }
            Some(429) => {
                if measured {
                    tally.refusals.push(done - start);
                }
                tokio::time::sleep(Duration::from_millis(args.backoff_ms)).await;
            }
            Some(200) => tally.texts_all += args.texts,
            Some(_) | None => {
                if measured {
                    tally.errors += 1;
                }
                sender = None;
            }
        }
    }
    tally
}
