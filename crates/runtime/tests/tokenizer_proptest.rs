//! Property tests: the tokenizer accepts any string without panicking, and its output always
//! has the documented shape.

use std::sync::OnceLock;

use ggufembed_runtime::gguf_loader::GgufFile;
use ggufembed_runtime::tokenizer::Tokenizer;
use proptest::prelude::*;

const VOCAB_GGUF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/minilm-vocab.gguf");
const CLS: u32 = 101;
const SEP: u32 = 102;

fn tokenizer() -> &'static Tokenizer {
    static TOKENIZER: OnceLock<Tokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| {
        let file = GgufFile::open(VOCAB_GGUF).expect("open the vocab-only GGUF");
        Tokenizer::from_gguf(&file).expect("build the tokenizer")
    })
}

/// Characters that exercise the normalizer and pre-tokenizer: controls, odd whitespace,
/// combining marks, CJK, Hangul, Devanagari, emoji and ZWJ, case-changing letters whose
/// lowercase has another length (İ, ẞ), ligatures, literal special-token fragments.
fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        Just('\0'),
        Just('\u{7}'),
        Just('\u{1b}'),
        Just('\t'),
        Just('\n'),
        Just('\r'),
        Just('\u{85}'),
        Just('\u{a0}'),
        Just('\u{ad}'),
        Just('\u{200b}'),
        Just('\u{200d}'),
        Just('\u{2028}'),
        Just('\u{3000}'),
        Just('\u{feff}'),
        Just('\u{fffd}'),
        Just('\u{301}'),
        Just('\u{308}'),
        Just('\u{94d}'),
        Just('İ'),
        Just('ẞ'),
        Just('ﬁ'),
        Just('Σ'),
        Just('é'),
        Just('東'),
        Just('한'),
        Just('न'),
        Just('😀'),
        Just('👩'),
        Just('['),
        Just(']'),
        Just('#'),
        Just(' '),
        Just('a'),
        Just('Z'),
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
                Just("[CLS]".to_owned()),
                Just("[SEP]".to_owned()),
                Just("[MASK]".to_owned()),
                Just("[PAD]".to_owned()),
                Just("[UNK]".to_owned()),
                Just("##".to_owned()),
                Just("\u{2581}".to_owned()),
                "[a-z]{1,12}",
                "[ \\t\\n]{1,3}",
                tricky_char().prop_map(String::from),
            ],
            0..24
        )
        .prop_map(|parts| parts.concat()),
        // Long words around the 100-character limit.
        (95usize..106, tricky_char()).prop_map(|(n, c)| c.to_string().repeat(n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_string_encodes_to_cls_ids_sep(text in tricky_string()) {
        let t = tokenizer();
        let ids = t.encode(&text).expect("encoding never fails");
        prop_assert!(ids.len() >= 2);
        prop_assert_eq!(ids[0], CLS);
        prop_assert_eq!(*ids.last().unwrap(), SEP);
        prop_assert!(ids.iter().all(|&id| (id as usize) < t.vocab_size()));
    }

    #[test]
    fn truncation_is_a_prefix_with_sep_last(text in tricky_string(), max_len in 2usize..40) {
        let t = tokenizer();
        let full = t.encode(&text).unwrap();
        let (ids, truncated) = t.encode_truncated(&text, max_len).unwrap();
        prop_assert_eq!(truncated, full.len() > max_len);
        prop_assert!(ids.len() <= max_len);
        prop_assert_eq!(ids[0], CLS);
        prop_assert_eq!(*ids.last().unwrap(), SEP);
        if truncated {
            prop_assert_eq!(ids.len(), max_len);
            prop_assert_eq!(&ids[..max_len - 1], &full[..max_len - 1]);
        } else {
            prop_assert_eq!(ids, full);
        }
    }
}
