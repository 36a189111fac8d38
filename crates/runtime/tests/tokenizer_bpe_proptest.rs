//! Property tests for the byte-level BPE tokenizers (tiny Qwen3-Embedding, tiny ModernBERT):
//! any string encodes without panicking, with ids in range, the special tokens where the model
//! puts them (Qwen3: `<|endoftext|>` last; ModernBERT: `[CLS]` first, `[SEP]` last) and
//! elsewhere only where the text spells them; the pieces spell the (normalized) text back;
//! truncation is a prefix with the final special token kept.

use std::collections::HashMap;
use std::sync::OnceLock;

use ggufembed_runtime::gguf_loader::GgufFile;
use ggufembed_runtime::tokenizer::Tokenizer;
use proptest::prelude::*;
use tokenizers::normalizers::unicode::NFC;
use tokenizers::{NormalizedString, Normalizer};

/// A tokenizer with its pieces and its literal (control) tokens.
struct Fixture {
    tokenizer: Tokenizer,
    pieces: Vec<String>,
    literals: Vec<(u32, String)>,
}

fn load(name: &str) -> Fixture {
    let path = format!(
        "{}/tests/data/{name}-vocab.gguf",
        env!("CARGO_MANIFEST_DIR")
    );
    let file = GgufFile::open(path).expect("open the vocab-only GGUF");
    let tokenizer = Tokenizer::from_gguf(&file).expect("build the tokenizer");
    let pieces = file
        .get_array::<String>("tokenizer.ggml.tokens")
        .unwrap()
        .to_vec();
    let types = file.get_array::<i32>("tokenizer.ggml.token_type").unwrap();
    let literals = (0..pieces.len())
        .filter(|&i| types[i] == 3)
        .map(|i| (i as u32, pieces[i].clone()))
        .collect();
    Fixture {
        tokenizer,
        pieces,
        literals,
    }
}

fn qwen() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| load("tiny-qwen3-embedding"))
}

fn modernbert() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| load("tiny-modernbert"))
}

/// GPT-2's character → byte map (the inverse of its `bytes_to_unicode`): printable Latin-1
/// bytes stand for themselves, the other 68 for U+0100 onwards in byte order.
fn char_bytes() -> &'static HashMap<char, u8> {
    static MAP: OnceLock<HashMap<char, u8>> = OnceLock::new();
    MAP.get_or_init(|| {
        let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xa1..=0xac | 0xae..=0xff);
        let mut next = 256u32;
        (0..=255u8)
            .map(|b| {
                if printable(b) {
                    (char::from(b), b)
                } else {
                    next += 1;
                    (char::from_u32(next - 1).unwrap(), b)
                }
            })
            .collect()
    })
}

/// The bytes `ids` spell: literal tokens as their text, other pieces through GPT-2's map.
fn decode(f: &Fixture, ids: &[u32]) -> Vec<u8> {
    let mut out = Vec::new();
    for &id in ids {
        let piece = &f.pieces[id as usize];
        if f.literals.iter().any(|(l, _)| *l == id) {
            out.extend_from_slice(piece.as_bytes());
        } else {
            out.extend(piece.chars().map(|c| char_bytes()[&c]));
        }
    }
    out
}

/// Non-overlapping occurrences of `needle` in `text`.
fn occurrences(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

/// `text` with the whitespace before each `[MASK]` removed (its `lstrip`).
fn lstrip_masks(text: &str) -> String {
    let parts: Vec<&str> = text.split("[MASK]").collect();
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 < parts.len() {
            out.push_str(part.trim_end());
            out.push_str("[MASK]");
        } else {
            out.push_str(part);
        }
    }
    out
}

fn nfc(text: &str) -> String {
    let mut n = NormalizedString::from(text);
    NFC.normalize(&mut n).unwrap();
    n.get().to_owned()
}

/// `text` NFC-normalized between the literal tokens (which are matched first, unnormalized).
fn nfc_between_literals(f: &Fixture, mut text: &str) -> String {
    let mut out = String::new();
    loop {
        let next = f
            .literals
            .iter()
            .filter_map(|(_, l)| text.find(l.as_str()).map(|at| (at, l)))
            .min_by_key(|&(at, l)| (at, usize::MAX - l.len()));
        let Some((at, literal)) = next else {
            out.push_str(&nfc(text));
            return out;
        };
        out.push_str(&nfc(&text[..at]));
        out.push_str(literal);
        text = &text[at + literal.len()..];
    }
}

fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        Just('\0'),
        Just('\u{7}'),
        Just('\t'),
        Just('\n'),
        Just('\r'),
        Just('\u{b}'),
        Just('\u{c}'),
        Just('\u{1c}'),
        Just('\u{85}'),
        Just('\u{a0}'),
        Just('\u{200b}'),
        Just('\u{200d}'),
        Just('\u{2028}'),
        Just('\u{3000}'),
        Just('\u{feff}'),
        Just('\u{fffd}'),
        Just('\u{301}'),
        Just('\u{308}'),
        Just('é'),
        Just('東'),
        Just('한'),
        Just('न'),
        Just('😀'),
        Just('👩'),
        Just('\''),
        Just('1'),
        Just('['),
        Just('<'),
        Just('|'),
        Just(' '),
        Just('a'),
        Just('s'),
        Just('t'),
        proptest::char::range('\u{0}', '\u{7f}'),
        any::<char>(),
    ]
}

fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(tricky_char(), 0..96).prop_map(|c| c.into_iter().collect()),
        prop::collection::vec(
            prop_oneof![
                Just("<|endoftext|>".to_owned()),
                Just("<|im_start|>".to_owned()),
                Just("<|im_end|>".to_owned()),
                Just("<|endoftext".to_owned()),
                Just("[CLS]".to_owned()),
                Just("[SEP]".to_owned()),
                Just("[MASK]".to_owned()),
                Just("[PAD]".to_owned()),
                Just("[UNK]".to_owned()),
                Just("'s".to_owned()),
                Just("'LL".to_owned()),
                "[a-zA-Z]{1,12}",
                "[0-9]{1,6}",
                "[ \\t\\n\\r]{1,4}",
                tricky_char().prop_map(String::from),
            ],
            0..24
        )
        .prop_map(|parts| parts.concat()),
        (1usize..600, tricky_char()).prop_map(|(n, c)| c.to_string().repeat(n)),
    ]
}

/// Each literal token's id occurs among `body` exactly as often as its text occurs in `text`.
fn literals_where_spelled(f: &Fixture, text: &str, body: &[u32]) -> Result<(), TestCaseError> {
    for (id, literal) in &f.literals {
        let n = body.iter().filter(|&&b| b == *id).count();
        prop_assert_eq!(n, occurrences(text, literal), "{} in {:?}", literal, text);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn qwen3_any_string_ends_with_endoftext_losslessly(text in tricky_string()) {
        let f = qwen();
        let t = &f.tokenizer;
        let ids = t.encode(&text).expect("encoding never fails");
        prop_assert!(ids.iter().all(|&id| (id as usize) < t.vocab_size()));
        let (&last, body) = ids.split_last().expect("at least <|endoftext|>");
        prop_assert_eq!(last, 1200);
        literals_where_spelled(f, &text, body)?;
        let decoded = decode(f, body);
        prop_assert_eq!(String::from_utf8_lossy(&decoded), nfc_between_literals(f, &text));
    }

    #[test]
    fn modernbert_any_string_is_cls_ids_sep_losslessly(text in tricky_string()) {
        let f = modernbert();
        let t = &f.tokenizer;
        let ids = t.encode(&text).expect("encoding never fails");
        prop_assert!(ids.len() >= 2);
        prop_assert!(ids.iter().all(|&id| (id as usize) < t.vocab_size()));
        prop_assert_eq!((ids[0], ids[ids.len() - 1]), (1201, 1202));
        let body = &ids[1..ids.len() - 1];
        literals_where_spelled(f, &text, body)?;
        let decoded = decode(f, body);
        prop_assert_eq!(String::from_utf8_lossy(&decoded), lstrip_masks(&text));
    }

    #[test]
    fn truncation_is_a_prefix_with_the_last_special_kept(
        text in tricky_string(),
        max_len in 2usize..40,
        which in 0usize..2,
    ) {
        let (f, last) = [(qwen(), 1200), (modernbert(), 1202)][which];
        let t = &f.tokenizer;
        let full = t.encode(&text).unwrap();
        let (ids, truncated) = t.encode_truncated(&text, max_len).unwrap();
        prop_assert_eq!(truncated, full.len() > max_len);
        prop_assert_eq!(*ids.last().unwrap(), last);
        if truncated {
            prop_assert_eq!(ids.len(), max_len);
            prop_assert_eq!(&ids[..max_len - 1], &full[..max_len - 1]);
        } else {
            prop_assert_eq!(ids, full);
        }
    }
}
