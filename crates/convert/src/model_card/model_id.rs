//! Names from a model id, as gguf-py derives them: `get_model_id_components` (org, basename,
//! size label, fine-tune, version), `id_to_title` (Python's `str.title()` rules) and the
//! rounded parameter-count label.

/// Python's `str.title()`: a cased character is upper-cased after an uncased one and
/// lower-cased after a cased one.
fn py_title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_cased = false;
    for c in s.chars() {
        let cased = c.is_lowercase() || c.is_uppercase();
        if cased {
            if prev_cased {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
        } else {
            out.push(c);
        }
        prev_cased = cased;
    }
    out
}

/// Python's `str.islower()`.
fn py_islower(s: &str) -> bool {
    s.chars().any(char::is_lowercase) && !s.chars().any(char::is_uppercase)
}

/// `^(v\d+(?:\.\d+)*|\d.*)$`
fn is_version_or_number_word(w: &str) -> bool {
    if w.starts_with(|c: char| c.is_ascii_digit()) {
        return true;
    }
    w.strip_prefix('v').is_some_and(dotted_digits)
}

/// `\d+(\.\d+)*`
fn dotted_digits(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// gguf-py's `Metadata.id_to_title`.
pub(crate) fn id_to_title(s: &str) -> String {
    s.trim()
        .replace('-', " ")
        .split_whitespace()
        .map(|w| {
            if py_islower(w) && !is_version_or_number_word(w) {
                py_title(w)
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What gguf-py's `get_model_id_components` returns.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct IdComponents {
    pub full_name: Option<String>,
    pub org: Option<String>,
    pub basename: Option<String>,
    pub finetune: Option<String>,
    pub version: Option<String>,
    pub size_label: Option<String>,
}

#[derive(Clone, Copy, Default)]
struct Tags {
    basename: bool,
    size_label: bool,
    finetune: bool,
    version: bool,
    ty: bool,
}

impl Tags {
    fn len(self) -> usize {
        [
            self.basename,
            self.size_label,
            self.finetune,
            self.version,
            self.ty,
        ]
        .iter()
        .filter(|&&b| b)
        .count()
    }
}

/// `(v|iter)?\d+([.]\d+)*`, case-insensitive.
fn re_version(p: &str) -> bool {
    let l = p.to_ascii_lowercase();
    let rest = l
        .strip_prefix("iter")
        .or_else(|| l.strip_prefix('v'))
        .unwrap_or(&l);
    dotted_digits(rest) || dotted_digits(&l)
}

/// `i?q\d(_\w)*|b?fp?(16|32)`, case-insensitive.
fn re_quant_type(p: &str) -> bool {
    let l = p.to_ascii_lowercase();
    let q = l.strip_prefix('i').unwrap_or(&l);
    if let Some(rest) = q.strip_prefix('q') {
        let mut chars = rest.chars();
        if chars.next().is_some_and(|c| c.is_ascii_digit()) {
            let tail: Vec<char> = chars.collect();
            if tail.len().is_multiple_of(2)
                && tail
                    .chunks(2)
                    .all(|c| c[0] == '_' && (c[1].is_alphanumeric() || c[1] == '_'))
            {
                return true;
            }
        }
    }
    let f = l.strip_prefix('b').unwrap_or(&l);
    if let Some(rest) = f.strip_prefix('f') {
        let rest = rest.strip_prefix('p').unwrap_or(rest);
        if rest == "16" || rest == "32" {
            return true;
        }
    }
    false
}

/// `(([A]|\d+[x])?\d+([._]\d+)?[KMBT][\d]?|small|mini|medium|large|x?xl)`, case-insensitive.
fn re_size(p: &str) -> bool {
    let l = p.to_ascii_lowercase();
    if matches!(
        l.as_str(),
        "small" | "mini" | "medium" | "large" | "xl" | "xxl"
    ) {
        return true;
    }
    let b = l.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > s
    };
    if b.first() == Some(&b'a') {
        i = 1;
    } else {
        let mut j = 0;
        if digits(&mut j) && b.get(j) == Some(&b'x') {
            i = j + 1;
        }
    }
    if !digits(&mut i) {
        return false;
    }
    if matches!(b.get(i), Some(b'.') | Some(b'_')) {
        let save = i;
        i += 1;
        if !digits(&mut i) {
            i = save;
        }
    }
    if !matches!(b.get(i), Some(b'k' | b'm' | b'b' | b't')) {
        return false;
    }
    i += 1;
    if b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i == b.len()
}

/// gguf-py's `Metadata.get_model_id_components`.
pub(crate) fn model_id_components(model_id: Option<&str>, total_params: i64) -> IdComponents {
    let Some(model_id) = model_id else {
        return IdComponents::default();
    };
    if model_id.contains(' ') {
        return IdComponents {
            full_name: Some(model_id.to_string()),
            ..IdComponents::default()
        };
    }
    let (mut org, full) = match model_id.split_once('/') {
        Some((o, f)) => (Some(o.to_string()), f.to_string()),
        None => (None, model_id.to_string()),
    };
    if org.as_deref().is_some_and(|o| o.starts_with('.')) {
        org = None;
    }
    let mut parts: Vec<String> = full
        .split('-')
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect();
    let mut tags = vec![Tags::default(); parts.len()];
    for i in 0..parts.len() {
        let part = parts[i].clone();
        if re_version(&part) {
            tags[i].version = true;
        } else if re_quant_type(&part) {
            tags[i].ty = true;
            parts[i] = part.to_uppercase();
        } else if i > 0 && re_size(&part) {
            let mut part: Vec<char> = part.replace('_', ".").chars().collect();
            let n = part.len();
            if part[n - 1].is_ascii_digit() && n >= 2 {
                let (a, b) = (part[n - 1], part[n - 2]);
                part.truncate(n - 2);
                part.extend(['.', a, b]);
            }
            let n = part.len();
            if n > 1 && part[n - 2].is_ascii_digit() && "kmbt".contains(part[n - 1]) {
                part[n - 1] = part[n - 1].to_ascii_uppercase();
            }
            if total_params != 0 {
                let n = part.len();
                let number: String = part[..n - 1].iter().collect();
                if let Ok(x) = number.parse::<f64>() {
                    let scale = match " KMBT".find(part[n - 1]) {
                        Some(k) => 1000f64.powi(k as i32),
                        None => 0.001,
                    };
                    let label = x * scale;
                    let total = total_params as f64;
                    let abs_total = total_params.unsigned_abs() as f64;
                    if (total_params < 0 && label < (total_params.unsigned_abs() / 8) as f64)
                        || (total_params > 0
                            && (label - total).abs() > (7 * total_params / 8) as f64)
                    {
                        let _ = abs_total;
                        tags[i].finetune = true;
                        part[n - 1] = part[n - 1].to_ascii_lowercase();
                    }
                }
            }
            if tags[i].len() == 0 {
                tags[i].size_label = true;
            }
            parts[i] = part.into_iter().collect();
        } else if i > 0
            && matches!(
                part.to_ascii_lowercase().as_str(),
                "chat" | "instruct" | "vision" | "lora"
            )
        {
            if total_params < 0 && part.eq_ignore_ascii_case("lora") {
                tags[i].ty = true;
            } else {
                tags[i].finetune = true;
            }
        }
    }
    let numeric_size = parts
        .iter()
        .zip(&tags)
        .any(|(p, t)| t.size_label && p.chars().any(|c| c.is_ascii_digit()));
    if numeric_size {
        for (p, t) in parts.iter().zip(tags.iter_mut()) {
            if t.size_label && p.chars().all(char::is_alphabetic) {
                t.size_label = false;
            }
        }
    }
    let mut at_start = true;
    for (p, t) in parts.iter().zip(tags.iter_mut()) {
        if at_start
            && ((t.len() == 0 && p.chars().next().is_some_and(char::is_alphabetic)) || t.version)
        {
            t.basename = true;
        } else {
            at_start = false;
            if t.len() == 0 {
                t.finetune = true;
            }
        }
    }
    for t in tags.iter_mut().rev() {
        if t.basename && t.len() > 1 {
            t.basename = false;
        } else {
            break;
        }
    }
    let join = |f: &dyn Fn(&Tags) -> bool| -> Option<String> {
        let v: Vec<&str> = parts
            .iter()
            .zip(&tags)
            .filter(|(_, t)| f(t))
            .map(|(p, _)| p.as_str())
            .collect();
        if v.is_empty() {
            None
        } else {
            Some(v.join("-"))
        }
    };
    let mut basename = join(&|t| t.basename);
    let size_label = {
        let mut seen: Vec<&str> = Vec::new();
        for (p, t) in parts.iter().zip(&tags) {
            if t.size_label && !seen.contains(&p.as_str()) {
                seen.push(p);
            }
        }
        if seen.is_empty() {
            None
        } else {
            Some(seen.join("-"))
        }
    };
    let finetune = join(&|t| t.finetune);
    let version = join(&|t| t.version && !t.basename);
    if size_label.is_none() && finetune.is_none() && version.is_none() {
        basename = None;
    }
    IdComponents {
        full_name: Some(full),
        org,
        basename,
        finetune,
        version,
        size_label,
    }
}

/// gguf-py's `model_weight_count_rounded_notation(n, min_digits=2)`.
pub(crate) fn size_label(total_params: u64) -> String {
    let n = total_params as f64;
    let (scaled, suffix) = if n > 1e12 {
        (n * 1e-12, "T")
    } else if n > 1e9 {
        (n * 1e-9, "B")
    } else if n > 1e6 {
        (n * 1e-6, "M")
    } else {
        (n * 1e-3, "K")
    };
    // Python's round() is half-to-even.
    let rounded = scaled.round_ties_even() as u64;
    let len = rounded.to_string().trim_start_matches('0').len();
    let fix = 2usize.saturating_sub(len);
    format!("{scaled:.fix$}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_like_gguf_py() {
        assert_eq!(
            id_to_title("MiniLM-L6-H384-uncased"),
            "MiniLM L6 H384 Uncased"
        );
        assert_eq!(id_to_title("nreimers"), "Nreimers");
        assert_eq!(id_to_title("s2orc"), "S2Orc");
        assert_eq!(id_to_title("stackexchange_xml"), "Stackexchange_Xml");
        assert_eq!(id_to_title("flickr30k-captions"), "Flickr30K Captions");
        assert_eq!(id_to_title("PAQ_pairs"), "PAQ_pairs");
        assert_eq!(id_to_title("v1.5-base"), "v1.5 Base");
    }

    #[test]
    fn model_id_components_like_gguf_py() {
        let c = model_id_components(Some("nreimers/MiniLM-L6-H384-uncased"), 22_565_376);
        assert_eq!(c.full_name.as_deref(), Some("MiniLM-L6-H384-uncased"));
        assert_eq!(c.org.as_deref(), Some("nreimers"));
        assert_eq!(
            (c.basename, c.finetune, c.version, c.size_label),
            (None, None, None, None)
        );
        let c = model_id_components(Some("meta-llama/Llama-2-7b-chat-hf"), 6_700_000_000);
        // The version right after the basename joins it, as in gguf-py.
        assert_eq!(c.basename.as_deref(), Some("Llama-2"));
        assert_eq!(c.version, None);
        assert_eq!(c.size_label.as_deref(), Some("7B"));
        assert_eq!(c.finetune.as_deref(), Some("chat-hf"));
        let c = model_id_components(Some("BAAI/bge-small-en-v1.5"), 33_000_000);
        assert_eq!(c.basename.as_deref(), Some("bge"));
        assert_eq!(c.size_label.as_deref(), Some("small"));
        assert_eq!(c.finetune.as_deref(), Some("en"));
        assert_eq!(c.version.as_deref(), Some("v1.5"));
    }

    #[test]
    fn size_labels_round_like_python() {
        assert_eq!(size_label(22_565_376), "23M");
        assert_eq!(size_label(1_500_000), "1.5M");
        assert_eq!(size_label(7_241_732_096), "7.2B");
        assert_eq!(size_label(335_000), "335K");
    }
}
