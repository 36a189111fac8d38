//! Property tests for the SentencePiece tokenizer (tiny EmbeddingGemma): any string encodes
//! without panicking to `<bos> … <eos>`, losslessly, and truncation is a prefix with `<eos>` last.

use std::sync::OnceLock;

use ggufembed_runtime::gguf_loader::GgufFile;
use ggufembed_runtime::tokenizer::Tokenizer;
use proptest::prelude::*;

const VOCAB_GGUF: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/tiny-embeddinggemma-vocab.gguf"
);
const EOS: u32 = 1;
const BOS: u32 = 2;

/// The tokenizer and its pieces.
fn gemma() -> &'static (Tokenizer, Vec<String>) {
    static TOKENIZER: OnceLock<(Tokenizer, Vec<String>)> = OnceLock::new();
    TOKENIZER.get_or_init(|| {
        let file = GgufFile::open(VOCAB_GGUF).expect("open the vocab-only GGUF");
        let tokenizer = Tokenizer::from_gguf(&file).expect("build the tokenizer");
        let pieces = file
            .get_array::<String>("tokenizer.ggml.tokens")
            .expect("pieces")
            .to_vec();
        (tokenizer, pieces)
    })
}

/// The text of `ids` (without framing): byte pieces as their byte, `▁` as a space, any other
/// piece (literal tokens included) as itself.
fn decode(pieces: &[String], ids: &[u32]) -> Vec<u8> {
    let mut out = Vec::new();
    for &id in ids {
        let piece = &pieces[id as usize];
        let byte = piece
            .strip_prefix("<0x")
            .and_then(|p| p.strip_suffix('>'))
            .filter(|hex| hex.len() == 2)
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match byte {
            Some(b) => out.push(b),
            None => out.extend_from_slice(piece.replace('\u{2581}', " ").as_bytes()),
        }
    }
    out
}

/// Characters that exercise byte fallback, literal-token matching and merges.
fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        Just('\0'),
        Just('\u{7}'),
        Just('\t'),
        Just('\n'),
        Just('\r'),
        Just('\u{a0}'),
        Just('\u{200b}'),
        Just('\u{200d}'),
        Just('\u{2581}'),
        Just('\u{3000}'),
        Just('\u{feff}'),
        Just('\u{fffd}'),
        Just('\u{301}'),
        Just('é'),
        Just('東'),
        Just('한'),
        Just('न'),
        Just('😀'),
        Just('👩'),
        Just('<'),
        Just('>'),
        Just(' '),
        Just('a'),
        Just('e'),
        Just('t'),
        proptest::char::range('\u{0}', '\u{7f}'),
        any::<char>(),
    ]
}

fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(any::<char>(), 0..64).prop_map(|c| c.into_iter().collect()),
        prop::collection::vec(tricky_char(), 0..96).prop_map(|c| c.into_iter().collect()),
        prop::collection::vec(
            prop_oneof![
                Just("<bos>".to_owned()),
                Just("<eos>".to_owned()),
                Just("<pad>".to_owned()),
                Just("<unk>".to_owned()),
                Just("<mask>".to_owned()),
                Just("[PAD1000]".to_owned()),
                Just("<0x41>".to_owned()),
                Just("\u{2581}".to_owned()),
                "[a-z]{1,12}",
                "[ \\t\\n]{1,4}",
                tricky_char().prop_map(String::from),
            ],
            0..24
        )
        .prop_map(|parts| parts.concat()),
        (1usize..400, tricky_char()).prop_map(|(n, c)| c.to_string().repeat(n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_string_encodes_to_bos_ids_eos_losslessly(text in tricky_string()) {
        let (t, pieces) = gemma();
        let ids = t.encode(&text).expect("encoding never fails");
        prop_assert!(ids.len() >= 2);
        prop_assert_eq!(ids[0], BOS);
        prop_assert_eq!(*ids.last().unwrap(), EOS);
        prop_assert!(ids.iter().all(|&id| (id as usize) < t.vocab_size()));
        // No normalization beyond spaces: the pieces spell the text back exactly.
        let decoded = decode(pieces, &ids[1..ids.len() - 1]);
        let expected = text.replace('\u{2581}', " ");
        prop_assert_eq!(String::from_utf8_lossy(&decoded), expected);
    }

    #[test]
    fn truncation_is_a_prefix_with_eos_last(text in tricky_string(), max_len in 2usize..40) {
        let (t, _) = gemma();
        let full = t.encode(&text).unwrap();
        let (ids, truncated) = t.encode_truncated(&text, max_len).unwrap();
        prop_assert_eq!(truncated, full.len() > max_len);
        prop_assert!(ids.len() <= max_len);
        prop_assert_eq!(ids[0], BOS);
        prop_assert_eq!(*ids.last().unwrap(), EOS);
        if truncated {
            prop_assert_eq!(ids.len(), max_len);
            prop_assert_eq!(&ids[..max_len - 1], &full[..max_len - 1]);
        } else {
            prop_assert_eq!(ids, full);
        }
    }
}
