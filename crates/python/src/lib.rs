//! `ggufembed._native`: the Python extension module behind the `ggufembed` package (`python/`).
//!
//! A thin layer over the library's public API (`open_with`, `Options`, `Model::embed`,
//! `tokenize`, …): arguments are checked and copied out of Python objects while the GIL is
//! held, the work runs with the GIL released (`Python::detach`), and every Rust error becomes a
//! Python exception carrying the message the CLI prints after `error: ` — `OSError` (or its
//! `FileNotFoundError` / `PermissionError` subclasses) when the file cannot be read, `ValueError`
//! for everything else (a malformed file, a bad option, bad input). A panic is caught before it
//! reaches Python and raised as `RuntimeError`.

use std::panic::{AssertUnwindSafe, catch_unwind};

use ggufembed::gguf_loader::{GgufError, GgufFile};
use ggufembed::{Error, Options, Pooling};
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1};
use pyo3::exceptions::{
    PyFileNotFoundError, PyOSError, PyPermissionError, PyRuntimeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The exception for a library error, with the CLI's message (one line).
fn to_py(e: Error) -> PyErr {
    let message = e.to_string().replace('\n', " ");
    match &e {
        Error::Gguf(GgufError::Io { source, .. }) => match source.kind() {
            std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
            std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
            _ => PyOSError::new_err(message),
        },
        _ => PyValueError::new_err(message),
    }
}

/// Runs `f` with the GIL released; a panic inside becomes a `RuntimeError` instead of unwinding
/// into the interpreter.
fn detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> PyResult<T> + Send) -> PyResult<T> {
    py.detach(|| {
        catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(PyRuntimeError::new_err(format!(
                "internal error in ggufembed (please report): {what}"
            )))
        })
    })
}

/// An opened GGUF embedding model (see the `ggufembed.Model` docstring in `python/`).
#[pyclass(module = "ggufembed._native", name = "Model", frozen, subclass)]
struct PyModel {
    inner: ggufembed::Model,
    path: String,
}

#[pymethods]
impl PyModel {
    #[new]
    #[pyo3(signature = (path, threads=None, max_len=None, pooling=None, normalize=true,
                        prompt=None, prompt_name=None, dimensions=None))]
    // One parameter per Python keyword argument: pyo3 maps `signature` onto them one to one.
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        path: std::path::PathBuf,
        threads: Option<usize>,
        max_len: Option<usize>,
        pooling: Option<&str>,
        normalize: bool,
        prompt: Option<String>,
        prompt_name: Option<String>,
        dimensions: Option<usize>,
    ) -> PyResult<Self> {
        let mut options = Options::default().normalize(normalize);
        if let Some(t) = threads {
            options = options.threads(t);
        }
        if let Some(m) = max_len {
            options = options.max_len(m);
        }
        if let Some(p) = pooling {
            let p: Pooling = p.parse().map_err(PyValueError::new_err)?;
            if p == Pooling::None {
                // One vector per token does not fit the (n, dim) array `embed` returns.
                return Err(PyValueError::new_err(
                    "pooling 'none' is not supported by the Python binding (use mean, cls or last)",
                ));
            }
            options = options.pooling(p);
        }
        if let Some(p) = prompt {
            options = options.prompt(p);
        }
        if let Some(n) = prompt_name {
            options = options.prompt_name(n);
        }
        // Matryoshka: the library cuts and re-normalises (and refuses 0 or above the width).
        if let Some(d) = dimensions {
            options = options.dimensions(d);
        }
        let shown = path.display().to_string();
        let inner = detached(py, || ggufembed::open_with(&path, options).map_err(to_py))?;
        Ok(PyModel { inner, path: shown })
    }

    /// Embeds a sequence of strings: a float32 array of shape (len(texts), dim).
    fn embed<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let (rows, data) = detached(py, || self.run(&texts))?;
        to_array(py, data, rows, self.dim())
    }

    /// Embeds Arrow-layout UTF-8 strings: `offsets` (int64, len n + 1) into `data` (uint8).
    /// The bytes are checked (offsets in order and in range, valid UTF-8) and copied before the
    /// GIL is released. Used by `Model.embed_arrow`.
    fn _embed_utf8<'py>(
        &self,
        py: Python<'py>,
        offsets: PyReadonlyArray1<'py, i64>,
        data: PyReadonlyArray1<'py, u8>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let texts = utf8_rows(offsets.as_slice()?, data.as_slice()?)?;
        let (rows, out) = detached(py, || self.run(&texts))?;
        to_array(py, out, rows, self.dim())
    }

    /// Token ids of one text (special tokens included, not truncated), or of each text of a
    /// list.
    fn tokenize(&self, py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        if let Ok(one) = text.extract::<String>() {
            let ids = detached(py, || self.inner.tokenize(&one).map_err(to_py))?;
            return Ok(ids.into_pyobject(py)?.into_any().unbind());
        }
        let many: Vec<String> = text.extract()?;
        let ids = detached(py, || {
            many.iter()
                .map(|t| self.inner.tokenize(t).map_err(to_py))
                .collect::<PyResult<Vec<_>>>()
        })?;
        Ok(ids.into_pyobject(py)?.into_any().unbind())
    }

    /// Scores each document against `query` with a reranker (cross-encoder): a list of
    /// `(index, score)` best first (ties by index), the best `top_n` only if given; raw logits,
    /// or their sigmoid with `sigmoid=True`. Bit-identical to `ggufembed rerank`.
    #[pyo3(signature = (query, documents, top_n=None, sigmoid=false))]
    fn rerank(
        &self,
        py: Python<'_>,
        query: String,
        documents: Vec<String>,
        top_n: Option<usize>,
        sigmoid: bool,
    ) -> PyResult<Vec<(usize, f32)>> {
        let options = ggufembed::RerankOptions { top_n, sigmoid };
        let ranked = detached(py, || {
            self.inner
                .rerank_with(&query, &documents, options)
                .map_err(to_py)
        })?;
        Ok(ranked.into_iter().map(|s| (s.index, s.score)).collect())
    }

    /// Scores `(query, document)` pairs with a reranker: a float32 array, one score per pair in
    /// input order (raw logits, or their sigmoid with `sigmoid=True`).
    #[pyo3(signature = (pairs, sigmoid=false))]
    fn score_pairs<'py>(
        &self,
        py: Python<'py>,
        pairs: Vec<(String, String)>,
        sigmoid: bool,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let scores = detached(py, || {
            let scored = self.inner.score_pairs(&pairs).map_err(to_py)?;
            Ok(scored
                .into_iter()
                .map(|s| {
                    if sigmoid {
                        ggufembed::sigmoid(s.score)
                    } else {
                        s.score
                    }
                })
                .collect::<Vec<f32>>())
        })?;
        Ok(PyArray1::from_vec(py, scores))
    }

    /// Whether the model is a reranker (a cross-encoder: use `rerank`, not `embed`).
    #[getter]
    fn is_reranker(&self) -> bool {
        self.inner.is_reranker()
    }

    /// Width of the returned embeddings (`dimensions` if given).
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// Longest input in tokens, special tokens included; longer texts are truncated.
    #[getter]
    fn max_len(&self) -> usize {
        self.inner.max_len()
    }

    /// Worker threads of this model's pool.
    #[getter]
    fn threads(&self) -> usize {
        self.inner.threads()
    }

    /// The model file's path, as given.
    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    /// What the model is and how it runs, as a dict.
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let m = &self.inner;
        let d = PyDict::new(py);
        d.set_item("path", &self.path)?;
        d.set_item("architecture", m.architecture())?;
        d.set_item("name", m.gguf().get_str("general.name").ok())?;
        d.set_item("dim", self.dim())?;
        d.set_item("native_dim", m.native_dim())?;
        d.set_item("max_len", m.max_len())?;
        d.set_item("pooling", pooling_name(m.pooling()))?;
        d.set_item("reranker", m.is_reranker())?;
        d.set_item("normalize", m.options().normalize)?;
        d.set_item("prompt", m.prompt())?;
        d.set_item("threads", m.threads())?;
        d.set_item("token_budget", m.token_budget())?;
        d.set_item("device", m.device().to_string())?;
        d.set_item("vocab_size", m.tokenizer().vocab_size())?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "ggufembed.Model({:?}, architecture={:?}, dim={}, max_len={}, threads={})",
            self.path,
            self.inner.architecture(),
            self.dim(),
            self.inner.max_len(),
            self.inner.threads()
        )
    }
}

impl PyModel {
    /// Embeds `texts` (GIL released by the caller): row count and row-major data.
    fn run<S: AsRef<str>>(&self, texts: &[S]) -> PyResult<(usize, Vec<f32>)> {
        let e = self.inner.embed(texts).map_err(to_py)?;
        let rows = e.len();
        Ok((rows, e.into_vec()))
    }
}

fn to_array(
    py: Python<'_>,
    data: Vec<f32>,
    rows: usize,
    dim: usize,
) -> PyResult<Bound<'_, PyArray2<f32>>> {
    numpy::PyArray1::from_vec(py, data).reshape([rows, dim])
}

fn pooling_name(p: Pooling) -> &'static str {
    match p {
        Pooling::Mean => "mean",
        Pooling::Cls => "cls",
        Pooling::Last => "last",
        Pooling::Rank => "rank",
        _ => "none",
    }
}

/// Splits Arrow string data into owned strings, refusing offsets out of order or out of range
/// and invalid UTF-8 with the row named.
fn utf8_rows(offsets: &[i64], data: &[u8]) -> PyResult<Vec<String>> {
    if offsets.is_empty() {
        return Err(PyValueError::new_err(
            "Arrow string offsets are empty (expected n + 1 values)",
        ));
    }
    let mut rows = Vec::with_capacity(offsets.len() - 1);
    for (i, w) in offsets.windows(2).enumerate() {
        let (start, end) = (w[0], w[1]);
        if start < 0 || end < start || end as u64 > data.len() as u64 {
            return Err(PyValueError::new_err(format!(
                "Arrow string row {i}: offsets {start}..{end} are not within the {} data bytes",
                data.len()
            )));
        }
        let bytes = &data[start as usize..end as usize];
        let text = std::str::from_utf8(bytes).map_err(|e| {
            PyValueError::new_err(format!(
                "Arrow string row {i} is not valid UTF-8 (byte {})",
                e.valid_up_to()
            ))
        })?;
        rows.push(text.to_string());
    }
    Ok(rows)
}

/// The embedding width of the GGUF at `path`, read from its header and metadata only (no
/// weights are touched): what a model opened with default pooling returns.
#[pyfunction]
fn read_dim(py: Python<'_>, path: std::path::PathBuf) -> PyResult<usize> {
    detached(py, || {
        let file = GgufFile::open(&path).map_err(|e| to_py(e.into()))?;
        header_dim(&file).map_err(PyValueError::new_err)
    })
}

/// `{arch}.embedding_length`, or for EmbeddingGemma with dense projections their output width
/// (`dense_3_feat_out`), as the runtime reads them.
fn header_dim(file: &GgufFile) -> Result<usize, String> {
    let arch = file
        .get_str("general.architecture")
        .map_err(|e| e.to_string())?;
    let dense = format!("{arch}.dense_3_feat_out");
    let key = if arch == "gemma-embedding" && file.get(&dense).is_some() {
        dense
    } else {
        format!("{arch}.embedding_length")
    };
    let d = file.get_uint(&key).map_err(|e| e.to_string())?;
    usize::try_from(d).map_err(|_| format!("metadata key '{key}' is {d}, too large"))
}

/// The `ggufembed._native` module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyModel>()?;
    m.add_function(wrap_pyfunction!(read_dim, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
