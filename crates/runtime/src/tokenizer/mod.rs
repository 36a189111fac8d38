//! Text → token ids, built from a GGUF file's `tokenizer.*` metadata alone (no `tokenizer.json`).
//!
//! [`Tokenizer::from_gguf`] dispatches on `tokenizer.ggml.model`:
//!
//! | `tokenizer.ggml.model` | tokenizer | module |
//! |------------------------|-----------|--------|
//! | `bert`                 | WordPiece, as Hugging Face's `BertTokenizerFast` | `wordpiece` |
//! | `llama`                | SentencePiece BPE with byte fallback, as Hugging Face's `GemmaTokenizer` (EmbeddingGemma) | `sentencepiece` |
//! | `gpt2`                 | byte-level BPE with the pre-tokenizer named by `tokenizer.ggml.pre` (Qwen2/Qwen3, Llama 3, GPT-2, ModernBERT) | `bpe`, `bpe_pre` |
//!
//! Any other value is [`RuntimeError::UnsupportedTokenizer`].
//!
//! The pipelines are those of the [`tokenizers`] crate, so ids are identical to the Hugging Face
//! tokenizer's: the tests check every text of a 261-line reference fixture (CJK, Korean, Hindi,
//! emoji, control characters, 300-character words, literal `[SEP]`, …), for each family.
//!
//! Texts are untrusted input: encoding never panics. Any string is accepted; a panic inside the
//! `tokenizers` crate (none is known) would be caught and returned as
//! [`RuntimeError::Tokenizer`].
//!
//! # BERT (`bert`)
//!
//! - **Vocabulary.** llama.cpp's converter rewrites `vocab.txt`: word-initial pieces get a `▁`
//!   (U+2581) prefix, continuation pieces lose their `##`, control tokens (`token_type` 3:
//!   `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]`) are stored unchanged (`[unusedN]` are not
//!   control tokens and got a `▁`). The mapping back (control: unchanged; `▁x`: `x`; `x`:
//!   `##x`) reproduces all-MiniLM-L6-v2's `vocab.txt` exactly. Without
//!   `tokenizer.ggml.token_type`, the pieces at the special ids are the ones kept unchanged.
//! - **Collisions.** Two pieces that map to the same string are refused
//!   ([`RuntimeError::Metadata`] naming both ids), since only one of them could ever be produced
//!   and which one is arbitrary.
//! - **Special ids.** `[CLS]` is `tokenizer.ggml.bos_token_id` (or `cls_token_id`), `[SEP]` is
//!   `tokenizer.ggml.seperator_token_id` (llama.cpp's spelling; or `eos_token_id`), `[UNK]` is
//!   `unknown_token_id`: required, and like the optional `padding_token_id` and `mask_token_id`,
//!   below the vocabulary size. Every sequence is `[CLS] … [SEP]`, whatever
//!   `add_bos_token`/`add_eos_token` say (they are true in BERT files). Special tokens written
//!   literally in a text (`"[SEP]"`, case-sensitive) are recognised, as in Hugging Face.
//! - **Normalizer.** Hugging Face's `BertNormalizer`: clean text, spaces around CJK ideographs,
//!   and if `tokenizer.ggml.normalizer.lowercase` (default `true` when absent) lowercasing and
//!   accent stripping. Then `BertPreTokenizer` (whitespace and punctuation) and WordPiece with
//!   `##` continuations and `[UNK]` for words longer than 100 characters or not segmentable.
//!
//! # SentencePiece (`llama`)
//!
//! - **Vocabulary and merges.** The pieces are SentencePiece's (`▁` for a space, `<0x00>` …
//!   `<0xFF>` byte pieces); BPE merges are derived from the pieces and
//!   `tokenizer.ggml.scores` as Hugging Face's converter does (every split of a piece into two
//!   pieces, ranked by the piece's score; see the `sentencepiece` module docs). Duplicate pieces
//!   and NaN scores are refused ([`RuntimeError::Metadata`]).
//! - **Special ids.** `bos_token_id`, `eos_token_id` and `unknown_token_id` are required;
//!   `padding_token_id` and `mask_token_id` are optional; all below the vocabulary size.
//!   Sequences are `bos … eos` as `tokenizer.ggml.add_bos_token` / `add_eos_token` say (absent:
//!   `true` / `false`, llama.cpp's defaults; both `true` for EmbeddingGemma). Pieces of token type
//!   control, user-defined or unknown written literally in a text (`"<eos>"`, case-sensitive) are
//!   recognised, as in Hugging Face.
//! - **Normalizer.** Spaces become `▁`; if `tokenizer.ggml.add_space_prefix` (absent: `true`,
//!   llama.cpp's default; `false` for EmbeddingGemma), a `▁` is also prepended to each stretch of
//!   text between literal tokens. No other normalization: case, accents and control characters
//!   are kept, and characters outside the vocabulary become their UTF-8 byte pieces.
//!
//! # Byte-level BPE (`gpt2`)
//!
//! - **Vocabulary and merges.** The pieces are in GPT-2's byte alphabet (`Ġ` for a space);
//!   `tokenizer.ggml.merges` are the ranked merges. A merge that is not two pieces joined by
//!   one space, or whose parts or result are not pieces, is refused naming its index
//!   ([`RuntimeError::Metadata`]), as are duplicate pieces.
//! - **Pre-tokenizer.** `tokenizer.ggml.pre` names the normalizer, split regex and merge mode
//!   of the model's `tokenizer.json` (`qwen2`: NFC and Qwen2's regex; `llama-bpe`: Llama 3's
//!   regex and `ignore_merges`; `gpt-2`; `modern-bert`: GPT-2's regex, `[MASK]` absorbing the
//!   whitespace before it). Absent or unknown names are refused naming the value: the
//!   pipelines of the others have not been checked against Hugging Face (see the `bpe_pre`
//!   module).
//! - **Special ids.** All optional: `bos` is `bos_token_id` (or `cls_token_id`), `eos` is
//!   `eos_token_id` (or `seperator_token_id`); `add_bos_token` (absent: `true` for
//!   `llama-bpe`, else `false`, llama.cpp's defaults) and `add_eos_token` (absent: `false`, but
//!   `true` for a `qwen3` file pooled by its last token, as Qwen3-Embedding needs)
//!   frame every sequence, and an id they need is then required. Qwen3-Embedding: no `bos`,
//!   `<|endoftext|>` appended; ModernBERT: `[CLS] … [SEP]`. Control, user-defined and
//!   unknown pieces written literally in a text are recognised.
//!
//! ```
//! # fn main() -> Result<(), ggufembed_runtime::error::RuntimeError> {
//! use ggufembed_runtime::gguf_loader::GgufFile;
//! use ggufembed_runtime::tokenizer::Tokenizer;
//!
//! # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/minilm-vocab.gguf");
//! # /*
//! let path = "all-MiniLM-L6-v2.q8_0.gguf";
//! # */
//! let file = GgufFile::open(path)?;
//! let tokenizer = Tokenizer::from_gguf(&file)?;
//! assert_eq!(tokenizer.encode("Hello, world!")?, [101, 7592, 1010, 2088, 999, 102]);
//! let (ids, truncated) = tokenizer.encode_truncated("Hello, world!", 4)?;
//! assert_eq!((ids, truncated), (vec![101, 7592, 1010, 102], true));
//! # Ok(()) }
//! ```

mod bpe;
mod bpe_pre;
mod pair;
mod sentencepiece;
mod wordpiece;

use std::panic::{AssertUnwindSafe, catch_unwind};

use gguf_loader::GgufFile;

use crate::error::{Result, RuntimeError};

pub use pair::EncodedPair;

/// Metadata keys read by the tokenizers (GGUF / llama.cpp names).
pub(crate) mod keys {
    /// Tokenizer family: `bert`, `llama`, `gpt2`, ….
    pub const MODEL: &str = "tokenizer.ggml.model";
    /// Byte-level BPE pre-tokenizer name: `qwen2`, `llama-bpe`, `gpt-2`, `modern-bert`, ….
    pub const PRE: &str = "tokenizer.ggml.pre";
    /// Byte-level BPE merges, `"left right"`, best first.
    pub const MERGES: &str = "tokenizer.ggml.merges";
    /// The pieces, indexed by id.
    pub const TOKENS: &str = "tokenizer.ggml.tokens";
    /// SentencePiece piece scores, parallel to the pieces (merge priorities for BPE).
    pub const SCORES: &str = "tokenizer.ggml.scores";
    /// llama.cpp token types (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte).
    pub const TOKEN_TYPE: &str = "tokenizer.ggml.token_type";
    /// Beginning-of-sequence id (`[CLS]` for BERT).
    pub const BOS_ID: &str = "tokenizer.ggml.bos_token_id";
    /// `[CLS]` id, written by some converters instead of or besides `bos_token_id`.
    pub const CLS_ID: &str = "tokenizer.ggml.cls_token_id";
    /// End-of-sequence id.
    pub const EOS_ID: &str = "tokenizer.ggml.eos_token_id";
    /// `[SEP]` id, in llama.cpp's spelling.
    pub const SEP_ID: &str = "tokenizer.ggml.seperator_token_id";
    /// Unknown-token id.
    pub const UNK_ID: &str = "tokenizer.ggml.unknown_token_id";
    /// Padding id.
    pub const PAD_ID: &str = "tokenizer.ggml.padding_token_id";
    /// Mask id.
    pub const MASK_ID: &str = "tokenizer.ggml.mask_token_id";
    /// Whether BERT's normalizer lowercases (and strips accents).
    pub const LOWERCASE: &str = "tokenizer.ggml.normalizer.lowercase";
    /// Whether sequences start with the bos token (SentencePiece, byte-level BPE).
    pub const ADD_BOS: &str = "tokenizer.ggml.add_bos_token";
    /// Whether sequences end with the eos token (SentencePiece, byte-level BPE).
    pub const ADD_EOS: &str = "tokenizer.ggml.add_eos_token";
    /// Whether SentencePiece prepends a `▁` to the text (its "dummy prefix").
    pub const ADD_SPACE_PREFIX: &str = "tokenizer.ggml.add_space_prefix";
}

/// The special token ids of a tokenizer, all `< vocab_size()`. A tokenizer family that always
/// has an id (`bos`, `eos` and `unk` for BERT and SentencePiece) always gives `Some`;
/// byte-level BPE files name only some (Qwen3-Embedding: no `bos`, no `unk`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SpecialIds {
    /// The id sequences may start with: `[CLS]` for BERT (`tokenizer.ggml.bos_token_id`),
    /// `<bos>` for SentencePiece models and byte-level BPE (`[CLS]` for ModernBERT), whose
    /// sequences start with it only if `tokenizer.ggml.add_bos_token` says so.
    pub bos: Option<u32>,
    /// The id sequences may end with: `[SEP]` for BERT (`tokenizer.ggml.seperator_token_id`,
    /// or `eos_token_id` when absent), `<eos>` (`eos_token_id`) for SentencePiece models and
    /// byte-level BPE (`<|endoftext|>` for Qwen3-Embedding, `[SEP]` for ModernBERT), whose
    /// sequences end with it only if `tokenizer.ggml.add_eos_token` says so.
    pub eos: Option<u32>,
    /// Id of pieces outside the vocabulary: `[UNK]` for BERT, `<unk>` for SentencePiece (which
    /// byte fallback makes unused when the vocabulary has the 256 byte pieces); byte-level BPE
    /// never needs one.
    pub unk: Option<u32>,
    /// Padding id (`[PAD]`, `<pad>`), if the file names one. Encoding emits it only where a
    /// text spells it literally; batching may.
    pub pad: Option<u32>,
    /// Mask id (`[MASK]`), if the file names one. Only produced when written literally.
    pub mask: Option<u32>,
}

impl SpecialIds {
    /// Every special id present.
    pub fn iter(&self) -> impl Iterator<Item = u32> + use<> {
        [self.bos, self.eos, self.unk, self.pad, self.mask]
            .into_iter()
            .flatten()
    }

    /// Whether `id` is one of the special ids.
    pub fn contains(&self, id: u32) -> bool {
        self.iter().any(|s| s == id)
    }
}

/// The tokenizer families implemented; one variant per sibling module.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one tokenizer per model, built once: its inline size does not matter"
)]
enum Inner {
    WordPiece(wordpiece::WordPieceTokenizer),
    SentencePiece(sentencepiece::SentencePieceTokenizer),
    ByteLevelBpe(bpe::ByteLevelBpeTokenizer),
}

/// A text tokenizer built from GGUF metadata. Immutable once built: `Send + Sync`, share it
/// between threads behind an `Arc` or a reference.
#[derive(Debug)]
pub struct Tokenizer {
    inner: Inner,
    special: SpecialIds,
    vocab_size: usize,
    /// The id every sequence starts with, if any (`special.bos` when the model adds it).
    first: Option<u32>,
    /// The id every sequence ends with, if any (`special.eos` when the model adds it).
    last: Option<u32>,
}

impl Tokenizer {
    /// Builds the tokenizer described by `file`'s `tokenizer.*` metadata.
    ///
    /// Takes a few milliseconds for a 30k-piece vocabulary (no JSON is involved). SentencePiece
    /// vocabularies derive their BPE merges here, in time linear in the total length of the
    /// pieces plus a sort of the merges: about 1 ms for the tiny EmbeddingGemma's 1,001 pieces,
    /// 1.5–3 s for a synthetic 262,144-piece vocabulary (EmbeddingGemma's size) on a busy
    /// 2-core machine, half of it in the `tokenizers` crate's own BPE construction.
    ///
    /// # Errors
    ///
    /// - [`RuntimeError::Gguf`] if a required key is missing (`tokenizer.ggml.model`,
    ///   `tokenizer.ggml.tokens`, `tokenizer.ggml.scores` for `llama`, `tokenizer.ggml.merges`
    ///   for `gpt2`) or a key has the wrong type;
    /// - [`RuntimeError::UnsupportedTokenizer`] if `tokenizer.ggml.model` is not `bert`,
    ///   `llama` or `gpt2`;
    /// - [`RuntimeError::Metadata`] if the vocabulary is empty, token types or scores do not
    ///   match it, a score is NaN, a required special id is missing or outside the vocabulary,
    ///   two pieces collide, a merge is malformed, or `tokenizer.ggml.pre` is absent or names
    ///   a pre-tokenizer not implemented (see the `wordpiece`, `sentencepiece`, `bpe` and
    ///   `bpe_pre` module docs);
    /// - [`RuntimeError::Tokenizer`] if the `tokenizers` crate refuses the configuration.
    pub fn from_gguf(file: &GgufFile) -> Result<Tokenizer> {
        let model = file.get_str(keys::MODEL)?;
        let (inner, special, vocab_size, add_bos, add_eos) = match model {
            "bert" => {
                let (wp, special, vocab_size) = wordpiece::WordPieceTokenizer::from_gguf(file)?;
                (Inner::WordPiece(wp), special, vocab_size, true, true)
            }
            "llama" => {
                let (sp, special, vocab_size) =
                    sentencepiece::SentencePieceTokenizer::from_gguf(file)?;
                let (add_bos, add_eos) = (sp.add_bos(), sp.add_eos());
                (
                    Inner::SentencePiece(sp),
                    special,
                    vocab_size,
                    add_bos,
                    add_eos,
                )
            }
            "gpt2" => {
                let (bpe, special, vocab_size) = bpe::ByteLevelBpeTokenizer::from_gguf(file)?;
                let (add_bos, add_eos) = (bpe.add_bos(), bpe.add_eos());
                (
                    Inner::ByteLevelBpe(bpe),
                    special,
                    vocab_size,
                    add_bos,
                    add_eos,
                )
            }
            other => {
                return Err(RuntimeError::UnsupportedTokenizer {
                    model: other.to_owned(),
                });
            }
        };
        // Each family checks that the ids it adds are present (BERT and SentencePiece require
        // them; byte-level BPE requires them when `add_bos_token` / `add_eos_token` say so).
        Ok(Tokenizer {
            inner,
            first: special.bos.filter(|_| add_bos),
            last: special.eos.filter(|_| add_eos),
            special,
            vocab_size,
        })
    }

    /// The ids of `text` with the special tokens (`[CLS] … [SEP]`, `<bos> … <eos>`),
    /// untruncated.
    ///
    /// Any string is accepted; the empty string gives `[bos, eos]` (for BERT, so does a string of
    /// whitespace and control characters only). A SentencePiece or byte-level BPE tokenizer
    /// whose file sets `tokenizer.ggml.add_bos_token` or `add_eos_token` to false leaves out
    /// `bos` or `eos` (Qwen3-Embedding: `[<|endoftext|>]` only).
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Tokenizer`] if the underlying tokenizer fails, which it is not known to do
    /// for any input.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        self.encode_into(text, &mut ids)?;
        Ok(ids)
    }

    /// Like [`Tokenizer::encode`], into `ids` (cleared first), reusing its capacity.
    ///
    /// On error, `ids` is left empty.
    ///
    /// # Errors
    ///
    /// As [`Tokenizer::encode`].
    pub fn encode_into(&self, text: &str, ids: &mut Vec<u32>) -> Result<()> {
        ids.clear();
        ids.extend(self.first);
        if let Err(e) = self.encode_body(text, ids) {
            ids.clear();
            return Err(e);
        }
        ids.extend(self.last);
        Ok(())
    }

    /// Appends the ids of `text` without any special token to `ids`; a panic inside the
    /// `tokenizers` crate becomes [`RuntimeError::Tokenizer`].
    fn encode_body(&self, text: &str, ids: &mut Vec<u32>) -> Result<()> {
        catch_unwind(AssertUnwindSafe(|| match &self.inner {
            Inner::WordPiece(wp) => wp.encode_into(text, ids),
            Inner::SentencePiece(sp) => sp.encode_into(text, ids),
            Inner::ByteLevelBpe(bpe) => bpe.encode_into(text, ids),
        }))
        .unwrap_or_else(|_| {
            Err(RuntimeError::tokenizer(format!(
                "internal panic while tokenizing a text of {} bytes",
                text.len()
            )))
        })
    }

    /// The ids of `text` with special tokens, truncated to at most `max_len` ids *including*
    /// the special tokens; `eos` (`[SEP]`) stays last. Returns the ids and whether any were cut.
    ///
    /// Truncation keeps the beginning of the text (Hugging Face's `LongestFirst`/`Right`
    /// truncation for a single sequence): with `n` ids untruncated and `n > max_len`, the result
    /// is the first `max_len - 1` ids followed by `eos`.
    ///
    /// A SentencePiece or byte-level BPE tokenizer that does not add `eos`
    /// (`tokenizer.ggml.add_eos_token` false) keeps the first `max_len` ids instead, ending
    /// wherever the cut falls; one that does not add `bos` (Qwen3-Embedding) just starts with
    /// the text's first id, so `max_len` 1 is allowed and keeps only `eos`.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::InvalidArgument`] if `max_len` leaves no room for the special tokens the
    /// tokenizer adds, or is 0: `max_len < 2` when it adds both `bos` and `eos` (always the case
    /// for BERT); otherwise as [`Tokenizer::encode`].
    pub fn encode_truncated(&self, text: &str, max_len: usize) -> Result<(Vec<u32>, bool)> {
        let mut ids = Vec::new();
        let truncated = self.encode_truncated_into(text, max_len, &mut ids)?;
        Ok((ids, truncated))
    }

    /// Like [`Tokenizer::encode_truncated`], into `ids` (cleared first); returns whether ids
    /// were cut.
    ///
    /// # Errors
    ///
    /// As [`Tokenizer::encode_truncated`]; `ids` is left empty.
    pub fn encode_truncated_into(
        &self,
        text: &str,
        max_len: usize,
        ids: &mut Vec<u32>,
    ) -> Result<bool> {
        ids.clear();
        let n_special = usize::from(self.first.is_some()) + usize::from(self.last.is_some());
        let min_len = n_special.max(1);
        if max_len < min_len {
            let room = match n_special {
                0 => "any id".to_owned(),
                1 => "the special token".to_owned(),
                n => format!("the {n} special tokens"),
            };
            return Err(RuntimeError::InvalidArgument {
                name: "max_len",
                reason: format!(
                    "{max_len} leaves no room for {room}; it must be at least {min_len}"
                ),
            });
        }
        self.encode_into(text, ids)?;
        if ids.len() <= max_len {
            return Ok(false);
        }
        match self.last {
            Some(last) => {
                ids.truncate(max_len - 1);
                ids.push(last);
            }
            None => ids.truncate(max_len),
        }
        Ok(true)
    }

    /// Number of ids in the vocabulary; every id produced is below it.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// The special ids (`[CLS]`, `[SEP]`, `[UNK]`, `[PAD]`, `[MASK]` for BERT and ModernBERT;
    /// `<bos>`, `<eos>`, `<unk>`, `<pad>`, `<mask>` for EmbeddingGemma; `<|endoftext|>` as
    /// `eos` and `pad` for Qwen3-Embedding).
    pub fn special_ids(&self) -> SpecialIds {
        self.special
    }

    /// The `tokenizer.ggml.model` family this tokenizer implements: `"bert"`, `"llama"` or
    /// `"gpt2"`.
    pub fn model(&self) -> &'static str {
        match self.inner {
            Inner::WordPiece(_) => "bert",
            Inner::SentencePiece(_) => "llama",
            Inner::ByteLevelBpe(_) => "gpt2",
        }
    }

    /// The byte-level BPE pre-tokenizer (`tokenizer.ggml.pre`, e.g. `"qwen2"`); `None` for
    /// the other families.
    pub fn pre_tokenizer(&self) -> Option<&'static str> {
        match &self.inner {
            Inner::ByteLevelBpe(bpe) => Some(bpe.pre()),
            _ => None,
        }
    }
}

/// `tokenizer.ggml.tokens`: non-empty, with every id representable as `u32`.
fn read_vocab(file: &GgufFile) -> Result<&[String]> {
    let tokens = file.get_array::<String>(keys::TOKENS)?;
    if tokens.is_empty() {
        return Err(RuntimeError::metadata(
            keys::TOKENS,
            "the vocabulary is empty",
        ));
    }
    if u32::try_from(tokens.len()).is_err() {
        return Err(RuntimeError::metadata(
            keys::TOKENS,
            format!("{} tokens do not fit 32-bit ids", tokens.len()),
        ));
    }
    Ok(tokens)
}

/// `tokenizer.ggml.token_type`, if present: one entry per token.
fn read_token_types(file: &GgufFile, n_vocab: usize) -> Result<Option<&[i32]>> {
    if file.get(keys::TOKEN_TYPE).is_none() {
        return Ok(None);
    }
    let types = file.get_array::<i32>(keys::TOKEN_TYPE)?;
    if types.len() != n_vocab {
        return Err(RuntimeError::metadata(
            keys::TOKEN_TYPE,
            format!("{} entries for {n_vocab} tokens", types.len()),
        ));
    }
    Ok(Some(types))
}

/// Reads the first of `names` present in `file` as a token id below `n_vocab`; `None` if none
/// is present.
fn read_token_id(file: &GgufFile, names: &[&str], n_vocab: usize) -> Result<Option<u32>> {
    let Some(&name) = names.iter().find(|&&name| file.get(name).is_some()) else {
        return Ok(None);
    };
    let id = file.get_uint(name)?;
    match u32::try_from(id) {
        Ok(id) if (id as usize) < n_vocab => Ok(Some(id)),
        _ => Err(RuntimeError::metadata(
            name,
            format!("token id {id} is outside the vocabulary of {n_vocab} tokens"),
        )),
    }
}

/// Reads the boolean `name`, or `default` if it is absent.
fn read_bool(file: &GgufFile, name: &str, default: bool) -> Result<bool> {
    match file.get(name) {
        None => Ok(default),
        Some(_) => Ok(file.get_bool(name)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn tokenizer_is_send_and_sync() {
        assert_send_sync::<Tokenizer>();
        assert_send_sync::<RuntimeError>();
    }

    #[test]
    fn special_ids_iterate_present_ids() {
        let s = SpecialIds {
            bos: Some(1),
            eos: Some(2),
            unk: None,
            pad: Some(3),
            mask: Some(4),
        };
        assert_eq!(s.iter().collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert!(s.contains(4));
        assert!(!s.contains(0));
    }
}
