//! [`Model::embed_iter`]: streaming embedding with bounded memory.
//!
//! Texts are pulled from the source iterator and tokenized until the batch holds a target
//! number of tokens, the batch runs on the pool, and its results are yielded in input order.
//! The target follows the measured throughput so that one batch takes about
//! [`Options::latency_target`](crate::Options::latency_target): `target = tokens/s ×
//! latency_target`, starting from one micro-batch per worker and clamped between one
//! micro-batch and 64 (memory stays bounded by the batch, whatever the stream's length).

use std::collections::VecDeque;
use std::time::Instant;

use super::Model;
use crate::error::Result;

/// Texts per streamed batch at most, whatever the target (bounds the batch's bookkeeping).
const MAX_BATCH_TEXTS: usize = 16_384;

/// One streamed result: the input item back, its vector and how it was run.
#[derive(Clone, Debug, PartialEq)]
pub struct Embedded<T> {
    /// The item the text came from, as the source iterator yielded it.
    pub input: T,
    /// The embedding (`dim` values; `tokens × dim` with [`Pooling::None`](crate::Pooling::None)).
    pub vector: Vec<f32>,
    /// Tokens the text was run with.
    pub tokens: usize,
    /// Whether the text was cut to [`Model::max_len`].
    pub truncated: bool,
}

/// Iterator returned by [`Model::embed_iter`].
pub struct EmbedIter<'m, I: Iterator> {
    model: &'m Model,
    source: I,
    ready: VecDeque<Result<Embedded<I::Item>>>,
    target_tokens: usize,
    done: bool,
}

impl<I: Iterator> std::fmt::Debug for EmbedIter<'_, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbedIter")
            .field("ready", &self.ready.len())
            .field("target_tokens", &self.target_tokens)
            .field("done", &self.done)
            .finish()
    }
}

impl Model {
    /// Embeds a stream of texts, yielding one result per text in input order while holding
    /// only one batch in memory (a 10-million-line file is never held whole).
    ///
    /// Each item of `texts` is returned back in [`Embedded::input`] (so records can carry
    /// other fields through). Results are bit-identical to [`Model::embed`]'s. After an error
    /// (a text the tokenizer refuses) the iterator yields that error and ends.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), ggufembed::Error> {
    /// let model = ggufembed::open("all-MiniLM-L6-v2.q8_0.gguf")?;
    /// let lines = ["first text", "second text"].into_iter();
    /// for result in model.embed_iter(lines) {
    ///     let e = result?;
    ///     println!("{}: {} tokens, {:?}…", e.input, e.tokens, &e.vector[..3]);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn embed_iter<I>(&self, texts: I) -> EmbedIter<'_, I::IntoIter>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        EmbedIter {
            model: self,
            source: texts.into_iter(),
            ready: VecDeque::new(),
            target_tokens: self.scheduler.busy_tokens(),
            done: false,
        }
    }
}

impl<I> EmbedIter<'_, I>
where
    I: Iterator,
    I::Item: AsRef<str>,
{
    /// Pulls, tokenizes and runs the next batch into `ready`.
    fn fill(&mut self) {
        let model = self.model;
        let mut items = Vec::new();
        let (mut ids, mut seqs, mut truncated, mut buf) = (Vec::new(), vec![], vec![], vec![]);
        while ids.len() < self.target_tokens && items.len() < MAX_BATCH_TEXTS {
            let Some(item) = self.source.next() else {
                self.done = true;
                break;
            };
            match model.encode_into(item.as_ref(), &mut buf) {
                Ok(cut) => {
                    let start = ids.len();
                    ids.extend_from_slice(&buf);
                    seqs.push(start..ids.len());
                    truncated.push(cut);
                    items.push(item);
                }
                Err(e) => {
                    // Results before the bad text still come out first, then the error.
                    self.done = true;
                    self.run(items, &ids, &seqs, truncated);
                    self.ready.push_back(Err(e));
                    return;
                }
            }
        }
        self.run(items, &ids, &seqs, truncated);
    }

    fn run(
        &mut self,
        items: Vec<I::Item>,
        ids: &[u32],
        seqs: &[std::ops::Range<usize>],
        truncated: Vec<bool>,
    ) {
        if items.is_empty() {
            return;
        }
        let start = Instant::now();
        match self.model.embed_packed(ids, seqs, truncated) {
            Ok(e) => {
                for (i, input) in items.into_iter().enumerate() {
                    self.ready.push_back(Ok(Embedded {
                        input,
                        vector: e.row(i).to_vec(),
                        tokens: e.tokens(i),
                        truncated: e.truncated(i),
                    }));
                }
            }
            Err(e) => {
                self.done = true;
                self.ready.push_back(Err(e));
                return;
            }
        }
        let secs = start.elapsed().as_secs_f64().max(1e-6);
        let rate = ids.len() as f64 / secs;
        let want = rate * self.model.options.latency_target.as_secs_f64();
        let lo = self.model.scheduler.micro_batch_tokens();
        self.target_tokens = (want as usize).clamp(lo, lo.saturating_mul(64));
    }
}

impl<I> Iterator for EmbedIter<'_, I>
where
    I: Iterator,
    I::Item: AsRef<str>,
{
    type Item = Result<Embedded<I::Item>>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.ready.is_empty() && !self.done {
            self.fill();
        }
        self.ready.pop_front()
    }
}
