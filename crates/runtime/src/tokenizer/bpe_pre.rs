//! The byte-level BPE pipelines named by `tokenizer.ggml.pre`.
//!
//! A GGUF file does not store a tokenizer's normalizer, split regex or added-token options; it
//! stores a name (`tokenizer.ggml.pre`) that llama.cpp's converter derives from the model's
//! Hugging Face tokenizer. Each name supported here stands for the components of that
//! tokenizer's `tokenizer.json`, which this table reproduces:
//!
//! | `tokenizer.ggml.pre` | models | normalizer | split regex | merges | default `add_bos` | added tokens |
//! |---|---|---|---|---|---|---|
//! | `qwen2` | Qwen2, Qwen2.5, Qwen3 (and their embedding models, gte-Qwen2) | NFC | Qwen2's (one digit per piece) | ranked | false | |
//! | `llama-bpe`, `llama3`, `llama-v3` | Llama 3 | none | Llama 3's (`cl100k_base`: digits in runs of 1–3) | `ignore_merges` | true | |
//! | `gpt-2` | GPT-2 | none | GPT-2's (`ByteLevel` with `use_regex`) | ranked | false | |
//! | `modern-bert` | ModernBERT | none | GPT-2's | ranked | false | `[MASK]` strips the whitespace on its left |
//!
//! "Default `add_bos`" is llama.cpp's default when `tokenizer.ggml.add_bos_token` is absent.
//! `ignore_merges` (Llama 3's `tokenizer.json`): a pre-tokenized word that is itself a piece
//! becomes that piece directly, without merging.
//!
//! Every other name (llama.cpp knows some forty, e.g. `deepseek-llm`, `falcon`, `starcoder`,
//! `jina-v2-code`, `smollm`) is refused with [`RuntimeError::Metadata`] on `tokenizer.ggml.pre`
//! naming it, as is a file without the key: their regexes, normalizers and added-token options have
//! not been checked against Hugging Face here, and a guess would give other ids silently.

use super::keys;
use crate::error::{Result, RuntimeError};

/// Qwen2's split regex (its `tokenizer.json`'s `Split` pre-tokenizer, `Isolated`): like Llama 3's
/// but one digit per piece.
const QWEN2_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Llama 3's split regex (`tiktoken`'s `cl100k_base`).
const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// How text is split into words before byte-level BPE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Split {
    /// `Split(regex, Isolated)` then `ByteLevel` without its own regex.
    Regex(&'static str),
    /// `ByteLevel` with `use_regex`: GPT-2's regex, built into the `tokenizers` crate.
    Gpt2,
}

/// The components a `tokenizer.ggml.pre` name stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Preset {
    /// The name as written in the file.
    pub name: &'static str,
    /// Whether texts are NFC-normalised first (between literal tokens).
    pub nfc: bool,
    /// The word splitter.
    pub split: Split,
    /// Whether a word that is a piece skips merging (`ignore_merges`).
    pub ignore_merges: bool,
    /// `add_bos` when `tokenizer.ggml.add_bos_token` is absent (llama.cpp's default).
    pub add_bos_default: bool,
    /// Literal tokens that absorb the whitespace before them (`lstrip` in `tokenizer.json`).
    pub lstrip: &'static [&'static str],
}

/// The supported names, each with its preset (names sharing a preset listed together).
const PRESETS: &[(&[&str], Preset)] = &[
    (
        &["qwen2"],
        Preset {
            name: "qwen2",
            nfc: true,
            split: Split::Regex(QWEN2_REGEX),
            ignore_merges: false,
            add_bos_default: false,
            lstrip: &[],
        },
    ),
    (
        &["llama-bpe", "llama3", "llama-v3"],
        Preset {
            name: "llama-bpe",
            nfc: false,
            split: Split::Regex(LLAMA3_REGEX),
            ignore_merges: true,
            add_bos_default: true,
            lstrip: &[],
        },
    ),
    (
        &["gpt-2"],
        Preset {
            name: "gpt-2",
            nfc: false,
            split: Split::Gpt2,
            ignore_merges: false,
            add_bos_default: false,
            lstrip: &[],
        },
    ),
    (
        &["modern-bert"],
        Preset {
            name: "modern-bert",
            nfc: false,
            split: Split::Gpt2,
            ignore_merges: false,
            add_bos_default: false,
            lstrip: &["[MASK]"],
        },
    ),
];

/// Every supported `tokenizer.ggml.pre` name, for error messages and docs.
pub(crate) fn supported_names() -> Vec<&'static str> {
    PRESETS
        .iter()
        .flat_map(|(names, _)| names.iter().copied())
        .collect()
}

/// The preset of `pre` (the value of `tokenizer.ggml.pre`; `None` when the key is absent).
///
/// # Errors
///
/// [`RuntimeError::Metadata`] on `tokenizer.ggml.pre` for an absent or unknown name.
pub(crate) fn preset(pre: Option<&str>) -> Result<Preset> {
    for (names, preset) in PRESETS {
        if let Some(&name) = names.iter().find(|&&name| Some(name) == pre) {
            return Ok(Preset { name, ..*preset });
        }
    }
    let supported = supported_names().join(", ");
    let reason = match pre {
        Some(pre) => format!("unsupported pre-tokenizer '{pre}' (supported: {supported})"),
        None => format!(
            "not found: a byte-level BPE file must name its pre-tokenizer (supported: {supported})"
        ),
    };
    Err(RuntimeError::metadata(keys::PRE, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_share_a_preset() {
        let a = preset(Some("llama3")).unwrap();
        let b = preset(Some("llama-bpe")).unwrap();
        assert_eq!((a.name, b.name), ("llama3", "llama-bpe"));
        assert_eq!(Preset { name: "x", ..a }, Preset { name: "x", ..b });
        assert!(a.ignore_merges && a.add_bos_default);
    }

    #[test]
    fn unknown_and_absent_names_are_refused() {
        for pre in [Some("deepseek-llm"), Some(""), Some("QWEN2"), None] {
            let err = preset(pre).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("tokenizer.ggml.pre"), "{msg}");
            assert!(msg.contains("qwen2, llama-bpe"), "{msg}");
            if let Some(pre) = pre {
                assert!(msg.contains(&format!("'{pre}'")), "{msg}");
            }
        }
    }

    /// The regexes compile with the crate's regex backend.
    #[test]
    fn regexes_compile() {
        for re in [QWEN2_REGEX, LLAMA3_REGEX] {
            tokenizers::pre_tokenizers::split::Split::new(
                tokenizers::pre_tokenizers::split::SplitPattern::Regex(re.to_owned()),
                tokenizers::SplitDelimiterBehavior::Isolated,
                false,
            )
            .unwrap();
        }
    }
}
