//! Checks shared by the fuzz targets (included with `mod common;`).

#![allow(dead_code)]

use gguf_loader::GgufFile;
use ggufembed_runtime::Tokenizer;

/// The text a fuzz input stands for: strict UTF-8 when the first byte is even (the input,
/// rest, must then be valid UTF-8, else `None`), lossy otherwise.
pub fn text(data: &[u8]) -> Option<String> {
    let (&mode, rest) = data.split_first()?;
    if mode % 2 == 0 {
        std::str::from_utf8(rest).ok().map(str::to_owned)
    } else {
        Some(String::from_utf8_lossy(rest).into_owned())
    }
}

/// A tokenizer with what every check compares against, computed once: the ids of the empty
/// text (the special tokens every sequence gets).
pub struct Fixture {
    tok: Tokenizer,
    empty: Vec<u32>,
}

/// The tokenizer of a committed vocabulary-only GGUF (`fuzz/dicts/`).
pub fn tokenizer(bytes: &[u8]) -> Fixture {
    let file = GgufFile::from_bytes(bytes).expect("the committed dictionary parses");
    let tok = Tokenizer::from_gguf(&file).expect("the committed dictionary builds a tokenizer");
    let empty = tok.encode("").expect("encode accepts the empty text");
    Fixture { tok, empty }
}

/// Tokenizes `data` (see [`text`]); the first byte also picks a `max_len` in 0..32. Asserts:
/// no error on any text, ids below the vocabulary size, the special ids where the tokenizer
/// puts them, and truncation to `max_len` keeping the beginning and the final special token.
pub fn check_tokenizer(fixture: &Fixture, data: &[u8]) {
    let Fixture { tok, empty } = fixture;
    let Some(text) = text(data) else { return };
    let ids = tok.encode(&text).expect("encode accepts any text");
    let n_vocab = tok.vocab_size();
    assert!(
        ids.iter().all(|&id| (id as usize) < n_vocab),
        "an id outside the vocabulary of {n_vocab}: {ids:?}"
    );
    let special = tok.special_ids();
    // The ids every text gets: `[bos] … [eos]` where the tokenizer adds them.
    if let (Some(&first), true) = (empty.first(), empty.len() == 2) {
        assert_eq!(ids.first(), Some(&first), "the first special id moved");
        assert_eq!(ids.last(), empty.last(), "the last special id moved");
        assert_eq!(Some(first), special.bos);
    }
    let max_len = usize::from(data[0] / 2 % 32);
    match tok.encode_truncated(&text, max_len) {
        Ok((cut, truncated)) => {
            assert!(
                cut.len() <= max_len,
                "{} ids > max_len {max_len}",
                cut.len()
            );
            assert_eq!(truncated, ids.len() > max_len, "wrong truncation flag");
            if !truncated {
                assert_eq!(cut, ids);
            } else if empty.len() == 2 {
                assert_eq!(cut[..max_len - 1], ids[..max_len - 1]);
                assert_eq!(cut.last(), ids.last(), "the final special id was cut");
            }
        }
        Err(e) => assert!(
            max_len < empty.len().max(1),
            "max_len {max_len} refused: {e}"
        ),
    }
}
