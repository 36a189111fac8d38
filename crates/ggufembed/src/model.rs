//! [`Model`]: an opened GGUF embedding model — the facade over the runtime.
//!
//! The runtime does the work: its registry opens the architecture `general.architecture`
//! names and keeps the memory map with the weights bound to it ([`MappedEncoder`]); its
//! [`Scheduler`] runs packed batches on the worker pool or a GPU (see docs/ARCHITECTURE.md,
//! "Parallel runtime"). This module resolves the options, tokenizes, packs the ids once and
//! assembles the [`Embeddings`].

use std::ops::Range;
use std::path::Path;

use gguf_loader::GgufFile;
use ggufembed_runtime::{
    Batch, Encoder, MappedEncoder, Pooling, RuntimeError, Scheduler, Tokenizer,
};

use crate::embeddings::Embeddings;
use crate::error::{Error, Result};
use crate::options::{Device, Options};

mod device;
mod rerank;
mod resolve;
mod stream;

pub use rerank::{RerankOptions, Scored, sigmoid};
use resolve::invalid;
pub use stream::{EmbedIter, Embedded};

/// An opened embedding model: the mapped file with its bound graph, its tokenizer and its
/// scheduler (worker threads, or a GPU).
///
/// `Model` is `Send + Sync`: one instance can serve many threads calling [`Model::embed`] at
/// once (their work shares the model's workers). Results are deterministic: a text's
/// embedding is bit-identical whatever it is batched with, in any order, with any thread count.
#[derive(Debug)]
pub struct Model {
    mapped: MappedEncoder,
    tokenizer: Tokenizer,
    scheduler: Scheduler,
    pooling: Pooling,
    normalize: bool,
    /// Width of a row as the graph gives it (before `options.dimensions` cuts it).
    dim: usize,
    /// Prepended to every text before tokenization (empty: none).
    prompt: String,
    options: Options,
}

/// Opens the GGUF model at `path` with default [`Options`].
///
/// ```no_run
/// # fn main() -> Result<(), ggufembed::Error> {
/// let model = ggufembed::open("all-MiniLM-L6-v2.q8_0.gguf")?;
/// let embeddings = model.embed(&["The cat sits outside", "A man is playing guitar"])?;
/// assert_eq!(embeddings.len(), 2);
/// let cosine: f32 = embeddings.row(0).iter().zip(embeddings.row(1)).map(|(a, b)| a * b).sum();
/// println!("similarity {cosine:.3}");
/// # Ok(()) }
/// ```
pub fn open(path: impl AsRef<Path>) -> Result<Model> {
    open_with(path, Options::default())
}

/// Opens the GGUF model at `path` with `options`.
///
/// Everything is checked here, before any large allocation: the file's structure, the
/// architecture's hyper-parameters, every tensor's shape and type, the tokenizer's metadata, and
/// the options against the model.
pub fn open_with(path: impl AsRef<Path>, options: Options) -> Result<Model> {
    let file = GgufFile::open(path)?;
    Model::from_file(file, options)
}

impl Model {
    /// Builds a model from an already opened GGUF file.
    pub fn from_file(file: GgufFile, options: Options) -> Result<Model> {
        let mapped = MappedEncoder::load(file)?;
        let encoder = mapped.encoder();
        let tokenizer = Tokenizer::from_gguf(mapped.file())?;
        let n_vocab = encoder.n_vocab();
        if tokenizer.vocab_size() > n_vocab {
            return Err(RuntimeError::metadata(
                "tokenizer.ggml.tokens",
                format!(
                    "{} tokens, but token_embd.weight has only {n_vocab} rows",
                    tokenizer.vocab_size()
                ),
            )
            .into());
        }
        let resolved = resolve::resolve(&options, encoder)?;
        let scheduler = Scheduler::new(resolved.scheduler)?;
        let scheduler = device::select(options.device, encoder, scheduler)?;
        // Width of an output row: the pooled embedding, or a token's hidden state.
        let dim = encoder.out_dim(resolved.pooling);
        // Rows leave the scheduler at the full width; `dimensions` cuts them afterwards.
        if let Some(d) = options.dimensions {
            crate::check_dimensions(d, dim)?;
        }
        log::debug!(
            "ggufembed: {} workers, token budget {}, parallelism {:?}",
            resolved.scheduler.threads,
            resolved.scheduler.token_budget,
            options.parallelism
        );
        Ok(Model {
            tokenizer,
            scheduler,
            pooling: resolved.pooling,
            normalize: options.normalize,
            dim,
            prompt: resolved.prompt,
            options,
            mapped,
        })
    }

    /// Dimension of the embeddings ([`Options::dimensions`](crate::Options) when given).
    pub fn dim(&self) -> usize {
        self.options.dimensions.unwrap_or(self.dim)
    }

    /// The width the model itself computes: [`dim`](Model::dim) before
    /// [`Options::dimensions`](crate::Options) cuts it.
    pub fn native_dim(&self) -> usize {
        self.dim
    }

    /// Longest input in tokens (special tokens included).
    pub fn max_len(&self) -> usize {
        self.scheduler.config().max_len
    }

    /// The pooling in use.
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// The worker threads.
    pub fn threads(&self) -> usize {
        self.scheduler.threads()
    }

    /// Tokens per micro-batch in use (given, or derived from the memory budget).
    pub fn token_budget(&self) -> usize {
        self.scheduler.config().token_budget
    }

    /// The options the model was opened with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The architecture (`general.architecture`).
    pub fn architecture(&self) -> &str {
        self.encoder().architecture()
    }

    /// Where the model runs: [`Device::Cpu`] or [`Device::Gpu`] (never `Auto`: that is
    /// resolved at `open`).
    pub fn device(&self) -> Device {
        if self.scheduler.on_gpu() {
            Device::Gpu
        } else {
            Device::Cpu
        }
    }

    /// The GPU adapter the model runs on, e.g. "NVIDIA H100 (Vulkan, DiscreteGpu, …)"; `None`
    /// on the CPU.
    pub fn gpu_adapter(&self) -> Option<String> {
        #[cfg(feature = "gpu")]
        {
            self.scheduler
                .gpu()
                .map(|g| g.context().adapter().to_string())
        }
        #[cfg(not(feature = "gpu"))]
        {
            None
        }
    }

    /// The underlying GGUF file.
    pub fn gguf(&self) -> &GgufFile {
        self.mapped.file()
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The prompt prepended to every text (empty if none).
    pub fn prompt(&self) -> &str {
        &self.prompt
    }

    /// Token ids of `text` (after the prompt, if any), special tokens included, not truncated.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        if self.prompt.is_empty() {
            return Ok(self.tokenizer.encode(text)?);
        }
        Ok(self.tokenizer.encode(&format!("{}{text}", self.prompt))?)
    }

    /// The ids [`embed`](Model::embed) runs `text` with (after the prompt, truncated to
    /// [`max_len`](Model::max_len) with the final special token kept), and the untruncated
    /// token count: the text was cut iff the count exceeds the ids' length.
    ///
    /// Feeding these ids to [`embed_tokens`](Model::embed_tokens) gives the embedding `embed`
    /// gives `text`, bit for bit; a server tokenizes requests with it off the worker pool and
    /// embeds many requests' ids in one scheduler pass.
    pub fn tokenize_for_embedding(&self, text: &str) -> Result<(Vec<u32>, usize)> {
        let full = self.tokenize(text)?;
        if full.len() <= self.max_len() {
            let n = full.len();
            return Ok((full, n));
        }
        // Only the long path tokenizes twice: the truncation rule (which special token is kept)
        // belongs to the tokenizer.
        let mut ids = Vec::new();
        self.encode_into(text, &mut ids)?;
        Ok((ids, full.len()))
    }

    /// Ids [`embed_tokens`](Model::embed_tokens) accepts are below this (the token embedding's
    /// rows).
    pub fn vocab_size(&self) -> usize {
        self.encoder().n_vocab()
    }

    /// Tokenizes `text` (after the prompt) truncated to `max_len` into `buf`; whether it was cut.
    pub(crate) fn encode_into(&self, text: &str, buf: &mut Vec<u32>) -> Result<bool> {
        let cut = if self.prompt.is_empty() {
            self.tokenizer
                .encode_truncated_into(text, self.max_len(), buf)?
        } else {
            let full = format!("{}{text}", self.prompt);
            self.tokenizer
                .encode_truncated_into(&full, self.max_len(), buf)?
        };
        Ok(cut)
    }

    /// Embeds `texts`, returning one vector per text in input order.
    ///
    /// Texts longer than [`max_len`](Model::max_len) tokens are truncated (the final special
    /// token kept) and flagged in the result; an empty text embeds its special tokens alone.
    /// With [`Pooling::None`] every token's vector is returned (see [`Embeddings`]).
    pub fn embed<S: AsRef<str>>(&self, texts: &[S]) -> Result<Embeddings> {
        let (ids, seqs, truncated) = self.tokenize_batch(texts.iter().map(|t| t.as_ref()))?;
        self.embed_packed(&ids, &seqs, truncated)
    }

    /// Embeds already tokenized texts (ids as [`tokenize`](Model::tokenize) returns them,
    /// special tokens included), one vector per sequence in input order.
    ///
    /// Apart from its result, this call allocates nothing once the model has run a batch of
    /// the same size (the workers' buffers are kept between calls).
    ///
    /// # Errors
    /// An empty sequence, one longer than [`max_len`](Model::max_len), or an id outside the
    /// vocabulary.
    pub fn embed_tokens<T: AsRef<[u32]> + Sync>(&self, seqs: &[T]) -> Result<Embeddings> {
        let mut ids = Vec::with_capacity(seqs.iter().map(|s| s.as_ref().len()).sum());
        let mut ranges = Vec::with_capacity(seqs.len());
        for s in seqs {
            let start = ids.len();
            ids.extend_from_slice(s.as_ref());
            ranges.push(start..ids.len());
        }
        self.embed_packed(&ids, &ranges, vec![false; seqs.len()])
    }

    /// The bound graph.
    fn encoder(&self) -> &dyn Encoder {
        self.mapped.encoder()
    }

    /// Tokenizes texts into one packed id buffer with each text's range and truncation flag.
    fn tokenize_batch<'t>(&self, texts: impl Iterator<Item = &'t str>) -> Result<Packed> {
        let (mut ids, mut seqs, mut truncated, mut buf) = (Vec::new(), vec![], vec![], vec![]);
        for text in texts {
            let cut = self.encode_into(text, &mut buf)?;
            let start = ids.len();
            ids.extend_from_slice(&buf);
            seqs.push(start..ids.len());
            truncated.push(cut);
        }
        Ok((ids, seqs, truncated))
    }

    /// Runs packed sequences (checked once, by the scheduler) and assembles the result.
    fn embed_packed(
        &self,
        ids: &[u32],
        seqs: &[Range<usize>],
        truncated: Vec<bool>,
    ) -> Result<Embeddings> {
        if self.is_reranker() {
            return Err(Error::WrongModel(
                "this model is a reranker (a cross-encoder scoring (query, document) pairs), \
                 not an embedding model: use rerank or score_pairs"
                    .to_owned(),
            ));
        }
        let batch = Batch::new(ids, seqs);
        let tokens: Vec<usize> = seqs.iter().map(|r| r.len()).collect();
        let mut offsets = Vec::with_capacity(tokens.len() + 1);
        let mut rows = 0;
        for &t in &tokens {
            offsets.push(rows);
            rows += self.pooling.rows(t);
        }
        offsets.push(rows);
        let mut data = vec![0.0f32; rows * self.dim];
        self.run_batch(&batch, self.pooling, self.normalize, &mut data)?;
        let mut e = Embeddings {
            data,
            dim: self.dim,
            tokens,
            truncated,
            offsets,
        };
        if let Some(d) = self.options.dimensions {
            e.truncate_dimensions(d, self.normalize)?;
        }
        Ok(e)
    }

    /// Runs a packed batch on the scheduler (which checks it once) into `out`.
    fn run_batch(
        &self,
        batch: &Batch<'_>,
        pooling: Pooling,
        normalize: bool,
        out: &mut [f32],
    ) -> Result<()> {
        let run = self
            .scheduler
            .run(self.encoder(), batch, pooling, normalize, out);
        match run {
            Ok(()) => {}
            // The public API has always called bad caller-given ids an invalid option.
            Err(RuntimeError::InvalidArgument {
                name: "tokens",
                reason,
            }) => return Err(invalid("tokens", reason)),
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}

/// Tokenized texts: the ids back to back, each text's range in them, and its truncation flag.
type Packed = (Vec<u32>, Vec<Range<usize>>, Vec<bool>);
