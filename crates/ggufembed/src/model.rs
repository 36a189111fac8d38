//! [`Model`]: an opened GGUF embedding model, and the scheduling of a batch over its workers.
//!
//! Scheduling (see docs/ARCHITECTURE.md, "Parallel runtime"): texts are sorted by token count,
//! longest first, and packed into micro-batches under a token budget; each worker of the
//! model's pool takes micro-batches in turn and runs the whole graph on one with serial
//! kernels (one matmul over all its tokens, attention per sequence). With fewer texts than
//! workers, the single micro-batch instead has each matmul's columns split across the workers.
//! Every kernel computes a row (and a column) independently of the others, so a text's
//! embedding is bit-identical whatever the batch, order, thread count or mode.

use std::cmp::Reverse;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use gguf_loader::GgufFile;
use ggufembed_runtime::bert::{BertModel, BertScratch, BertWeights};
use ggufembed_runtime::exec::{ColumnSplit, Exec};
use ggufembed_runtime::gemma::{GemmaConfig, GemmaModel, GemmaScratch, GemmaWeights};
use ggufembed_runtime::kernels::{Kernels, kernels};
use ggufembed_runtime::pool::WorkerPool;
use ggufembed_runtime::qwen3::{Qwen3Model, Qwen3Scratch, Qwen3Weights};
use ggufembed_runtime::{Pooling, RuntimeError, Tokenizer};

use crate::embeddings::Embeddings;
use crate::error::{Error, Result};
use crate::options::{Device, Options, Parallelism};

mod device;
mod stream;

pub use stream::{EmbedIter, Embedded};

/// Architectures this build runs, for error messages.
const SUPPORTED: &str = "bert, gemma-embedding, qwen3";

/// Tokenized texts: the ids back to back, each text's range in them, and its truncation flag.
type Packed = (Vec<u32>, Vec<Range<usize>>, Vec<bool>);

/// Sequence `i`'s token ids, for the scheduler.
type Source<'s> = dyn Fn(usize) -> &'s [u32] + Sync + 's;

/// Default scratch memory per worker (see [`Options::memory_budget`]).
const DEFAULT_MEMORY_BUDGET: usize = 16 << 20;
/// Bounds of the derived token budget.
const TOKEN_BUDGET_RANGE: (usize, usize) = (64, 8192);

#[derive(Debug)]
enum Arch {
    Bert(BertModel),
    Gemma(GemmaModel),
    Qwen3(Qwen3Model),
}

/// The bound weights, borrowing the mapped file (see [`Model::from_file`]).
#[derive(Debug)]
enum Weights {
    Bert(BertWeights<'static>),
    Gemma(GemmaWeights<'static>),
    Qwen3(Qwen3Weights<'static>),
}

/// One worker's reusable buffers: its micro-batch's packed ids, ranges and pooled output, and
/// the graph's activations. Sized by the largest micro-batch seen, then reused.
#[derive(Debug, Default)]
struct WorkerScratch {
    ids: Vec<u32>,
    seqs: Vec<Range<usize>>,
    out: Vec<f32>,
    bert: BertScratch,
    gemma: GemmaScratch,
    qwen3: Qwen3Scratch,
}

/// An opened embedding model: the mapped file, its validated graph, its tokenizer and its
/// worker threads.
///
/// `Model` is `Send + Sync`: one instance can serve many threads calling [`Model::embed`] at
/// once (their work shares the model's workers). Results are deterministic: a text's
/// embedding is bit-identical whatever it is batched with, in any order, with any thread count.
#[derive(Debug)]
pub struct Model {
    // `weights` borrows from `*file`: it is declared first so it is dropped first.
    weights: Weights,
    file: Arc<GgufFile>,
    arch: Arch,
    tokenizer: Tokenizer,
    kernels: &'static Kernels,
    pool: WorkerPool,
    max_len: usize,
    pooling: Pooling,
    normalize: bool,
    /// Width of a row as the graph gives it (before `options.dimensions` cuts it).
    dim: usize,
    parallelism: Parallelism,
    token_budget: usize,
    /// Prepended to every text before tokenization (empty: none).
    prompt: String,
    options: Options,
    /// One scratch per pool worker, indexed by the worker's index.
    scratch: Vec<Mutex<WorkerScratch>>,
    /// The GPU backend, when the model runs there (see [`Options::device`]).
    gpu: Option<device::Gpu>,
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

fn invalid(name: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidOption {
        name,
        reason: reason.into(),
    }
}

impl Model {
    /// Builds a model from an already opened GGUF file.
    pub fn from_file(file: GgufFile, options: Options) -> Result<Model> {
        let arch_name = file.get_str("general.architecture")?.to_string();
        let arch = match arch_name.as_str() {
            "bert" => Arch::Bert(BertModel::load(&file, &arch_name)?),
            "gemma-embedding" => Arch::Gemma(GemmaModel::load(&file, &arch_name)?),
            "qwen3" => Arch::Qwen3(Qwen3Model::load(&file, &arch_name)?),
            other => {
                return Err(RuntimeError::UnsupportedArchitecture {
                    arch: other.to_string(),
                    supported: SUPPORTED,
                }
                .into());
            }
        };
        let tokenizer = Tokenizer::from_gguf(&file)?;
        let (n_ctx, n_vocab, default_pooling, bytes_per_token) = match &arch {
            Arch::Bert(m) => {
                let c = &m.config;
                (c.n_ctx, m.n_vocab, c.pooling, bert_bytes_per_token(c))
            }
            Arch::Gemma(m) => (
                m.n_ctx(),
                m.n_vocab,
                m.pooling(),
                gemma_bytes_per_token(&m.config),
            ),
            Arch::Qwen3(m) => (m.n_ctx(), m.n_vocab, m.pooling(), m.bytes_per_token()),
        };
        let pooling = options.pooling.unwrap_or(default_pooling);
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
            (None, m) => (m.unwrap_or(DEFAULT_MEMORY_BUDGET) / bytes_per_token)
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
            (None, Some(name)) => {
                let presets = crate::options::prompt_presets(&arch_name);
                match presets.iter().find(|(n, _)| n == name) {
                    Some((_, p)) => p.to_string(),
                    None if presets.is_empty() => {
                        return Err(invalid(
                            "prompt_name",
                            format!(
                                "architecture '{arch_name}' has no prompt presets; give the prompt text instead"
                            ),
                        ));
                    }
                    None => {
                        let names: Vec<&str> = presets.iter().map(|(n, _)| *n).collect();
                        return Err(invalid(
                            "prompt_name",
                            format!("unknown preset '{name}' (known: {})", names.join(", ")),
                        ));
                    }
                }
            }
            (None, None) => String::new(),
        };
        if options.latency_target.is_zero() {
            return Err(invalid("latency_target", "must be above zero"));
        }
        let pool = WorkerPool::new(threads)?;
        let file = Arc::new(file);
        // SAFETY: the `GgufFile` lives in the `Arc`'s heap allocation, which never moves and is
        // never mutated (an `Arc` hands out only shared references and `GgufFile` has no
        // interior mutability), and it lives as long as `Model::file` does. The weights borrow
        // only from it; they are stored in `Model::weights`, declared before `file` so they are
        // dropped first, and are only ever lent out for the lifetime of `&self`. The `'static`
        // never escapes this struct.
        let file_ref: &'static GgufFile = unsafe { &*Arc::as_ptr(&file) };
        let weights = match &arch {
            Arch::Bert(m) => Weights::Bert(m.bind(file_ref)?),
            Arch::Gemma(m) => Weights::Gemma(m.bind(file_ref)?),
            Arch::Qwen3(m) => Weights::Qwen3(m.bind(file_ref)?),
        };
        // Width of an output row: the pooled embedding, or a token's hidden state.
        let dim = match &weights {
            Weights::Bert(w) => w.config().n_embd,
            Weights::Gemma(w) => w.out_dim(pooling),
            Weights::Qwen3(w) => w.out_dim(pooling),
        };
        // Rows leave the workers at the full width; `dimensions` cuts them afterwards.
        if let Some(d) = options.dimensions {
            crate::check_dimensions(d, dim)?;
        }
        let gpu = device::select(options.device, &arch_name, &weights)?;
        log::debug!(
            "ggufembed: {threads} workers, token budget {token_budget}, parallelism {:?}",
            options.parallelism
        );
        Ok(Model {
            weights,
            file,
            arch,
            tokenizer,
            kernels: kernels(),
            scratch: (0..threads).map(|_| Mutex::default()).collect(),
            pool,
            max_len,
            pooling,
            normalize: options.normalize,
            dim,
            parallelism: options.parallelism,
            token_budget,
            prompt,
            options,
            gpu,
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
        self.max_len
    }

    /// The pooling in use.
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// The worker threads.
    pub fn threads(&self) -> usize {
        self.pool.threads()
    }

    /// Tokens per micro-batch in use (given, or derived from the memory budget).
    pub fn token_budget(&self) -> usize {
        self.token_budget
    }

    /// The options the model was opened with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The architecture (`general.architecture`).
    pub fn architecture(&self) -> &str {
        match self.arch {
            Arch::Bert(_) => "bert",
            Arch::Gemma(_) => "gemma-embedding",
            Arch::Qwen3(_) => "qwen3",
        }
    }

    /// Where the model runs: [`Device::Cpu`] or [`Device::Gpu`] (never `Auto`: that is
    /// resolved at `open`).
    pub fn device(&self) -> Device {
        if self.gpu.is_some() {
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
            self.gpu.as_ref().map(|g| g.context().adapter().to_string())
        }
        #[cfg(not(feature = "gpu"))]
        {
            None
        }
    }

    /// The underlying GGUF file.
    pub fn gguf(&self) -> &GgufFile {
        &self.file
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
        if full.len() <= self.max_len {
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
        self.n_vocab()
    }

    /// Tokenizes `text` (after the prompt) truncated to `max_len` into `buf`; whether it was cut.
    pub(crate) fn encode_into(&self, text: &str, buf: &mut Vec<u32>) -> Result<bool> {
        let cut = if self.prompt.is_empty() {
            self.tokenizer
                .encode_truncated_into(text, self.max_len, buf)?
        } else {
            let full = format!("{}{text}", self.prompt);
            self.tokenizer
                .encode_truncated_into(&full, self.max_len, buf)?
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
        let n_vocab = self.n_vocab();
        for (i, s) in seqs.iter().enumerate() {
            let s = s.as_ref();
            if s.is_empty() || s.len() > self.max_len {
                return Err(invalid(
                    "tokens",
                    format!(
                        "sequence {i} has {} tokens, expected 1..={}",
                        s.len(),
                        self.max_len
                    ),
                ));
            }
            if let Some(&id) = s.iter().find(|&&id| id as usize >= n_vocab) {
                return Err(invalid(
                    "tokens",
                    format!("sequence {i}: id {id} is outside the vocabulary of {n_vocab}"),
                ));
            }
        }
        let get = |i: usize| seqs[i].as_ref();
        self.compute(seqs.len(), &get, vec![false; seqs.len()])
    }

    fn n_vocab(&self) -> usize {
        match &self.arch {
            Arch::Bert(m) => m.n_vocab,
            Arch::Gemma(m) => m.n_vocab,
            Arch::Qwen3(m) => m.n_vocab,
        }
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

    fn embed_packed(
        &self,
        ids: &[u32],
        seqs: &[Range<usize>],
        truncated: Vec<bool>,
    ) -> Result<Embeddings> {
        let get = |i: usize| &ids[seqs[i].clone()];
        self.compute(seqs.len(), &get, truncated)
    }

    /// Runs `n` sequences (`get(i)` is sequence `i`'s ids) and assembles the result.
    fn compute(&self, n: usize, get: &Source<'_>, truncated: Vec<bool>) -> Result<Embeddings> {
        let tokens: Vec<usize> = (0..n).map(|i| get(i).len()).collect();
        let mut offsets = Vec::with_capacity(n + 1);
        let mut rows = 0;
        for &t in &tokens {
            offsets.push(rows);
            rows += self.pooling.rows(t);
        }
        offsets.push(rows);
        let mut data = vec![0.0f32; rows * self.dim];
        self.run(get, &tokens, &offsets, &mut data)?;
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

    /// Schedules the sequences over the workers and writes each one's rows at its offset.
    fn run(
        &self,
        get: &Source<'_>,
        tokens: &[usize],
        offsets: &[usize],
        out: &mut [f32],
    ) -> Result<()> {
        let n = tokens.len();
        if n == 0 {
            return Ok(());
        }
        if let Some(gpu) = &self.gpu {
            return self.run_gpu(gpu, get, tokens, offsets, out);
        }
        let threads = self.pool.threads();
        // Longest first (ties by index, so the schedule is a function of the input): workers
        // finish together, and similar lengths share a micro-batch.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_unstable_by_key(|&i| (Reverse(tokens[i]), i));
        let total: usize = tokens.iter().sum();
        let within = match self.parallelism {
            Parallelism::WithinMatmul => threads > 1,
            Parallelism::AcrossTexts => false,
            Parallelism::Auto => threads > 1 && n < threads,
        };
        // Across texts, a small batch is cut so that every worker gets a share.
        let budget = if within {
            self.token_budget
        } else {
            self.token_budget.min(total.div_ceil(threads)).max(1)
        };
        let mut batches: Vec<Range<usize>> = Vec::with_capacity(n.min(total / budget + threads));
        let mut first = 0;
        while first < n {
            let mut last = first + 1;
            let mut t = tokens[order[first]];
            while last < n && t + tokens[order[last]] <= budget {
                t += tokens[order[last]];
                last += 1;
            }
            batches.push(first..last);
            first = last;
        }
        let workers = if within {
            1
        } else {
            threads.min(batches.len())
        };
        let splitter = self.pool.splitter(threads);
        let exec = Exec {
            kernels: self.kernels,
            split: within.then_some(&splitter as &dyn ColumnSplit),
        };
        let next = AtomicUsize::new(0);
        let out = Mutex::new(out);
        let first_error: Mutex<Option<RuntimeError>> = Mutex::new(None);
        let work = || {
            // A worker's own slot; a fresh scratch only if the slot is busy (a worker that,
            // waiting inside a split matmul, picked up a job of another call).
            // In the within-matmul mode the single driver always uses slot 0, whichever worker
            // runs it, so its buffers stay warm from call to call.
            let index = if within {
                Some(0)
            } else {
                self.pool.current_index()
            };
            let mut slot = index
                .and_then(|i| self.scratch.get(i))
                .and_then(|m| m.try_lock().ok());
            let mut spare = None;
            let ws = match slot.as_deref_mut() {
                Some(ws) => ws,
                None => spare.insert(WorkerScratch::default()),
            };
            while let Some(batch) = batches.get(next.fetch_add(1, Ordering::Relaxed)) {
                if lock(&first_error).is_some() {
                    break;
                }
                let texts = &order[batch.clone()];
                if let Err(e) = self.run_batch(&exec, get, texts, ws) {
                    lock(&first_error).get_or_insert(e);
                    break;
                }
                let mut out = lock(&out);
                let mut src = 0;
                for &i in texts {
                    let dst = offsets[i] * self.dim..offsets[i + 1] * self.dim;
                    let len = dst.len();
                    out[dst].copy_from_slice(&ws.out[src..src + len]);
                    src += len;
                }
            }
        };
        self.pool.run_workers(workers, &work);
        match first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// Runs one micro-batch (`texts`, indices into `get`) into `ws.out`, normalized if asked.
    fn run_batch(
        &self,
        exec: &Exec<'_>,
        get: &Source<'_>,
        texts: &[usize],
        ws: &mut WorkerScratch,
    ) -> std::result::Result<(), RuntimeError> {
        ws.ids.clear();
        ws.seqs.clear();
        // Sized once for the largest possible micro-batch (a micro-batch holds at most the
        // budget's tokens, or one longer text), so the steady state never reallocates them.
        let cap = self.token_budget.max(self.max_len);
        ws.ids.reserve(cap);
        ws.seqs.reserve(cap);
        let mut rows = 0;
        for &i in texts {
            let s = get(i);
            let start = ws.ids.len();
            ws.ids.extend_from_slice(s);
            ws.seqs.push(start..ws.ids.len());
            rows += self.pooling.rows(s.len());
        }
        let len = rows * self.dim;
        if ws.out.len() < len {
            ws.out.resize(len.max(cap * self.dim), 0.0);
        }
        let out = &mut ws.out[..len];
        match &self.weights {
            Weights::Bert(w) => {
                w.forward(exec, &ws.ids, &ws.seqs, self.pooling, out, &mut ws.bert)?
            }
            Weights::Gemma(w) => {
                w.forward(exec, &ws.ids, &ws.seqs, self.pooling, out, &mut ws.gemma)?
            }
            Weights::Qwen3(w) => {
                w.forward(exec, &ws.ids, &ws.seqs, self.pooling, out, &mut ws.qwen3)?
            }
        }
        if self.normalize {
            for row in out.chunks_exact_mut(self.dim) {
                self.kernels.l2_normalize(row);
            }
        }
        Ok(())
    }
}

/// Activation bytes per token of a BERT forward pass: six `n_embd` f32 buffers (x, q, k, v,
/// context, residual), the FFN's `n_ff`, the quantized activations (2.25 bytes per value of the
/// widest input) and the pooled output row.
fn bert_bytes_per_token(c: &ggufembed_runtime::bert::BertConfig) -> usize {
    4 * (6 * c.n_embd + c.n_ff) + (9 * c.n_ff.max(c.n_embd)).div_ceil(4) + 4 * c.n_embd
}

/// Activation bytes per token of an EmbeddingGemma pass: the hidden state and its residual
/// copies (four `width` buffers), Q, K, V and the attention output, gate and up of the FFN, the
/// int8 activations of the widest input, and the pooled output row (dense layers act on pooled
/// rows only).
fn gemma_bytes_per_token(c: &GemmaConfig) -> usize {
    let widest = c.n_ff.max(c.q_width()).max(c.n_embd);
    4 * (4 * c.n_embd + 2 * c.q_width() + 2 * c.kv_width() + 2 * c.n_ff + c.dim())
        + (9 * widest).div_ceil(4)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
