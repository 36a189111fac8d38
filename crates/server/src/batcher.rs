//! Dynamic batching across requests: one thread takes tokenized requests from a queue, packs
//! them into one batch (up to `--max-batch-tokens` tokens and `--max-batch-requests` requests,
//! waiting at most `--batch-timeout-ms` after the first request's arrival for company), runs
//! the batch through [`Model::embed_tokens`] — which sorts and packs micro-batches over the
//! model's worker pool — and hands each request exactly its own rows.
//!
//! `embed_tokens` is bit-identical per sequence whatever it is batched with, so a request's
//! rows do not depend on who shared its batch. The queue is bounded by the admission limit
//! (`--max-concurrent-requests`): every queued job holds one of its permits.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ggufembed::Model;
use tokio::sync::oneshot;

use crate::metrics::Metrics;

/// One request's rows in input order, or the model's error.
pub type Reply = Result<Vec<Vec<f32>>, String>;

/// A tokenized request waiting for its batch.
#[derive(Debug)]
pub struct Job {
    /// Its sequences' ids, each within the model's `max_len` and vocabulary.
    pub seqs: Vec<Vec<u32>>,
    /// When it was queued.
    pub enqueued: Instant,
    /// Where its rows go; dropped by the handler if the client goes away.
    pub reply: oneshot::Sender<Reply>,
}

impl Job {
    fn tokens(&self) -> usize {
        self.seqs.iter().map(Vec::len).sum()
    }
}

/// How batches are cut.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most tokens in a batch (a larger request runs alone).
    pub max_tokens: usize,
    /// Most requests in a batch.
    pub max_requests: usize,
    /// How long the first request of a batch may wait for others.
    pub timeout: Duration,
}

/// The batching thread and its queue.
#[derive(Debug)]
pub struct Batcher {
    queue: Mutex<Option<Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    metrics: Arc<Metrics>,
}

impl Batcher {
    /// Starts the batching thread for `model`.
    pub fn start(
        model: Arc<Model>,
        limits: Limits,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Batcher> {
        let (tx, rx) = channel();
        let m = Arc::clone(&metrics);
        let thread = std::thread::Builder::new()
            .name("ggufembed-batcher".into())
            .spawn(move || run(&model, limits, &rx, &m))?;
        Ok(Batcher {
            queue: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            metrics,
        })
    }

    /// Queues `seqs` and waits for their rows; `None` once the batcher is closed.
    pub async fn embed(&self, seqs: Vec<Vec<u32>>) -> Option<Reply> {
        let (reply, rx) = oneshot::channel();
        let job = Job {
            seqs,
            enqueued: Instant::now(),
            reply,
        };
        {
            let queue = lock(&self.queue);
            queue.as_ref()?.send(job).ok()?;
            self.metrics.queue_size.inc();
        }
        rx.await.ok()
    }

    /// Stops taking jobs, lets the thread finish the queued ones, and waits for it.
    pub fn close(&self) {
        lock(&self.queue).take();
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The batching loop: until every sender is gone and the queue is empty.
fn run(model: &Model, limits: Limits, rx: &Receiver<Job>, metrics: &Metrics) {
    let mut carry: Option<Job> = None;
    loop {
        let first = match carry.take() {
            Some(job) => job,
            None => match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        metrics.queue_size.dec();
        let deadline = first.enqueued + limits.timeout;
        let mut tokens = first.tokens();
        let mut batch = vec![first];
        while batch.len() < limits.max_requests && tokens < limits.max_tokens {
            // Whatever is queued already joins at once; then wait until the first request's
            // deadline (already past if it queued behind the previous batch).
            let wait = deadline.saturating_duration_since(Instant::now());
            let job = match rx.recv_timeout(wait) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            };
            metrics.queue_size.dec();
            if job.reply.is_closed() {
                continue; // its client went away while it queued
            }
            if tokens + job.tokens() > limits.max_tokens {
                carry = Some(job);
                metrics.queue_size.inc(); // still waiting, for the next batch
                break;
            }
            tokens += job.tokens();
            batch.push(job);
        }
        batch.retain(|job| !job.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        run_batch(model, batch, metrics);
    }
}

/// Embeds one batch and answers each of its jobs.
fn run_batch(model: &Model, batch: Vec<Job>, metrics: &Metrics) {
    let start = Instant::now();
    for job in &batch {
        metrics
            .queue_time
            .observe(start.duration_since(job.enqueued).as_secs_f64());
    }
    let seqs: Vec<&[u32]> = batch
        .iter()
        .flat_map(|job| job.seqs.iter().map(Vec::as_slice))
        .collect();
    let tokens: usize = seqs.iter().map(|s| s.len()).sum();
    let result = model.embed_tokens(&seqs);
    let seconds = start.elapsed().as_secs_f64();
    metrics.batch_size.observe(seqs.len() as f64);
    metrics.batch_requests.observe(batch.len() as f64);
    metrics.batch_tokens.observe(tokens as f64);
    metrics.batch_time.observe(seconds);
    match result {
        Ok(embeddings) => {
            metrics.tokens.inc_by(tokens as u64);
            if seconds > 0.0 {
                metrics.tokens_per_second.set(tokens as f64 / seconds);
            }
            let mut row = 0;
            for job in batch {
                let rows = (row..row + job.seqs.len())
                    .map(|i| embeddings.row(i).to_vec())
                    .collect();
                row += job.seqs.len();
                // A client gone since: nobody to answer.
                let _ = job.reply.send(Ok(rows));
            }
        }
        Err(e) => {
            log::error!("batch of {} texts failed: {e}", seqs.len());
            for job in batch {
                let _ = job.reply.send(Err(e.to_string()));
            }
        }
    }
}
