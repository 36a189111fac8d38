//! The WordPiece tokenizer on the two tiny BERT-family fixtures with a cut vocabulary (3,176
//! of MiniLM's entries, renumbered): `tiny-nomic-bert` (padded to 3,200 with llama.cpp's
//! `[PAD{i}]` pieces) and `tiny-reranker`. Hugging Face parity on single texts.
//!
//! Runs from the committed `tests/data/tiny-nomic-bert-*` (made by `extract_vocab`, see
//! `tokenizer_bpe.rs`); the reranker is checked from `../shared` when present.

mod common;

use common::Line;
use ggufembed_runtime::gguf_loader::GgufFile;
use ggufembed_runtime::tokenizer::Tokenizer;

const CLS: u32 = 2;
const SEP: u32 = 3;

#[test]
fn nomic_fixture_ids_match_hugging_face() {
    let t = common::tokenizer(&common::data("tiny-nomic-bert-vocab.gguf"));
    assert_eq!((t.vocab_size(), t.model()), (3200, "bert"));
    let lines = common::fixture("tiny-nomic-bert-dev-ids.jsonl");
    common::assert_fixture_parity(&t, &lines, "tiny-nomic-bert vocab-only");
}

/// llama.cpp's padding pieces `[PAD3176]` … are not control tokens: written in a text they are
/// ordinary text, and no text produces their ids.
#[test]
fn nomic_padding_pieces_are_never_produced() {
    let t = common::tokenizer(&common::data("tiny-nomic-bert-vocab.gguf"));
    let ids = t.encode("[PAD3176] [PAD3199]").unwrap();
    assert!(ids.iter().all(|&id| id < 3176), "{ids:?}");
    assert_eq!(t.encode("[PAD]").unwrap(), [CLS, 0, SEP]);
}

#[test]
fn shared_nomic_models_match_hugging_face() {
    let Some(reference) = common::shared("fixtures/tiny-nomic-bert-dev-reference.jsonl") else {
        return;
    };
    let lines: Vec<Line> = std::fs::read_to_string(reference)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for quant in ["f32", "q8_0"] {
        let Some(path) = common::shared(&format!("models/tiny-nomic-bert.{quant}.gguf")) else {
            continue;
        };
        let t = common::tokenizer(&path);
        common::assert_fixture_parity(&t, &lines, &path.display().to_string());
    }
}

/// A reranker pair as Hugging Face encoded it: `[CLS] query [SEP] document [SEP]`.
#[derive(serde::Deserialize)]
struct Pair {
    query: String,
    document: String,
    ids: Vec<u32>,
    truncated: bool,
}

/// The reranker's single texts: each untruncated pair's ids are `[CLS] q [SEP] d [SEP]`, so
/// Hugging Face's ids of the query and of the document alone are slices of them.
#[test]
fn shared_reranker_single_texts_match_hugging_face() {
    let Some(pairs) = common::shared("fixtures/tiny-reranker-dev-pairs.jsonl") else {
        return;
    };
    let pairs: Vec<Pair> = std::fs::read_to_string(pairs)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for quant in ["f32", "q8_0"] {
        let Some(path) = common::shared(&format!("models/tiny-reranker.{quant}.gguf")) else {
            continue;
        };
        let file = GgufFile::open(&path).unwrap();
        let t = Tokenizer::from_gguf(&file).unwrap();
        assert_eq!((t.vocab_size(), t.model()), (3176, "bert"));
        let mut checked = 0;
        for pair in pairs.iter().filter(|p| !p.truncated) {
            let q = t.encode(&pair.query).unwrap();
            let d = t.encode(&pair.document).unwrap();
            let mut joined = q.clone();
            joined.extend_from_slice(&d[1..]);
            assert_eq!(
                joined,
                pair.ids,
                "{}: query {:?}, document {:?}",
                path.display(),
                pair.query,
                pair.document
            );
            checked += 1;
        }
        assert!(checked >= 140, "{checked} untruncated pairs");
        eprintln!("{}: {checked} pairs' texts match", path.display());
    }
}
