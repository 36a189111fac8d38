//! [`Model`]: an opened GGUF embedding model.

use std::ops::Range;
use std::path::Path;
use std::sync::Mutex;

use gguf_loader::GgufFile;
use ggufembed_runtime::bert::{BertModel, BertScratch};
use ggufembed_runtime::kernels::{Kernels, kernels};
use ggufembed_runtime::{Pooling, RuntimeError, Tokenizer};

use crate::embeddings::Embeddings;
use crate::error::{Error, Result};
use crate::options::Options;

/// Architectures this build runs, for error messages.
const SUPPORTED: &str = "bert";

/// Tokens per micro-batch: one matmul runs over all of a micro-batch's tokens. Large enough to
/// amortize loading each weight tile, small enough that a worker's activations stay in cache
/// and several workers get work on small inputs.
const TOKEN_BUDGET: usize = 2048;

#[derive(Debug)]
enum Arch {
    Bert(BertModel),
}

/// An opened embedding model: the mapped file, its validated graph and its tokenizer.
///
/// `Model` is `Send + Sync`: one instance can serve many threads calling [`Model::embed`] at
/// once. Results are deterministic: a text's embedding is bit-identical whatever it is batched
/// with, in any order, with any thread count.
#[derive(Debug)]
pub struct Model {
    file: GgufFile,
    arch: Arch,
    tokenizer: Tokenizer,
    kernels: &'static Kernels,
    threads: usize,
    max_len: usize,
    pooling: Pooling,
    normalize: bool,
    dim: usize,
    /// Scratch buffers of finished workers, reused by the next ones.
    scratch: Mutex<Vec<BertScratch>>,
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
        let arch_name = file.get_str("general.architecture")?.to_string();
        let arch = match arch_name.as_str() {
            "bert" => Arch::Bert(BertModel::load(&file, &arch_name)?),
            other => {
                return Err(RuntimeError::UnsupportedArchitecture {
                    arch: other.to_string(),
                    supported: SUPPORTED,
                }
                .into());
            }
        };
        let tokenizer = Tokenizer::from_gguf(&file)?;
        let (dim, n_ctx, n_vocab, default_pooling) = match &arch {
            Arch::Bert(m) => (m.config.n_embd, m.config.n_ctx, m.n_vocab, m.config.pooling),
        };
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
                return Err(Error::InvalidOption {
                    name: "max_len",
                    reason: format!("{m} is outside 2..={n_ctx} (the model's context length)"),
                });
            }
        };
        let threads = match options.threads {
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
            Some(0) => {
                return Err(Error::InvalidOption {
                    name: "threads",
                    reason: "must be at least 1".into(),
                });
            }
            Some(t) => t,
        };
        Ok(Model {
            file,
            arch,
            tokenizer,
            kernels: kernels(),
            threads,
            max_len,
            pooling: options.pooling.unwrap_or(default_pooling),
            normalize: options.normalize,
            dim,
            scratch: Mutex::new(Vec::new()),
        })
    }

    /// Dimension of the embeddings.
    pub fn dim(&self) -> usize {
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

    /// The worker threads used per call.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The architecture (`general.architecture`).
    pub fn architecture(&self) -> &str {
        match self.arch {
            Arch::Bert(_) => "bert",
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

    /// Token ids of `text`, special tokens included, not truncated.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.tokenizer.encode(text)?)
    }

    /// Embeds `texts`, returning one vector per text in input order.
    ///
    /// Texts longer than [`max_len`](Model::max_len) tokens are truncated (the final `[SEP]`
    /// kept) and flagged in the result; an empty text embeds `[CLS][SEP]`. With
    /// [`Pooling::None`] every token's vector is returned (see [`Embeddings`]).
    pub fn embed<S: AsRef<str>>(&self, texts: &[S]) -> Result<Embeddings> {
        let n = texts.len();
        let mut ids = Vec::new();
        let mut seqs = Vec::with_capacity(n);
        let mut truncated = Vec::with_capacity(n);
        let mut buf = Vec::new();
        for text in texts {
            let cut =
                self.tokenizer
                    .encode_truncated_into(text.as_ref(), self.max_len, &mut buf)?;
            let start = ids.len();
            ids.extend_from_slice(&buf);
            seqs.push(start..ids.len());
            truncated.push(cut);
        }
        let mut offsets = Vec::with_capacity(n + 1);
        let mut rows = 0;
        for r in &seqs {
            offsets.push(rows);
            rows += self.pooling.rows(r.len());
        }
        offsets.push(rows);
        let mut data = vec![0.0f32; rows * self.dim];
        self.run(&ids, &seqs, &mut data)?;
        if self.normalize {
            for row in data.chunks_exact_mut(self.dim) {
                self.kernels.l2_normalize(row);
            }
        }
        Ok(Embeddings {
            data,
            dim: self.dim,
            tokens: seqs.iter().map(|r| r.len()).collect(),
            truncated,
            offsets,
        })
    }

    /// Runs the graph over packed sequences, splitting them into micro-batches of contiguous
    /// texts that workers take in turn.
    fn run(&self, ids: &[u32], seqs: &[Range<usize>], out: &mut [f32]) -> Result<()> {
        let Arch::Bert(bert) = &self.arch;
        let weights = bert.bind(&self.file)?;
        // Micro-batches: contiguous runs of texts holding at most TOKEN_BUDGET tokens (a longer
        // text goes alone).
        let mut batches: Vec<(Range<usize>, &mut [f32])> = Vec::new();
        let mut rest = out;
        let mut first = 0;
        while first < seqs.len() {
            let mut last = first + 1;
            let mut tokens = seqs[first].len();
            while last < seqs.len() && tokens + seqs[last].len() <= TOKEN_BUDGET {
                tokens += seqs[last].len();
                last += 1;
            }
            let rows: usize = seqs[first..last]
                .iter()
                .map(|r| self.pooling.rows(r.len()))
                .sum();
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(rows * self.dim);
            batches.push((first..last, head));
            rest = tail;
            first = last;
        }
        let workers = self.threads.min(batches.len()).max(1);
        let queue = Mutex::new(batches.into_iter());
        let first_error: Mutex<Option<RuntimeError>> = Mutex::new(None);
        let work = || {
            let mut scratch = self.take_scratch();
            loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                let Some((texts, out)) = next else { break };
                if first_error
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .is_some()
                {
                    break;
                }
                let span = seqs[texts.start].start..seqs[texts.end - 1].end;
                let local: Vec<Range<usize>> = seqs[texts]
                    .iter()
                    .map(|r| r.start - span.start..r.end - span.start)
                    .collect();
                let result = weights.forward(
                    self.kernels,
                    &ids[span],
                    &local,
                    self.pooling,
                    out,
                    &mut scratch,
                );
                if let Err(e) = result {
                    first_error
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_or_insert(e);
                    break;
                }
            }
            self.scratch
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(scratch);
        };
        if workers == 1 {
            work();
        } else {
            std::thread::scope(|s| {
                for _ in 0..workers {
                    s.spawn(work);
                }
            });
        }
        match first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    fn take_scratch(&self) -> BertScratch {
        self.scratch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default()
    }
}
