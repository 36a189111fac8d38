//! BERT's WordPiece tokenizer (`tokenizer.ggml.model = "bert"`), rebuilt from GGUF metadata.
//!
//! # Vocabulary mapping
//!
//! llama.cpp's converter does not store `vocab.txt` as is: it rewrites every piece to its own
//! "phantom space" convention, where `▁` (U+2581) marks a word-initial piece and continuation
//! pieces lose their `##`. Control tokens (`token_type` 3: `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`,
//! `[MASK]`) are stored unchanged; everything else, `[unusedN]` included, is rewritten. The
//! mapping back, which reproduces `vocab.txt` byte for byte for all-MiniLM-L6-v2 (30522 pieces):
//!
//! | GGUF piece            | token type        | WordPiece piece |
//! |-----------------------|-------------------|-----------------|
//! | `[CLS]`               | control (3)       | `[CLS]`         |
//! | `▁hello`, `▁[unused0]`| any other         | `hello`, `[unused0]` |
//! | `ing`                 | any other         | `##ing`         |
//!
//! If `tokenizer.ggml.token_type` is absent, the pieces at the special-token ids are the ones
//! kept unchanged.
//!
//! Two GGUF pieces that map to the same WordPiece piece are refused
//! ([`RuntimeError::Metadata`] on `tokenizer.ggml.tokens`, naming both ids): the Hugging Face
//! tokenizer would silently keep one of them, and which one depends on how the vocabulary was
//! read, so the ids produced could differ from the original model's. Converters never emit such
//! vocabularies for BERT models.
//!
//! # Pipeline
//!
//! The same components, with the same settings, as the Hugging Face `tokenizer.json` of BERT
//! models (`BertTokenizerFast`):
//!
//! 1. special-token extraction: the control tokens (and the special ids) written literally in the
//!    text, e.g. `"[SEP]"`, become their ids, un-normalized, as `added_tokens` do in
//!    `tokenizer.json`;
//! 2. `BertNormalizer`: clean text (drop NUL, U+FFFD and control characters, map whitespace to a
//!    space), spaces around CJK ideographs, and, if `tokenizer.ggml.normalizer.lowercase` is true
//!    (the default when the key is absent), lowercasing plus accent stripping (NFD, then drop
//!    non-spacing marks);
//! 3. `BertPreTokenizer`: split on whitespace and isolate each punctuation character;
//! 4. `WordPiece`: greedy longest-match-first with `##` continuations; a word with no complete
//!    segmentation, or longer than 100 characters, becomes the single `[UNK]` id;
//! 5. `[CLS] … [SEP]` around the result (appended here directly rather than through
//!    `TemplateProcessing`, with identical ids).

use std::collections::hash_map::Entry;

use gguf_loader::GgufFile;
use tokenizers::models::bpe::Vocab;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::{AddedToken, AddedVocabulary, Model, OffsetReferential, OffsetType, PreTokenizer};

use super::{SpecialIds, keys, read_token_id, read_token_types, read_vocab};
use crate::error::{Result, RuntimeError};

/// GGUF / llama.cpp token type of control tokens (`LLAMA_TOKEN_TYPE_CONTROL`).
const TOKEN_TYPE_CONTROL: i32 = 3;

/// llama.cpp's word-initial marker.
const PHANTOM_SPACE: char = '\u{2581}';

/// WordPiece's continuation prefix.
const CONTINUING_SUBWORD_PREFIX: &str = "##";

/// Longest word, in characters, that WordPiece splits; longer words become `[UNK]`.
/// Hugging Face's default and the value of every BERT `tokenizer.json`.
const MAX_INPUT_CHARS_PER_WORD: usize = 100;

/// A BERT WordPiece tokenizer.
#[derive(Debug)]
pub(crate) struct WordPieceTokenizer {
    added: AddedVocabulary,
    normalizer: BertNormalizer,
    model: WordPiece,
}

impl WordPieceTokenizer {
    /// Builds the tokenizer from `file`'s `tokenizer.*` metadata; returns it with its special
    /// ids and vocabulary size. The caller has checked that `tokenizer.ggml.model` is `bert`.
    pub(crate) fn from_gguf(file: &GgufFile) -> Result<(WordPieceTokenizer, SpecialIds, usize)> {
        let tokens = read_vocab(file)?;
        let n_vocab = tokens.len();

        let token_types = read_token_types(file, n_vocab)?;

        let special = read_special_ids(file, n_vocab)?;

        let lowercase = match file.get(keys::LOWERCASE) {
            None => true,
            Some(_) => file.get_bool(keys::LOWERCASE)?,
        };

        // Map the pieces back to vocab.txt's spelling, refusing duplicates. The pieces to match
        // literally in texts (control tokens and special ids) are collected on the way.
        let mut vocab = Vocab::with_capacity(n_vocab);
        let mut literal_pieces = Vec::new();
        let mut unk_piece = None;
        for (id, token) in tokens.iter().enumerate() {
            // Fits: n_vocab was checked above.
            let id = id as u32;
            let control = match token_types {
                Some(types) => types[id as usize] == TOKEN_TYPE_CONTROL,
                None => special.contains(id),
            };
            let piece = if control {
                token.clone()
            } else if let Some(word_initial) = token.strip_prefix(PHANTOM_SPACE) {
                word_initial.to_owned()
            } else {
                let mut piece =
                    String::with_capacity(CONTINUING_SUBWORD_PREFIX.len() + token.len());
                piece.push_str(CONTINUING_SUBWORD_PREFIX);
                piece.push_str(token);
                piece
            };
            if (control || special.contains(id)) && !piece.is_empty() {
                literal_pieces.push(piece.clone());
            }
            if Some(id) == special.unk {
                unk_piece = Some(piece.clone());
            }
            match vocab.entry(piece) {
                Entry::Occupied(e) => {
                    return Err(RuntimeError::metadata(
                        keys::TOKENS,
                        format!(
                            "tokens {} and {id} both map to the WordPiece piece {:?}",
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
        // Present: special.unk < n_vocab was checked by read_special_ids.
        let unk_piece = unk_piece.unwrap_or_default();

        let model = WordPiece::builder()
            .vocab(vocab)
            .unk_token(unk_piece)
            .continuing_subword_prefix(CONTINUING_SUBWORD_PREFIX.to_owned())
            .max_input_chars_per_word(MAX_INPUT_CHARS_PER_WORD)
            .build()
            .map_err(|e| RuntimeError::tokenizer(format!("building WordPiece: {e}")))?;

        // clean_text, handle_chinese_chars, strip_accents = None (follows lowercase), lowercase.
        let normalizer = BertNormalizer::new(true, true, None, lowercase);

        let mut added = AddedVocabulary::new();
        let added_tokens: Vec<AddedToken> = literal_pieces
            .into_iter()
            .map(|p| AddedToken::from(p, true))
            .collect();
        added.add_special_tokens(&added_tokens, &model, Some(&normalizer));

        Ok((
            WordPieceTokenizer {
                added,
                normalizer,
                model,
            },
            special,
            n_vocab,
        ))
    }

    /// Appends the ids of `text`, without special tokens, to `out`.
    pub(crate) fn encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        let mut pretokenized = self
            .added
            .extract_and_normalize(Some(&self.normalizer), text);
        BertPreTokenizer
            .pre_tokenize(&mut pretokenized)
            .map_err(|e| RuntimeError::tokenizer(format!("pre-tokenizing: {e}")))?;
        pretokenized
            .tokenize(|normalized| self.model.tokenize(normalized.get()))
            .map_err(|e| RuntimeError::tokenizer(format!("WordPiece: {e}")))?;
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

/// Reads BERT's special ids: `[CLS]` from `bos_token_id` or else `cls_token_id`, `[SEP]` from
/// `seperator_token_id` (llama.cpp's spelling) or else `eos_token_id`, `[UNK]` from
/// `unknown_token_id` (all three required), `[PAD]` and `[MASK]` if present.
fn read_special_ids(file: &GgufFile, n_vocab: usize) -> Result<SpecialIds> {
    let required = |names: &[&str]| -> Result<Option<u32>> {
        read_token_id(file, names, n_vocab)?
            .map(Some)
            .ok_or_else(|| {
                let reason = match names {
                    [_, alternatives @ ..] if !alternatives.is_empty() => {
                        format!("not found (nor {})", alternatives.join(", "))
                    }
                    _ => "not found".to_owned(),
                };
                RuntimeError::metadata(names[0], reason)
            })
    };
    Ok(SpecialIds {
        bos: required(&[keys::BOS_ID, keys::CLS_ID])?,
        eos: required(&[keys::SEP_ID, keys::EOS_ID])?,
        unk: required(&[keys::UNK_ID])?,
        pad: read_token_id(file, &[keys::PAD_ID], n_vocab)?,
        mask: read_token_id(file, &[keys::MASK_ID], n_vocab)?,
    })
}
