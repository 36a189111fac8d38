//! Reranking with a cross-encoder ([`Model::rerank`], [`Model::score_pairs`]): each
//! (query, document) pair is encoded `[CLS] query [SEP] document [SEP]` with token types 0/1,
//! truncated longest first to [`Model::max_len`] as Hugging Face does, and scored by the
//! model's classification head (pooling `rank`) — the raw logit sentence-transformers'
//! `CrossEncoder.predict` returns for a one-label model.
//!
//! Pairs go through the same length-sorted packed scheduler as texts do, token types
//! included, so a pair's score is bit-identical whatever it is batched with, in any order, on
//! any number of threads.

use std::ops::Range;

use ggufembed_runtime::tokenizer::EncodedPair;
use ggufembed_runtime::{Batch, Pooling};

use super::Model;
use crate::error::{Error, Result};

/// One scored document (or pair).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored {
    /// The document's (pair's) position in the input.
    pub index: usize,
    /// The score: the raw logit, or its sigmoid with [`RerankOptions::sigmoid`].
    pub score: f32,
    /// Whether the pair was cut to fit [`Model::max_len`] (longest side first).
    pub truncated: bool,
}

/// How [`Model::rerank_with`] reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RerankOptions {
    /// Keep only the best `n` documents (all when `None`).
    pub top_n: Option<usize>,
    /// Map each raw logit through the logistic sigmoid (`1 / (1 + e^-x)`, a relevance in
    /// (0, 1), as sentence-transformers' `activation_fn=Sigmoid` and TEI's default); raw
    /// logits otherwise.
    pub sigmoid: bool,
}

/// The logistic sigmoid `1 / (1 + e^-x)`, which maps a raw reranker logit into (0, 1).
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl Model {
    /// Whether the model is a reranker (a cross-encoder with a one-label classification head,
    /// llama.cpp's pooling type `rank`) rather than an embedding model.
    pub fn is_reranker(&self) -> bool {
        self.pooling == Pooling::Rank
    }

    /// Scores each document against `query` and returns them best first (ties by input
    /// order), as raw logits. See [`Model::rerank_with`] for `top_n` and the sigmoid.
    ///
    /// # Errors
    /// [`Error::WrongModel`] if the model is not a reranker; a tokenizer failure.
    pub fn rerank<S: AsRef<str>>(&self, query: &str, documents: &[S]) -> Result<Vec<Scored>> {
        self.rerank_with(query, documents, RerankOptions::default())
    }

    /// [`Model::rerank`] with options: the best `top_n` only, sigmoid or raw scores.
    ///
    /// # Errors
    /// As [`Model::rerank`].
    pub fn rerank_with<S: AsRef<str>>(
        &self,
        query: &str,
        documents: &[S],
        options: RerankOptions,
    ) -> Result<Vec<Scored>> {
        let pairs: Vec<(&str, &str)> = documents.iter().map(|d| (query, d.as_ref())).collect();
        let mut scored = self.score_pairs(&pairs)?;
        if options.sigmoid {
            for s in &mut scored {
                s.score = sigmoid(s.score);
            }
        }
        scored.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
        if let Some(n) = options.top_n {
            scored.truncate(n);
        }
        Ok(scored)
    }

    /// Raw scores (logits) of (query, document) pairs, in input order.
    ///
    /// An empty query or document is allowed (an empty document encodes as
    /// `[CLS] query [SEP] [SEP]`, as the `CrossEncoder` does). Pairs longer than
    /// [`Model::max_len`] are truncated longest side first and flagged.
    ///
    /// # Errors
    /// As [`Model::rerank`].
    pub fn score_pairs<Q: AsRef<str>, D: AsRef<str>>(
        &self,
        pairs: &[(Q, D)],
    ) -> Result<Vec<Scored>> {
        let encoded = pairs
            .iter()
            .map(|(q, d)| self.tokenize_pair(q.as_ref(), d.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        let scores = self.score_tokens(&encoded)?;
        Ok(scores
            .into_iter()
            .zip(&encoded)
            .enumerate()
            .map(|(index, (score, e))| Scored {
                index,
                score,
                truncated: e.truncated,
            })
            .collect())
    }

    /// The ids and token types [`Model::score_pairs`] scores a pair with, truncated to
    /// [`Model::max_len`] (a server tokenizes with it off the worker pool).
    ///
    /// # Errors
    /// As [`Model::rerank`].
    pub fn tokenize_pair(&self, query: &str, document: &str) -> Result<EncodedPair> {
        self.check_reranker()?;
        Ok(self
            .tokenizer
            .encode_pair(query, document, self.max_len())?)
    }

    /// Raw scores of already encoded pairs (as [`Model::tokenize_pair`] returns them), in
    /// input order, in one scheduler pass.
    ///
    /// # Errors
    /// [`Error::WrongModel`] if the model is not a reranker; an empty pair, one longer than
    /// [`Model::max_len`], ids outside the vocabulary or types outside the model's.
    pub fn score_tokens(&self, pairs: &[EncodedPair]) -> Result<Vec<f32>> {
        self.check_reranker()?;
        let tokens: usize = pairs.iter().map(|p| p.ids.len()).sum();
        let (mut ids, mut types) = (Vec::with_capacity(tokens), Vec::with_capacity(tokens));
        let mut seqs: Vec<Range<usize>> = Vec::with_capacity(pairs.len());
        for p in pairs {
            if p.types.len() != p.ids.len() {
                return Err(super::resolve::invalid(
                    "tokens",
                    format!("{} token types for {} ids", p.types.len(), p.ids.len()),
                ));
            }
            let start = ids.len();
            ids.extend_from_slice(&p.ids);
            types.extend_from_slice(&p.types);
            seqs.push(start..ids.len());
        }
        let batch = Batch {
            ids: &ids,
            seqs: &seqs,
            types: Some(&types),
        };
        let mut out = vec![0.0f32; pairs.len()];
        self.run_batch(&batch, Pooling::Rank, false, &mut out)?;
        Ok(out)
    }

    /// Refuses models that are not one-label rerankers.
    fn check_reranker(&self) -> Result<()> {
        if !self.is_reranker() {
            return Err(Error::WrongModel(format!(
                "this '{}' model is an embedding model, not a reranker (it has no \
                 classification head): reranking needs a cross-encoder GGUF (pooling type \
                 rank, with cls.output.weight)",
                self.architecture()
            )));
        }
        if self.dim != 1 {
            return Err(Error::WrongModel(format!(
                "this reranker's classifier has {} labels; reranking needs a one-label \
                 (relevance) cross-encoder",
                self.dim
            )));
        }
        Ok(())
    }
}
