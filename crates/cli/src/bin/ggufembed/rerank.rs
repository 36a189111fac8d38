//! `ggufembed rerank`: (query, document) pairs scored by a cross-encoder.
//!
//! - Pairs: JSONL `{"query", "document"}` in (other fields carried through), one
//!   `{"index", "score", "truncated", …}` line out per pair, in input order, streamed in
//!   chunks so memory stays bounded.
//! - `--query Q`: one document per input line (plain text); the documents best first
//!   (`{"index", "score", "truncated"}`, `index` being the line's), the best `--top-n` only.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use ggufembed::{Model, Options, RerankOptions, Scored};
use serde_json::{Map, Value};

use crate::embed::{Stop, finish, open_input, open_output, write_err};
use ggufembed_cli::input::json_type;

/// Pairs scored per scheduler pass when streaming JSONL.
const CHUNK: usize = 512;

/// Options of `rerank`.
pub struct RerankArgs {
    pub input: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub query: Option<String>,
    pub top_n: Option<usize>,
    pub sigmoid: bool,
    pub max_len: Option<usize>,
    pub threads: Option<usize>,
}

/// One input pair with its other fields.
struct PairRecord {
    query: String,
    document: String,
    extra: Map<String, Value>,
}

fn parse_pair(line: &str, n: usize) -> Result<PairRecord, String> {
    if line.trim().is_empty() {
        return Err(format!(
            "input line {n} is empty (rerank input needs one object with \"query\" and \
             \"document\" fields per line, or --query with one document per line)"
        ));
    }
    let value: Value =
        serde_json::from_str(line).map_err(|e| format!("input line {n} is not valid JSON: {e}"))?;
    let Value::Object(mut obj) = value else {
        return Err(format!("input line {n} is not a JSON object"));
    };
    let mut field = |name: &str| match obj.remove(name) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!(
            "input line {n}: \"{name}\" must be a string, found {}",
            json_type(&other)
        )),
        None => Err(format!("input line {n} has no \"{name}\" field")),
    };
    let query = field("query")?;
    let document = field("document")?;
    Ok(PairRecord {
        query,
        document,
        extra: obj,
    })
}

/// Reads the input's lines, naming the line in every error.
fn lines(
    input: &Option<PathBuf>,
) -> Result<impl Iterator<Item = Result<(usize, String), String>>, String> {
    let reader = open_input(input)?;
    Ok(std::io::BufReader::new(reader)
        .split(b'\n')
        .enumerate()
        .map(|(i, line)| {
            let n = i + 1;
            let mut bytes = line.map_err(|e| format!("reading input line {n}: {e}"))?;
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
            let text = String::from_utf8(bytes).map_err(|e| {
                format!(
                    "input line {n} is not valid UTF-8 (byte {})",
                    e.utf8_error().valid_up_to()
                )
            })?;
            Ok((n, text))
        }))
}

fn write_scored(
    out: &mut dyn Write,
    path: &Option<PathBuf>,
    s: &Scored,
    index: usize,
    extra: Option<Map<String, Value>>,
) -> Result<(), Stop> {
    let mut obj = Map::new();
    obj.insert("index".into(), index.into());
    obj.insert("score".into(), Value::from(f64::from(s.score)));
    obj.insert("truncated".into(), s.truncated.into());
    for (k, v) in extra.into_iter().flatten() {
        obj.entry(k).or_insert(v);
    }
    let mut line = serde_json::to_vec(&Value::Object(obj)).map_err(|e| e.to_string())?;
    line.push(b'\n');
    out.write_all(&line).map_err(|e| write_err(path, e))
}

/// Runs `ggufembed rerank`.
pub fn rerank(model_path: &Path, args: &RerankArgs) -> Result<(), String> {
    if args.top_n.is_some() && args.query.is_none() {
        return Err("--top-n needs --query (the sorted view of one query's documents)".into());
    }
    let mut options = Options::default();
    options.max_len = args.max_len;
    options.threads = args.threads;
    let model = ggufembed::open_with(model_path, options).map_err(|e| e.to_string())?;
    if !model.is_reranker() {
        return Err(format!(
            "'{}' is an embedding model, not a reranker (it has no classification head); \
             rerank needs a cross-encoder GGUF",
            model_path.display()
        ));
    }
    let mut out = open_output(&args.output)?;
    let result = match &args.query {
        Some(q) => sorted(&model, q, args, &mut *out),
        None => pairs(&model, args, &mut *out),
    };
    finish(result.and_then(|()| out.flush().map_err(|e| write_err(&args.output, e))))
}

/// `--query`: every document, then the sorted view.
fn sorted(model: &Model, query: &str, args: &RerankArgs, out: &mut dyn Write) -> Result<(), Stop> {
    let docs = lines(&args.input)?
        .map(|l| l.map(|(_, text)| text))
        .collect::<Result<Vec<String>, String>>()?;
    let ranked = model
        .rerank_with(
            query,
            &docs,
            RerankOptions {
                top_n: args.top_n,
                sigmoid: args.sigmoid,
            },
        )
        .map_err(|e| e.to_string())?;
    for s in &ranked {
        write_scored(out, &args.output, s, s.index, None)?;
    }
    Ok(())
}

/// JSONL pairs, in input order, chunk by chunk.
fn pairs(model: &Model, args: &RerankArgs, out: &mut dyn Write) -> Result<(), Stop> {
    let mut chunk: Vec<PairRecord> = Vec::with_capacity(CHUNK);
    let mut index = 0usize;
    let mut flush = |chunk: &mut Vec<PairRecord>, out: &mut dyn Write| -> Result<(), Stop> {
        let input: Vec<(&str, &str)> = chunk
            .iter()
            .map(|p| (p.query.as_str(), p.document.as_str()))
            .collect();
        let scored = model.score_pairs(&input).map_err(|e| e.to_string())?;
        for (mut s, p) in scored.into_iter().zip(chunk.drain(..)) {
            if args.sigmoid {
                s.score = ggufembed::sigmoid(s.score);
            }
            write_scored(out, &args.output, &s, index, Some(p.extra))?;
            index += 1;
        }
        Ok(())
    };
    for line in lines(&args.input)? {
        let (n, text) = line?;
        chunk.push(parse_pair(&text, n)?);
        if chunk.len() == CHUNK {
            flush(&mut chunk, out)?;
        }
    }
    if !chunk.is_empty() {
        flush(&mut chunk, out)?;
    }
    Ok(())
}
