//! `ggufembed convert`: Hugging Face / sentence-transformers model directory → GGUF.
//!
//! [`convert_hf`] reads a model directory (`config.json`, `model.safetensors`, `tokenizer.json`
//! or `vocab.txt`, `tokenizer_config.json`, `modules.json` and the pooling module's
//! `config.json`, and the model card `README.md`) and writes what llama.cpp's
//! `convert_hf_to_gguf.py` writes for the same model: the same metadata keys, values, types and
//! order, the same tensor names, shapes, types and order, and the same data, byte for byte:
//!
//! * F32 output copies (or widens) the weights;
//! * F16 output rounds to nearest even, as numpy's `astype(np.float16)` does;
//! * Q8_0 output is ggml's reference quantizer ([`quant::quantize_row_q8_0_ref`]).
//!
//! Norms, biases, position and token-type embeddings stay F32 whatever the output type, as in
//! llama.cpp. Safetensors inputs may be F32, F16 or BF16 (converted to `f32` first).
//!
//! Supported architectures: [`SUPPORTED_ARCHITECTURES`] (BERT encoders, and BERT
//! cross-encoders: `BertForSequenceClassification`, whose classifier is written as
//! `cls.output.{weight,bias}` as llama.cpp does, and whose pooler is kept as `cls.{weight,bias}`
//! where llama.cpp's converter drops it — without it the scores are not the model's, and
//! rankings reverse; llama.cpp's rank pooling applies it when present). Every missing or
//! malformed input is a [`ConvertError`] naming the file (and the key or tensor); nothing
//! panics on bad input.
//!
//! `tokenizer.ggml.pre` is chosen as llama.cpp chooses it: the model's tokenizer (its
//! `tokenizer.json` run by the Hugging Face `tokenizers` library, as transformers does, or
//! without one a tokenizer built from `vocab.txt` the way transformers converts a slow
//! `BertTokenizer`) tokenizes llama.cpp's probe text, and the SHA-256 of the ids is looked up
//! in llama.cpp's table. For a hash llama.cpp does not know (llama.cpp itself then refuses to
//! convert) or a tokenizer that cannot be run, it falls back to `jina-v2-en` for lowercasing
//! tokenizers (what llama.cpp picks for the `bert-base-uncased` vocabulary) and `default`
//! otherwise, with a warning in [`ConvertReport::warnings`]. The descriptive `general.*` keys
//! follow gguf-py's model-card heuristics, with a small YAML reader that understands scalars
//! and lists of strings only.
//!
//! ```no_run
//! use ggufembed_convert::{convert_hf, OutType};
//! # fn main() -> Result<(), ggufembed_convert::ConvertError> {
//! let report = convert_hf(
//!     "all-MiniLM-L6-v2".as_ref(),
//!     "all-MiniLM-L6-v2.q8_0.gguf".as_ref(),
//!     OutType::Q8_0,
//!     &mut |_progress| {},
//! )?;
//! println!("{} tensors, {} bytes", report.n_tensors, report.file_size);
//! # Ok(()) }
//! ```

mod bert;
mod hf;
mod model_card;
mod pretok;
pub mod quant;
mod safetensors_file;
mod vocab;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use gguf_loader::{GgmlType, GgufError, GgufWriter};

/// Hugging Face `architectures` this converter supports.
pub const SUPPORTED_ARCHITECTURES: &[&str] = &[
    "BertModel",
    "BertForMaskedLM",
    "BertForSequenceClassification",
];

/// The requested output type (llama.cpp's `--outtype`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutType {
    /// Everything F32 (`general.file_type` 0, `ALL_F32`).
    F32,
    /// Matrices and token embeddings F16 (`general.file_type` 1, `MOSTLY_F16`).
    F16,
    /// Matrices and token embeddings Q8_0 (`general.file_type` 7, `MOSTLY_Q8_0`).
    Q8_0,
}

impl OutType {
    /// The name used on the command line: `f32`, `f16` or `q8_0`.
    pub fn name(self) -> &'static str {
        match self {
            OutType::F32 => "f32",
            OutType::F16 => "f16",
            OutType::Q8_0 => "q8_0",
        }
    }

    /// llama.cpp's `LlamaFileType` value written to `general.file_type`.
    pub fn file_type(self) -> u32 {
        match self {
            OutType::F32 => 0,
            OutType::F16 => 1,
            OutType::Q8_0 => 7,
        }
    }

    /// The ggml type that matrices take.
    pub fn ggml_type(self) -> GgmlType {
        match self {
            OutType::F32 => GgmlType::F32,
            OutType::F16 => GgmlType::F16,
            OutType::Q8_0 => GgmlType::Q8_0,
        }
    }
}

/// ggml tensor types and llama-quantize file types (lower case) that the converter does not
/// write: the quantizer is a later issue.
const UNWRITABLE_TYPES: &[&str] = &[
    "bf16", "f64", "q4_0", "q4_1", "q5_0", "q5_1", "q8_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k",
    "q8_k", "iq1_s", "iq1_m", "iq2_xxs", "iq2_xs", "iq2_s", "iq3_xxs", "iq3_s", "iq4_nl", "iq4_xs",
    "tq1_0", "tq2_0", "mxfp4", "q2_k_s", "q3_k_s", "q3_k_m", "q3_k_l", "q4_k_s", "q4_k_m",
    "q5_k_s", "q5_k_m", "iq3_xs", "iq3_m", "iq2_m",
];

impl fmt::Display for OutType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OutType {
    type Err = String;

    /// Refuses every other name; a type ggml (or llama-quantize) knows but this converter does
    /// not write — `embed` reads most of them — is named as such, with the way to make it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        match lower.as_str() {
            "f32" => Ok(OutType::F32),
            "f16" => Ok(OutType::F16),
            "q8_0" => Ok(OutType::Q8_0),
            _ if UNWRITABLE_TYPES.contains(&lower.as_str()) => Err(format!(
                "output type '{s}' cannot be written by this converter (it writes f32, f16 or \
                 q8_0); convert to f32 or f16, then quantize with llama-quantize"
            )),
            _ => Err(format!(
                "unknown output type '{s}' (expected f32, f16 or q8_0)"
            )),
        }
    }
}

/// Everything that can go wrong converting a model directory. Each variant names the file,
/// and the key or tensor, that is missing or wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    /// The model directory itself is missing or not a directory.
    #[error("model directory '{}' does not exist or is not a directory", path.display())]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },

    /// A required input file is absent.
    #[error("missing {what}: '{}' not found", path.display())]
    MissingFile {
        /// The file looked for.
        path: PathBuf,
        /// What it is for.
        what: String,
    },

    /// A file exists but could not be read (or mapped).
    #[error("cannot read '{}': {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// A JSON file is not valid JSON.
    #[error("malformed JSON in '{}': {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        #[source]
        source: serde_json::Error,
    },

    /// A key of a JSON file is missing, has the wrong type or an impossible value.
    #[error("'{}': key '{key}' {reason}", path.display())]
    BadKey {
        /// The file.
        path: PathBuf,
        /// The key (dotted for nested keys).
        key: String,
        /// What is wrong with it.
        reason: String,
    },

    /// `config.json` names an architecture this converter does not convert.
    #[error(
        "unsupported architecture '{found}' in '{}' (supported: {})",
        path.display(),
        SUPPORTED_ARCHITECTURES.join(", ")
    )]
    UnsupportedArchitecture {
        /// The `config.json`.
        path: PathBuf,
        /// The architecture found.
        found: String,
    },

    /// The pooling module's configuration names no pooling mode llama.cpp supports.
    #[error("unknown pooling in '{}': {reason}", path.display())]
    UnknownPooling {
        /// The pooling `config.json`.
        path: PathBuf,
        /// What was found.
        reason: String,
    },

    /// The safetensors file is malformed.
    #[error("malformed safetensors file '{}': {reason}", path.display())]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A tensor the architecture needs is absent from the safetensors file.
    #[error("tensor '{name}' is missing from '{}'", path.display())]
    MissingTensor {
        /// The safetensors file.
        path: PathBuf,
        /// The Hugging Face tensor name.
        name: String,
    },

    /// A tensor has a name the architecture does not know.
    #[error("'{}': cannot map tensor '{name}' to a GGUF tensor name", path.display())]
    UnexpectedTensor {
        /// The safetensors file.
        path: PathBuf,
        /// The Hugging Face tensor name.
        name: String,
    },

    /// A tensor is stored in a dtype the converter does not read.
    #[error("'{}': tensor '{name}' has dtype {dtype}, expected F32, F16 or BF16", path.display())]
    TensorDtype {
        /// The safetensors file.
        path: PathBuf,
        /// The Hugging Face tensor name.
        name: String,
        /// The dtype found.
        dtype: String,
    },

    /// A tensor's shape disagrees with `config.json`.
    #[error("'{}': tensor '{name}' has shape {found:?}, expected {expected:?} (from config.json)", path.display())]
    TensorShape {
        /// The safetensors file.
        path: PathBuf,
        /// The Hugging Face tensor name.
        name: String,
        /// The shape `config.json` implies (PyTorch order).
        expected: Vec<u64>,
        /// The shape found (PyTorch order).
        found: Vec<u64>,
    },

    /// The vocabulary is absent or malformed.
    #[error("vocabulary: '{}': {reason}", path.display())]
    Vocab {
        /// The tokenizer file (or the directory when no tokenizer file exists).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// The output file cannot be created where it was asked for.
    #[error("cannot write '{}': {reason}", path.display())]
    Output {
        /// The output file.
        path: PathBuf,
        /// Why.
        reason: String,
    },

    /// The GGUF file could not be assembled or written.
    #[error("cannot write '{}': {source}", path.display())]
    Write {
        /// The output file.
        path: PathBuf,
        /// What the writer said.
        #[source]
        source: GgufError,
    },
}

/// Shorthand for results of the converter.
pub type Result<T, E = ConvertError> = std::result::Result<T, E>;

/// Progress events, in order: one [`Progress::Start`], one [`Progress::Tensor`] per tensor,
/// then [`Progress::Writing`].
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Progress<'a> {
    /// Inputs are read and checked; `total` tensors will be converted.
    Start {
        /// Number of tensors.
        total: usize,
    },
    /// Tensor `index` (0-based) of `total` was converted.
    Tensor {
        /// Its position.
        index: usize,
        /// Number of tensors.
        total: usize,
        /// Its GGUF name.
        name: &'a str,
        /// The type it was written as.
        ggml_type: GgmlType,
    },
    /// The GGUF file is being written.
    Writing {
        /// The output file.
        path: &'a Path,
    },
}

/// What a conversion did.
#[derive(Clone, Debug)]
pub struct ConvertReport {
    /// The file written.
    pub output: PathBuf,
    /// The output type asked for.
    pub out_type: OutType,
    /// The Hugging Face architecture converted.
    pub architecture: String,
    /// Number of tensors written.
    pub n_tensors: usize,
    /// Number of metadata keys written.
    pub n_metadata: usize,
    /// Number of parameters (elements of all tensors written).
    pub n_params: u64,
    /// Size of the file written, in bytes.
    pub file_size: u64,
    /// Wall-clock seconds the conversion took.
    pub seconds: f64,
    /// Things that were converted, but not necessarily as llama.cpp would (for example a Q8_0
    /// matrix whose rows are not whole blocks, written as F16 like llama.cpp does, or a
    /// pre-tokenizer name that could not be derived).
    pub warnings: Vec<String>,
}

/// Converts the Hugging Face model directory `dir` into the GGUF file `out`, with matrices
/// and token embeddings of `out_type`. `progress` is called as the work advances (pass
/// `&mut |_| {}` to ignore it).
///
/// The file is written to a temporary sibling of `out` and renamed into place, so a failed
/// conversion leaves no partial file behind.
pub fn convert_hf(
    dir: &Path,
    out: &Path,
    out_type: OutType,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<ConvertReport> {
    let started = Instant::now();
    if !dir.is_dir() {
        return Err(ConvertError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    check_output(out)?;
    let mut warnings = Vec::new();

    let config = hf::Config::load(dir)?;
    let pooling = hf::load_pooling(dir)?;
    let vocab = vocab::load(dir, &config, &mut warnings)?;
    let weights = safetensors_file::SafetensorsFile::open(&dir.join("model.safetensors"))?;
    let plan = bert::plan_tensors(&config, &weights, vocab.tokens.len() as u64)?;

    let total = plan.len();
    progress(Progress::Start { total });
    let mut writer = GgufWriter::new();
    let mut tensors = Vec::with_capacity(total);
    let mut n_params = 0u64;
    for (index, item) in plan.iter().enumerate() {
        let converted = bert::convert_tensor(&weights, item, out_type, &mut warnings)?;
        n_params += converted.shape.iter().product::<u64>();
        progress(Progress::Tensor {
            index,
            total,
            name: &item.gguf_name,
            ggml_type: converted.ggml_type,
        });
        tensors.push(converted);
    }

    let card = model_card::load(dir);
    let general = model_card::general_metadata(dir, &card, &config.raw, n_params);
    let write_err = |source| ConvertError::Write {
        path: out.to_path_buf(),
        source,
    };
    let mut n_metadata = 0usize;
    let mut add = |w: &mut GgufWriter<'_>, key: &str, value: gguf_loader::Value| -> Result<()> {
        n_metadata += 1;
        w.add_metadata(key, value).map_err(write_err)
    };

    add(&mut writer, "general.architecture", "bert".into())?;
    add(&mut writer, "general.type", "model".into())?;
    for (key, value) in general {
        add(&mut writer, &key, value)?;
    }
    for (key, value) in bert::hparams_metadata(&config, out_type, pooling) {
        add(&mut writer, &key, value)?;
    }
    add(
        &mut writer,
        "general.quantization_version",
        gguf_loader::Value::U32(2),
    )?;
    for (key, value) in vocab.metadata(config.type_vocab_size) {
        add(&mut writer, &key, value)?;
    }

    let n_tensors = tensors.len();
    for t in tensors {
        writer
            .add_tensor(t.name, t.ggml_type, &t.shape, t.data)
            .map_err(write_err)?;
    }

    progress(Progress::Writing { path: out });
    let file_size = write_atomically(&writer, out)?;
    Ok(ConvertReport {
        output: out.to_path_buf(),
        out_type,
        architecture: config.architecture.clone(),
        n_tensors,
        n_metadata,
        n_params,
        file_size,
        seconds: started.elapsed().as_secs_f64(),
        warnings,
    })
}

/// Refuses, before any work, an output path that cannot be written: one that names a
/// directory or no file, or whose directory does not exist.
fn check_output(out: &Path) -> Result<()> {
    let fail = |reason: &str| {
        Err(ConvertError::Output {
            path: out.to_path_buf(),
            reason: reason.into(),
        })
    };
    if out.file_name().is_none() {
        return fail("the path names no file");
    }
    if out.is_dir() {
        return fail("it is a directory");
    }
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return fail(&format!("directory '{}' does not exist", parent.display()));
    }
    Ok(())
}

/// Writes `writer` to a temporary file next to `out`, then renames it to `out`.
fn write_atomically(writer: &GgufWriter<'_>, out: &Path) -> Result<u64> {
    let output_error = |e: std::io::Error| ConvertError::Output {
        path: out.to_path_buf(),
        reason: e.to_string(),
    };
    let file_name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = out.with_file_name(format!(".{file_name}.partial"));
    if let Err(e) = writer.write_file(&tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(match e {
            GgufError::Io { source, .. } => output_error(source),
            source => ConvertError::Write {
                path: out.to_path_buf(),
                source,
            },
        });
    }
    if let Err(e) = std::fs::rename(&tmp, out) {
        let _ = std::fs::remove_file(&tmp);
        return Err(output_error(e));
    }
    Ok(std::fs::metadata(out).map_err(output_error)?.len())
}
