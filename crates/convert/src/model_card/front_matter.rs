//! The model card's YAML front matter, by a small subset reader: `key: scalar`, `key: [a, b]`
//! and `key:` followed by `- item` lines. Nested mappings, block scalars and list items that are
//! mappings are skipped; a model card that is absent or unreadable contributes nothing (the
//! converter never fails because of its model card).

use std::path::Path;

/// A front-matter value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Yaml {
    Str(String),
    List(Vec<String>),
}

/// The model card's front matter, keys in file order.
pub(crate) type Card = Vec<(String, Yaml)>;

/// Reads `dir/README.md`'s YAML front matter (empty when there is none).
pub(crate) fn load(dir: &Path) -> Card {
    match std::fs::read_to_string(dir.join("README.md")) {
        Ok(text) => parse_front_matter(&text),
        Err(_) => Vec::new(),
    }
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    // Strip a trailing comment from plain scalars.
    let s = if !s.starts_with(['"', '\'']) {
        match s.find(" #") {
            Some(i) => s[..i].trim_end(),
            None => s,
        }
    } else {
        s
    };
    if s.len() >= 2
        && ((s.starts_with('"') && s.ends_with('"')) || (s.starts_with('\'') && s.ends_with('\'')))
    {
        s[1..s.len() - 1].to_string()
    } else {
        s.to_string()
    }
}

/// gguf-py: the first line must be exactly `---`, and the front matter ends at the next `---\n`.
pub(crate) fn parse_front_matter(text: &str) -> Card {
    let Some(rest) = text.strip_prefix("---\n") else {
        return Vec::new();
    };
    let yaml = match rest.find("---\n") {
        Some(i) => &rest[..i],
        None => rest,
    };
    let mut card: Card = Vec::new();
    let mut current: Option<(String, Vec<String>, bool)> = None; // key, items, items_are_scalars
    let flush = |current: &mut Option<(String, Vec<String>, bool)>, card: &mut Card| {
        if let Some((key, items, true)) = current.take()
            && !items.is_empty()
        {
            card.push((key, Yaml::List(items)));
        }
    };
    for line in yaml.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indented = line.starts_with([' ', '\t']);
        let trimmed = line.trim_start();
        if let Some(item) =
            trimmed
                .strip_prefix("- ")
                .or(if trimmed == "-" { Some("") } else { None })
        {
            if let Some((_, items, ok)) = current.as_mut() {
                let item = item.trim();
                // A mapping item (`- name: x`) is outside this reader's subset.
                if item.is_empty() || (item.contains(": ") && !item.starts_with(['"', '\''])) {
                    *ok = false;
                } else {
                    items.push(unquote(item));
                }
            }
            continue;
        }
        if indented {
            // Nested mapping or continuation: not understood; drop the current key.
            if let Some((_, _, ok)) = current.as_mut() {
                *ok = false;
            }
            continue;
        }
        flush(&mut current, &mut card);
        let Some((key, value)) = trimmed.split_once(':') else {
            continue;
        };
        let key = unquote(key);
        let value = value.trim();
        if value.is_empty() {
            current = Some((key, Vec::new(), true));
        } else if let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            let items: Vec<String> = inner
                .split(',')
                .map(unquote)
                .filter(|s| !s.is_empty())
                .collect();
            card.push((key, Yaml::List(items)));
        } else if value.starts_with(['|', '>', '{', '&', '*', '!']) {
            current = Some((key, Vec::new(), false));
        } else {
            card.push((key, Yaml::Str(unquote(value))));
        }
    }
    flush(&mut current, &mut card);
    card
}

pub(super) fn get<'a>(card: &'a Card, key: &str) -> Option<&'a Yaml> {
    card.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_subset() {
        let card = parse_front_matter(
            "---\nlanguage: en\nlicense: apache-2.0\ntags:\n- a\n- 'b'\ndatasets: [x, \"y/z\"]\nmodel-index:\n  - name: q\n---\n# body\n",
        );
        assert_eq!(card[0], ("language".into(), Yaml::Str("en".into())));
        assert_eq!(
            card[2],
            ("tags".into(), Yaml::List(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            card[3],
            (
                "datasets".into(),
                Yaml::List(vec!["x".into(), "y/z".into()])
            )
        );
        assert_eq!(card.len(), 4);
        assert!(parse_front_matter("# no front matter\n").is_empty());
    }
}
