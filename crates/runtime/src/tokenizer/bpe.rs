//! Byte-level BPE (`tokenizer.ggml.model = "gpt2"`: Qwen2/Qwen3, Llama 3, GPT-2, ModernBERT),
//! rebuilt from GGUF metadata as the models' Hugging Face `tokenizer.json` describes it.
//!
//! # Vocabulary and merges
//!
//! llama.cpp's converter stores the pieces of `tokenizer.json` unchanged: ordinary pieces in
//! GPT-2's byte-to-character alphabet (`Ġ` for a space byte, `Ċ` for a newline, …; token type
//! normal), added tokens as their text (`<|endoftext|>`, `[MASK]`; token type control for special
//! tokens, user-defined for the others). `tokenizer.ggml.merges` holds the ranked merges, one
//! `"left right"` string each, best first. Every merge must split at exactly one space, and
//! both parts and their concatenation must be pieces; two identical pieces are refused
//! ([`RuntimeError::Metadata`] naming the merge or both ids), since only one of them could be
//! produced.
//!
//! # Pipeline
//!
//! 1. literal tokens: the pieces of token type control (3), user-defined (4) and unknown (2)
//!    (without `tokenizer.ggml.token_type`, the pieces at the special ids) written literally in
//!    the text become their ids, as `added_tokens` do in `tokenizer.json`; control tokens are
//!    matched on the raw text, user-defined ones after normalization (Hugging Face's defaults
//!    for special and non-special added tokens). A few presets make a token absorb the
//!    whitespace on its left (ModernBERT's `[MASK]`), as its `tokenizer.json` says;
//! 2. the normalizer, the split regex and `ignore_merges` of the `tokenizer.ggml.pre` preset
//!    (see the `bpe_pre` module), then `ByteLevel`: each word's UTF-8 bytes become GPT-2's
//!    characters, so that every text is covered by the 256 byte pieces and no id is unknown;
//! 3. `BPE` with the ranked merges (no byte fallback, no unknown token: the byte alphabet
//!    covers every input; a vocabulary missing some of the 256 byte pieces drops those bytes,
//!    as Hugging Face does without an unknown token);
//! 4. `bos` and `eos` around the result if `tokenizer.ggml.add_bos_token` /
//!    `add_eos_token` say so (added by the caller).

use std::collections::hash_map::Entry;

use gguf_loader::GgufFile;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::normalizers::unicode::NFC;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{
    AddedToken, AddedVocabulary, Model, OffsetReferential, OffsetType, PreTokenizer,
    SplitDelimiterBehavior,
};

use super::bpe_pre::{self, Preset};
use super::{SpecialIds, keys, read_bool, read_token_id, read_token_types, read_vocab};
use crate::error::{Result, RuntimeError};

/// llama.cpp token types matched literally in texts.
const TOKEN_TYPE_UNKNOWN: i32 = 2;
/// Special added tokens: `<|endoftext|>`, `[CLS]`, ….
const TOKEN_TYPE_CONTROL: i32 = 3;
/// Non-special added tokens.
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// Longest prefix of a bad merge quoted in an error message, in characters.
const QUOTE_CHARS: usize = 40;

/// `add_eos` when `tokenizer.ggml.add_eos_token` is absent: true for a `qwen3` file pooled by
/// its last token (`qwen3.pooling_type` 3 or absent, as the qwen3 graph defaults to), false
/// otherwise (llama.cpp's default for BPE), and false without an eos id. Qwen3-Embedding's tokenizer appends
/// `<|endoftext|>`, the token that last pooling reads; llama.cpp's converter writes
/// `add_eos_token = true` for it, read from the `TemplateProcessing` post-processor of its
/// `tokenizer.json` (gguf-py's `SpecialVocab`), but a file written before gguf-py read
/// post-processors has no key, and without the EOS the text's last word would be pooled.
fn add_eos_default(file: &GgufFile) -> bool {
    file.get_str("general.architecture").ok() == Some("qwen3")
        && file
            .get("qwen3.pooling_type")
            .is_none_or(|v| v.as_u64() == Some(3))
}

/// A byte-level BPE tokenizer.
#[derive(Debug)]
pub(crate) struct ByteLevelBpeTokenizer {
    added: AddedVocabulary,
    normalizer: Option<NFC>,
    pre_tokenizer: Sequence,
    model: BPE,
    preset: Preset,
    add_bos: bool,
    add_eos: bool,
}

impl ByteLevelBpeTokenizer {
    /// Builds the tokenizer from `file`'s `tokenizer.*` metadata; returns it with its special
    /// ids and vocabulary size. The caller has checked that `tokenizer.ggml.model` is `gpt2`.
    pub(crate) fn from_gguf(file: &GgufFile) -> Result<(ByteLevelBpeTokenizer, SpecialIds, usize)> {
        let pre = match file.get(keys::PRE) {
            None => None,
            Some(_) => Some(file.get_str(keys::PRE)?),
        };
        let preset = bpe_pre::preset(pre)?;

        let tokens = read_vocab(file)?;
        let n_vocab = tokens.len();
        let token_types = read_token_types(file, n_vocab)?;
        let special = read_special_ids(file, n_vocab)?;
        let add_bos = read_bool(file, keys::ADD_BOS, preset.add_bos_default)?;
        let add_eos = read_bool(
            file,
            keys::ADD_EOS,
            special.eos.is_some() && add_eos_default(file),
        )?;
        if add_bos && special.bos.is_none() {
            return Err(RuntimeError::metadata(
                keys::BOS_ID,
                format!(
                    "not found (nor {}), but sequences start with it ({} is true or, for \
                     pre-tokenizer '{}', absent)",
                    keys::CLS_ID,
                    keys::ADD_BOS,
                    preset.name
                ),
            ));
        }
        if add_eos && special.eos.is_none() {
            return Err(RuntimeError::metadata(
                keys::EOS_ID,
                format!(
                    "not found (nor {}), but {} is true",
                    keys::SEP_ID,
                    keys::ADD_EOS
                ),
            ));
        }

        let mut vocab = Vocab::with_capacity(n_vocab);
        let mut literal_tokens = Vec::new();
        for (id, token) in tokens.iter().enumerate() {
            // Fits: read_vocab checked that every id is a u32.
            let id = id as u32;
            let token_type = token_types.map(|types| types[id as usize]);
            let literal = match token_type {
                Some(t) => matches!(
                    t,
                    TOKEN_TYPE_UNKNOWN | TOKEN_TYPE_CONTROL | TOKEN_TYPE_USER_DEFINED
                ),
                None => special.contains(id),
            };
            if literal && !token.is_empty() {
                let user_defined = token_type == Some(TOKEN_TYPE_USER_DEFINED);
                literal_tokens.push(
                    AddedToken::from(token.clone(), !user_defined)
                        .normalized(user_defined)
                        .lstrip(preset.lstrip.contains(&token.as_str())),
                );
            }
            match vocab.entry(token.clone()) {
                Entry::Occupied(e) => {
                    return Err(RuntimeError::metadata(
                        keys::TOKENS,
                        format!(
                            "tokens {} and {id} are the same piece {:?}",
                            e.get(),
                            e.key()
                        ),
                    ));
                }
                Entry::Vacant(e) => {
                    e.insert(id);
                }
            }
        }

        let merges = read_merges(file, &vocab)?;
        let model = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .ignore_merges(preset.ignore_merges)
            .build()
            .map_err(|e| RuntimeError::tokenizer(format!("building BPE: {e}")))?;

        let normalizer = preset.nfc.then_some(NFC);
        let pre_tokenizer = match preset.split {
            bpe_pre::Split::Regex(regex) => {
                let split = Split::new(
                    SplitPattern::Regex(regex.to_owned()),
                    SplitDelimiterBehavior::Isolated,
                    false,
                )
                .map_err(|e| {
                    RuntimeError::tokenizer(format!(
                        "compiling the split regex of '{}': {e}",
                        preset.name
                    ))
                })?;
                Sequence::new(vec![
                    PreTokenizerWrapper::Split(split),
                    PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, false, false)),
                ])
            }
            bpe_pre::Split::Gpt2 => Sequence::new(vec![PreTokenizerWrapper::ByteLevel(
                ByteLevel::new(false, true, true),
            )]),
        };

        let mut added = AddedVocabulary::new();
        added.add_tokens(&literal_tokens, &model, normalizer.as_ref());

        Ok((
            ByteLevelBpeTokenizer {
                added,
                normalizer,
                pre_tokenizer,
                model,
                preset,
                add_bos,
                add_eos,
            },
            special,
            n_vocab,
        ))
    }

    /// Whether sequences start with `bos` (`tokenizer.ggml.add_bos_token`).
    pub(crate) fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// Whether sequences end with `eos` (`tokenizer.ggml.add_eos_token`).
    pub(crate) fn add_eos(&self) -> bool {
        self.add_eos
    }

    /// The `tokenizer.ggml.pre` name this tokenizer was built for.
    pub(crate) fn pre(&self) -> &'static str {
        self.preset.name
    }

    /// Appends the ids of `text`, without `bos`/`eos` framing, to `out`.
    pub(crate) fn encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        let mut pretokenized = self
            .added
            .extract_and_normalize(self.normalizer.as_ref(), text);
        self.pre_tokenizer
            .pre_tokenize(&mut pretokenized)
            .map_err(|e| RuntimeError::tokenizer(format!("pre-tokenizing: {e}")))?;
        pretokenized
            .tokenize(|normalized| self.model.tokenize(normalized.get()))
            .map_err(|e| RuntimeError::tokenizer(format!("BPE: {e}")))?;
        for (_, _, tokens) in pretokenized.get_splits(OffsetReferential::Original, OffsetType::None)
        {
            let tokens = tokens
                .as_ref()
                .ok_or_else(|| RuntimeError::tokenizer("a split was left untokenized"))?;
            out.extend(tokens.iter().map(|t| t.id));
        }
        Ok(())
    }
}

/// `tokenizer.ggml.merges` as `(left, right)` pairs in rank order, each checked against the
/// vocabulary so that a bad merge is reported by its index rather than by the BPE builder.
fn read_merges(file: &GgufFile, vocab: &Vocab) -> Result<Vec<(String, String)>> {
    let merges = file.get_array::<String>(keys::MERGES)?;
    let mut out = Vec::with_capacity(merges.len());
    for (i, merge) in merges.iter().enumerate() {
        let bad = |why: String| {
            let quoted: String = merge.chars().take(QUOTE_CHARS).collect();
            let ellipsis = if quoted.len() < merge.len() {
                "…"
            } else {
                ""
            };
            RuntimeError::metadata(
                keys::MERGES,
                format!("merge {i} {quoted:?}{ellipsis}: {why}"),
            )
        };
        let (left, right) = match merge.split_once(' ') {
            Some((l, r)) if !l.is_empty() && !r.is_empty() && !r.contains(' ') => (l, r),
            _ => return Err(bad("not two pieces separated by one space".to_owned())),
        };
        for part in [left, right] {
            if !vocab.contains_key(part) {
                return Err(bad(format!("{part:?} is not in the vocabulary")));
            }
        }
        let merged = format!("{left}{right}");
        if !vocab.contains_key(&merged) {
            return Err(bad(format!(
                "the merged piece {merged:?} is not in the vocabulary"
            )));
        }
        out.push((left.to_owned(), right.to_owned()));
    }
    Ok(out)
}

/// Reads the special ids, all optional: `bos` from `bos_token_id` or else `cls_token_id`,
/// `eos` from `eos_token_id` or else `seperator_token_id`, `unk`, `pad` and `mask`.
fn read_special_ids(file: &GgufFile, n_vocab: usize) -> Result<SpecialIds> {
    Ok(SpecialIds {
        bos: read_token_id(file, &[keys::BOS_ID, keys::CLS_ID], n_vocab)?,
        eos: read_token_id(file, &[keys::EOS_ID, keys::SEP_ID], n_vocab)?,
        unk: read_token_id(file, &[keys::UNK_ID], n_vocab)?,
        pad: read_token_id(file, &[keys::PAD_ID], n_vocab)?,
        mask: read_token_id(file, &[keys::MASK_ID], n_vocab)?,
    })
}
