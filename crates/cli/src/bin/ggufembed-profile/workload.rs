//! The texts a profiling run embeds: read from a file, or synthesized from the model's
//! vocabulary to given token counts.

use std::path::Path;

use ggufembed::Model;

/// The texts, with how they were obtained.
pub struct Workload {
    /// The texts, in the order they are embedded.
    pub texts: Vec<String>,
    /// `"file"` or `"synthetic"`.
    pub source: &'static str,
    /// The file read, if any.
    pub path: Option<String>,
    /// For synthetic texts: per requested length, the indices of its texts.
    pub groups: Vec<(usize, std::ops::Range<usize>)>,
}

/// Reads `path`: JSONL objects with a `"text"` field or, with `text_lines` (or when the first
/// non-empty line does not start with `{`), one text per line. At most `limit` texts.
pub fn from_file(path: &Path, text_lines: bool, limit: Option<usize>) -> Result<Workload, String> {
    let data = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let data =
        String::from_utf8(data).map_err(|e| format!("{}: not UTF-8 ({e})", path.display()))?;
    let jsonl = !text_lines
        && data
            .lines()
            .find(|l| !l.trim().is_empty())
            .is_some_and(|l| l.trim_start().starts_with('{'));
    let limit = limit.unwrap_or(usize::MAX);
    let mut texts = Vec::new();
    for (n, line) in data.lines().enumerate() {
        if texts.len() >= limit {
            break;
        }
        if !jsonl {
            texts.push(line.to_string());
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| format!("{} line {}: invalid JSON: {e}", path.display(), n + 1))?;
        match v.get("text").and_then(|t| t.as_str()) {
            Some(t) => texts.push(t.to_string()),
            None => {
                return Err(format!(
                    "{} line {}: expected an object with a string \"text\" field",
                    path.display(),
                    n + 1
                ));
            }
        }
    }
    if texts.is_empty() {
        return Err(format!("{} holds no texts", path.display()));
    }
    Ok(Workload {
        texts,
        source: "file",
        path: Some(path.display().to_string()),
        groups: Vec::new(),
    })
}

/// `count` texts of about each of `lengths` tokens (special tokens included), made of whole
/// words of the model's vocabulary in a fixed pseudo-random order.
pub fn synthetic(model: &Model, lengths: &[usize], count: usize) -> Result<Workload, String> {
    let words = vocabulary_words(model)?;
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let n_tokens = |text: &str| -> Result<usize, String> {
        model
            .tokenize(text)
            .map(|ids| ids.len())
            .map_err(|e| e.to_string())
    };
    let specials = n_tokens("")?;
    let mut texts = Vec::with_capacity(lengths.len() * count);
    let mut groups = Vec::new();
    for &len in lengths {
        let first = texts.len();
        for _ in 0..count {
            let mut w: Vec<&str> = Vec::new();
            let pick = |r: u64| words[(r % words.len() as u64) as usize].as_str();
            for _ in 0..len.saturating_sub(specials) {
                w.push(pick(next()));
            }
            // Words of the vocabulary are one token each when tokenized alone, but a
            // tokenizer may still merge or split: adjust until the count is reached (bounded).
            for _ in 0..len.max(8) {
                let n = n_tokens(&w.join(" "))?;
                if n < len {
                    w.push(pick(next()));
                } else if n > len && !w.is_empty() {
                    w.pop();
                } else {
                    break;
                }
            }
            texts.push(w.join(" "));
        }
        groups.push((len, first..texts.len()));
    }
    Ok(Workload {
        texts,
        source: "synthetic",
        path: None,
        groups,
    })
}

/// Whole words of the vocabulary: normal tokens spelled `▁word` (llama.cpp's marking of a
/// word-initial piece) with ASCII letters only; failing that, plain ASCII-letter tokens.
fn vocabulary_words(model: &Model) -> Result<Vec<String>, String> {
    let file = model.gguf();
    let tokens = file
        .get_array::<String>("tokenizer.ggml.tokens")
        .map_err(|e| format!("cannot build synthetic texts: {e}"))?;
    let types = file.get_array::<i32>("tokenizer.ggml.token_type").ok();
    let normal = |i: usize| types.is_none_or(|t| t.get(i) == Some(&1));
    let letters = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphabetic());
    let mut words: Vec<String> = tokens
        .iter()
        .enumerate()
        .filter(|&(i, _)| normal(i))
        .filter_map(|(_, t)| t.strip_prefix('\u{2581}'))
        .filter(|w| letters(w))
        .map(str::to_string)
        .collect();
    if words.is_empty() {
        words = tokens
            .iter()
            .enumerate()
            .filter(|&(i, t)| normal(i) && letters(t))
            .map(|(_, t)| t.clone())
            .collect();
    }
    // A spread-out sample is plenty of variety, and keeps the check below quick.
    const SAMPLE: usize = 4096;
    if words.len() > SAMPLE {
        let step = words.len() / SAMPLE;
        words = words.into_iter().step_by(step).take(SAMPLE).collect();
    }
    // Single tokens that stay single when tokenized alone (lowercasing, word splitting and
    // merges of the model's tokenizer can change a piece): keep those.
    let specials = model.tokenize("").map_err(|e| e.to_string())?.len();
    words.retain(|w| model.tokenize(w).is_ok_and(|ids| ids.len() == specials + 1));
    if words.is_empty() {
        return Err(
            "cannot build synthetic texts: the vocabulary has no whole-word tokens; use --input"
                .into(),
        );
    }
    Ok(words)
}
