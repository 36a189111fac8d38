//! `ggufembed embed` and `ggufembed tokenize`: texts in (JSONL or plain lines), vectors or ids
//! out, in input order, in batches so memory stays bounded for JSONL output.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use std::cell::RefCell;
use std::time::Duration;

use ggufembed::{Embedded, Model, Options, Parallelism, Pooling};
use ggufembed_cli::input::{Record, Records};
use serde_json::{Map, Value};

/// Options shared by `embed` and `tokenize`.
pub struct InputArgs {
    pub input: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub text_lines: bool,
}

/// Options of `embed` only.
pub struct EmbedArgs {
    pub max_len: Option<usize>,
    pub threads: Option<usize>,
    pub pooling: Option<Pooling>,
    pub normalize: bool,
    pub npy: bool,
    pub parallelism: Parallelism,
    pub token_budget: Option<usize>,
    pub memory_budget_mib: Option<usize>,
    pub latency_ms: Option<u64>,
    pub prompt: Option<String>,
    pub prompt_name: Option<String>,
    pub device: ggufembed::Device,
    pub dimensions: Option<usize>,
}

pub(crate) fn open_input(path: &Option<PathBuf>) -> Result<Box<dyn BufRead>, String> {
    match path {
        Some(p) if p.as_os_str() != "-" => {
            let f =
                File::open(p).map_err(|e| format!("cannot open input '{}': {e}", p.display()))?;
            Ok(Box::new(BufReader::with_capacity(1 << 16, f)))
        }
        _ => Ok(Box::new(BufReader::new(io::stdin()))),
    }
}

pub(crate) fn open_output(path: &Option<PathBuf>) -> Result<Box<dyn Write>, String> {
    match path {
        Some(p) if p.as_os_str() != "-" => {
            let f = File::create(p)
                .map_err(|e| format!("cannot create output '{}': {e}", p.display()))?;
            Ok(Box::new(BufWriter::with_capacity(1 << 16, f)))
        }
        _ => Ok(Box::new(BufWriter::with_capacity(1 << 16, io::stdout()))),
    }
}

/// What a write error means for the run: a closed pipe ends it quietly (`| head`), anything else
/// is an error naming the output.
pub(crate) enum Stop {
    Quiet,
    Error(String),
}

impl From<String> for Stop {
    fn from(s: String) -> Stop {
        Stop::Error(s)
    }
}

pub(crate) fn write_err(path: &Option<PathBuf>, e: io::Error) -> Stop {
    if e.kind() == io::ErrorKind::BrokenPipe {
        return Stop::Quiet;
    }
    let name = path
        .as_deref()
        .map_or("stdout".into(), |p: &Path| format!("'{}'", p.display()));
    Stop::Error(format!("cannot write to {name}: {e}"))
}

pub(crate) fn finish(result: Result<(), Stop>) -> Result<(), String> {
    match result {
        Ok(()) | Err(Stop::Quiet) => Ok(()),
        Err(Stop::Error(e)) => Err(e),
    }
}

/// A progress line on stderr when it is a terminal: texts done so far.
fn progress_bar(what: &str) -> Option<indicatif::ProgressBar> {
    if !io::stderr().is_terminal() {
        return None;
    }
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
        "{what} {{pos}} texts ({{per_sec}}) {{elapsed}}"
    )) {
        bar.set_style(style);
    }
    Some(bar)
}

/// `ggufembed embed`.
pub fn embed(model_path: &Path, io_args: &InputArgs, args: &EmbedArgs) -> Result<(), String> {
    let mut options = Options::default()
        .normalize(args.normalize)
        .parallelism(args.parallelism);
    options.max_len = args.max_len;
    options.threads = args.threads;
    options.pooling = args.pooling;
    options.token_budget = args.token_budget;
    options.memory_budget = args.memory_budget_mib.map(|m| m.saturating_mul(1 << 20));
    options.prompt = args.prompt.clone();
    options.prompt_name = args.prompt_name.clone();
    options.device = args.device;
    options.dimensions = args.dimensions;
    if let Some(ms) = args.latency_ms {
        options.latency_target = Duration::from_millis(ms);
    }
    let model = ggufembed::open_with(model_path, options).map_err(|e| e.to_string())?;
    if args.npy && model.pooling() == Pooling::None {
        return Err(
            "--format npy needs one vector per text, but --pooling none gives one per token; use JSONL output"
                .into(),
        );
    }
    let mut records = Records::new(open_input(&io_args.input)?, io_args.text_lines);
    let mut out = open_output(&io_args.output)?;
    let bar = progress_bar("embedding");
    let result = if args.npy {
        embed_npy(&model, &mut records, io_args, &mut out, bar.as_ref())
    } else {
        embed_jsonl(&model, &mut records, io_args, &mut out, bar.as_ref())
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    finish(result.and_then(|()| out.flush().map_err(|e| write_err(&io_args.output, e))))
}

/// The records as an iterator for [`Model::embed_iter`]: a read error ends it and is kept in
/// `error` for the caller to report after the texts before it.
struct RecordSource<'r, R> {
    records: &'r mut Records<R>,
    error: &'r RefCell<Option<String>>,
}

impl<R: BufRead> Iterator for RecordSource<'_, R> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        if self.error.borrow().is_some() {
            return None;
        }
        match self.records.next_record() {
            Ok(r) => r,
            Err(e) => {
                *self.error.borrow_mut() = Some(e);
                None
            }
        }
    }
}

/// Streams every record through `model.embed_iter` (bounded memory, input order), calling
/// `each` per result, then reports a read error if one ended the input.
fn for_each_embedded(
    model: &Model,
    records: &mut Records<Box<dyn BufRead>>,
    bar: Option<&indicatif::ProgressBar>,
    mut each: impl FnMut(usize, Embedded<Record>) -> Result<(), Stop>,
) -> Result<(), Stop> {
    let error = RefCell::new(None);
    let source = RecordSource {
        records,
        error: &error,
    };
    for (index, result) in model.embed_iter(source).enumerate() {
        each(index, result.map_err(|e| e.to_string())?)?;
        if let Some(b) = bar {
            b.set_position(index as u64 + 1);
        }
    }
    match error.into_inner() {
        Some(e) => Err(Stop::Error(e)),
        None => Ok(()),
    }
}

fn embed_jsonl(
    model: &Model,
    records: &mut Records<Box<dyn BufRead>>,
    io_args: &InputArgs,
    out: &mut Box<dyn Write>,
    bar: Option<&indicatif::ProgressBar>,
) -> Result<(), Stop> {
    let mut line = Vec::new();
    for_each_embedded(model, records, bar, |index, e| {
        line.clear();
        write_embedding_line(
            &mut line,
            index,
            &e.vector,
            model.dim(),
            e.tokens,
            e.truncated,
            &e.input.extra,
        )
        .map_err(|e| format!("cannot encode output line: {e}"))?;
        out.write_all(&line)
            .map_err(|e| write_err(&io_args.output, e))
    })
}

/// `{"index":i,"embedding":[…],"tokens":n,"truncated":b, …other input fields}` and a newline.
/// Without pooling (`vector` longer than `dim`), `"embedding"` is an array of per-token vectors.
/// Floats are written in their shortest round-trip form (`f32` Display), not widened to f64.
/// Input fields named like the output's own are replaced by them.
fn write_embedding_line(
    line: &mut Vec<u8>,
    index: usize,
    vector: &[f32],
    dim: usize,
    tokens: usize,
    truncated: bool,
    extra: &Map<String, Value>,
) -> io::Result<()> {
    write!(line, "{{\"index\":{index},\"embedding\":")?;
    let nested = vector.len() != dim;
    if nested {
        line.push(b'[');
    }
    for (r, row) in vector.chunks(dim.max(1)).enumerate() {
        if r > 0 {
            line.push(b',');
        }
        line.push(b'[');
        for (j, x) in row.iter().enumerate() {
            if j > 0 {
                line.push(b',');
            }
            if x.is_finite() {
                write!(line, "{x}")?;
            } else {
                line.extend_from_slice(b"null");
            }
        }
        line.push(b']');
    }
    if nested {
        line.push(b']');
    }
    write!(line, ",\"tokens\":{tokens},\"truncated\":{truncated}")?;
    for (k, v) in extra {
        if matches!(k.as_str(), "index" | "embedding" | "tokens" | "truncated") {
            continue;
        }
        line.push(b',');
        serde_json::to_writer(&mut *line, k)?;
        line.push(b':');
        serde_json::to_writer(&mut *line, v)?;
    }
    line.extend_from_slice(b"}\n");
    Ok(())
}

/// `.npy` needs the row count in its header: rows are collected, then written at once.
fn embed_npy(
    model: &Model,
    records: &mut Records<Box<dyn BufRead>>,
    io_args: &InputArgs,
    out: &mut Box<dyn Write>,
    bar: Option<&indicatif::ProgressBar>,
) -> Result<(), Stop> {
    let mut data: Vec<f32> = Vec::new();
    let mut rows = 0usize;
    for_each_embedded(model, records, bar, |_, e| {
        data.extend_from_slice(&e.vector);
        rows += 1;
        Ok(())
    })?;
    write_npy(out, rows, model.dim(), &data).map_err(|e| write_err(&io_args.output, e))
}

/// NumPy `.npy` v1.0: magic, header dict padded with spaces to a multiple of 64, then
/// little-endian f32 data in C order.
pub fn write_npy(out: &mut dyn Write, rows: usize, cols: usize, data: &[f32]) -> io::Result<()> {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    let unpadded = 10 + dict.len() + 1;
    let total = unpadded.next_multiple_of(64);
    let mut header = Vec::with_capacity(total);
    header.extend_from_slice(b"\x93NUMPY\x01\x00");
    header.extend_from_slice(&((total - 10) as u16).to_le_bytes());
    header.extend_from_slice(dict.as_bytes());
    header.resize(total - 1, b' ');
    header.push(b'\n');
    out.write_all(&header)?;
    let mut buf = Vec::with_capacity(data.len().min(1 << 16) * 4);
    for chunk in data.chunks(1 << 16) {
        buf.clear();
        for x in chunk {
            buf.extend_from_slice(&x.to_le_bytes());
        }
        out.write_all(&buf)?;
    }
    Ok(())
}

/// `ggufembed tokenize`: ids with special tokens, untruncated.
pub fn tokenize(model_path: &Path, io_args: &InputArgs) -> Result<(), String> {
    let model = ggufembed::open(model_path).map_err(|e| e.to_string())?;
    let mut records = Records::new(open_input(&io_args.input)?, io_args.text_lines);
    let mut out = open_output(&io_args.output)?;
    let result = (|| -> Result<(), Stop> {
        let mut index = 0usize;
        let mut line = Vec::new();
        while let Some(record) = records.next_record()? {
            let ids = model.tokenize(&record.text).map_err(|e| e.to_string())?;
            line.clear();
            // Written by hand so that "index" comes first, as in `embed`'s output.
            let _ = write!(line, "{{\"index\":{index},\"ids\":[");
            for (j, id) in ids.iter().enumerate() {
                let _ = write!(line, "{}{id}", if j > 0 { "," } else { "" });
            }
            line.extend_from_slice(b"]}\n");
            out.write_all(&line)
                .map_err(|e| write_err(&io_args.output, e))?;
            index += 1;
        }
        Ok(())
    })();
    finish(result.and_then(|()| out.flush().map_err(|e| write_err(&io_args.output, e))))
}
