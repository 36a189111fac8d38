//! [`Options`] for [`open_with`](crate::open_with).

pub use ggufembed_runtime::Pooling;

/// How a model is opened and run. `Options::default()` is what [`open`](crate::open) uses.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Options {
    /// Worker threads; `None`: the machine's available cores.
    pub threads: Option<usize>,
    /// Longest input in tokens, special tokens included; longer texts are truncated (and
    /// flagged). `None`: the model's context length.
    pub max_len: Option<usize>,
    /// Pooling; `None`: what the model file asks for.
    pub pooling: Option<Pooling>,
    /// L2-normalize each embedding (default true).
    pub normalize: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threads: None,
            max_len: None,
            pooling: None,
            normalize: true,
        }
    }
}

impl Options {
    /// Sets the number of worker threads.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// Sets the longest input in tokens.
    pub fn max_len(mut self, max_len: usize) -> Self {
        self.max_len = Some(max_len);
        self
    }

    /// Overrides the pooling.
    pub fn pooling(mut self, pooling: Pooling) -> Self {
        self.pooling = Some(pooling);
        self
    }

    /// Turns L2 normalization on or off.
    pub fn normalize(mut self, normalize: bool) -> Self {
        self.normalize = normalize;
        self
    }
}
