//! Byte-level BPE (`tokenizer.ggml.model = "gpt2"`) tokenizer construction errors on the tiny
//! Qwen3-Embedding and ModernBERT vocabularies: every missing, ill-typed or inconsistent key
//! is refused naming it (the tokenizer's behaviour: `tests/tokenizer_bpe.rs`).

use std::time::Instant;

mod common;

use common::{
    assert_metadata_error, assert_missing_key, assert_wrong_type, build, merges_mut, metadata_of,
    set, tokens_mut, with, without,
};
use ggufembed_runtime::gguf_loader::{Array, Value};
use ggufembed_runtime::tokenizer::Tokenizer;

const QWEN: &str = "tiny-qwen3-embedding";
const MODERNBERT: &str = "tiny-modernbert";

/// Qwen3's `<|endoftext|>`, appended to every input.
const ENDOFTEXT: u32 = 1200;
const QWEN_VOCAB: usize = 1203;

const CLS: u32 = 1201;
const SEP: u32 = 1202;
const MASK: u32 = 1204;
const MODERNBERT_VOCAB: usize = 1205;

fn base(name: &str) -> Vec<(String, Value)> {
    metadata_of(&common::data(&format!("{name}-vocab.gguf")))
}

// ---- errors ---------------------------------------------------------------------------------

#[test]
fn unknown_or_absent_pre_is_refused_naming_it() {
    for pre in ["deepseek-llm", "qwen", ""] {
        let err = build(with(base(QWEN), "tokenizer.ggml.pre", pre.into())).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&format!("'{pre}'")), "{msg}");
        assert!(
            msg.contains("tokenizer.ggml.pre") && msg.contains("qwen2"),
            "{msg}"
        );
    }
    assert_metadata_error(
        build(without(base(QWEN), "tokenizer.ggml.pre")),
        "tokenizer.ggml.pre",
        "not found",
    );
    assert_wrong_type(
        build(with(base(QWEN), "tokenizer.ggml.pre", Value::U32(2))),
        "tokenizer.ggml.pre",
    );
}

#[test]
fn bad_merges_are_refused_naming_them() {
    assert_missing_key(
        build(without(base(QWEN), "tokenizer.ggml.merges")),
        "tokenizer.ggml.merges",
    );
    assert_wrong_type(
        build(with(
            base(QWEN),
            "tokenizer.ggml.merges",
            Array::I32(vec![1]).into(),
        )),
        "tokenizer.ggml.merges",
    );
    for (merge, needle) in [
        ("Ġt", "merge 3 \"Ġt\": not two pieces"),
        ("Ġ t h", "merge 3 \"Ġ t h\": not two pieces"),
        (" t", "not two pieces"),
        ("Ġ zzz", "\"zzz\" is not in the vocabulary"),
        ("h Ġ", "the merged piece \"hĠ\" is not in the vocabulary"),
    ] {
        let mut md = base(QWEN);
        merges_mut(&mut md)[3] = merge.to_owned();
        assert_metadata_error(build(md), "tokenizer.ggml.merges", needle);
    }
    // A long bad merge is quoted in part.
    let mut md = base(QWEN);
    merges_mut(&mut md)[0] = "x".repeat(10_000);
    let err = build(md).unwrap_err().to_string();
    assert!(err.len() < 300 && err.contains('…'), "{err}");
}

#[test]
fn special_id_rules() {
    // add_eos_token without an eos id.
    let md = without(base(QWEN), "tokenizer.ggml.eos_token_id");
    assert_metadata_error(
        build(md.clone()),
        "tokenizer.ggml.eos_token_id",
        "add_eos_token",
    );
    // Fine without it when nothing is appended.
    let t = build(with(md, "tokenizer.ggml.add_eos_token", false.into())).unwrap();
    assert_eq!(t.encode("").unwrap(), Vec::<u32>::new());
    assert_eq!(t.encode_truncated("abc", 1).unwrap().0.len(), 1);
    assert!(t.encode_truncated("abc", 0).is_err());
    // ModernBERT without bos_token_id falls back to... nothing: add_bos_token is true.
    let md = without(base(MODERNBERT), "tokenizer.ggml.bos_token_id");
    assert_metadata_error(
        build(md.clone()),
        "tokenizer.ggml.bos_token_id",
        "not found",
    );
    // cls_token_id stands in for bos, seperator_token_id for eos.
    let md = with(md, "tokenizer.ggml.cls_token_id", Value::U32(CLS));
    let md = without(md, "tokenizer.ggml.eos_token_id");
    assert_eq!(build(md).unwrap().encode("").unwrap(), [CLS, SEP]);
    for key in [
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.unknown_token_id",
        "tokenizer.ggml.padding_token_id",
        "tokenizer.ggml.mask_token_id",
    ] {
        assert_metadata_error(
            build(with(
                base(MODERNBERT),
                key,
                Value::U32(MODERNBERT_VOCAB as u32),
            )),
            key,
            "outside the vocabulary",
        );
    }
    for key in [
        "tokenizer.ggml.add_bos_token",
        "tokenizer.ggml.add_eos_token",
    ] {
        assert_wrong_type(build(with(base(MODERNBERT), key, Value::U32(1))), key);
    }
}

#[test]
fn vocabulary_problems_are_refused() {
    let mut md = base(QWEN);
    tokens_mut(&mut md)[1000] = "Ġt".to_owned();
    assert_metadata_error(build(md), "tokenizer.ggml.tokens", "are the same piece");
    let mut md = base(QWEN);
    set(
        &mut md,
        "tokenizer.ggml.token_type",
        Array::I32(vec![1; 7]).into(),
    );
    assert_metadata_error(build(md), "tokenizer.ggml.token_type", "7 entries for 1203");
    let md = with(
        base(QWEN),
        "tokenizer.ggml.tokens",
        Array::String(vec![]).into(),
    );
    assert_metadata_error(build(md), "tokenizer.ggml.tokens", "empty");
}

/// Without token types, the pieces at the special ids are the literal tokens; a vocabulary
/// without some byte pieces drops those bytes rather than failing.
#[test]
fn odd_but_valid_vocabularies_never_panic() {
    let t = build(without(base(MODERNBERT), "tokenizer.ggml.token_type")).unwrap();
    assert_eq!(t.encode("[MASK][SEP]").unwrap(), [CLS, MASK, SEP, SEP]);
    let mut md = base(QWEN);
    // "ð" is byte 0xF0, the first byte of every emoji; drop it and the merges using it.
    let tokens = tokens_mut(&mut md);
    let at = tokens.iter().position(|t| t == "ð").unwrap();
    tokens[at] = "<not a byte>".to_owned();
    merges_mut(&mut md).retain(|m| !m.contains('ð'));
    let t = build(md).unwrap();
    for text in ["😀", "a😀b", "", "\u{0}"] {
        let ids = t.encode(text).unwrap();
        assert_eq!(*ids.last().unwrap(), ENDOFTEXT);
        assert!(ids.iter().all(|&id| (id as usize) < QWEN_VOCAB));
    }
}

/// A synthetic byte-level vocabulary of `n` pieces in the shape of a real one: the tiny Qwen
/// vocabulary's 256 byte pieces, then pieces made by appending a byte piece to an earlier piece
/// (each with its merge), then `<|endoftext|>`.
fn synthetic_metadata(n: usize) -> Vec<(String, Value)> {
    let mut md = base(QWEN);
    let alphabet: Vec<String> = tokens_mut(&mut md)[..256].to_vec();
    let mut tokens = alphabet.clone();
    let mut merges = Vec::with_capacity(n);
    let mut seen: std::collections::HashSet<String> = tokens.iter().cloned().collect();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        // xorshift64*: deterministic, no dependency.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d) as usize
    };
    while tokens.len() < n - 1 {
        let left = tokens[next() % tokens.len()].clone();
        let right = &alphabet[next() % 64];
        let piece = format!("{left}{right}");
        if piece.chars().count() <= 16 && seen.insert(piece.clone()) {
            merges.push(format!("{left} {right}"));
            tokens.push(piece);
        }
    }
    tokens.push("<|endoftext|>".to_owned());
    let mut types = vec![1; n];
    types[n - 1] = 3;
    set(
        &mut md,
        "tokenizer.ggml.tokens",
        Array::String(tokens).into(),
    );
    set(
        &mut md,
        "tokenizer.ggml.merges",
        Array::String(merges).into(),
    );
    set(
        &mut md,
        "tokenizer.ggml.token_type",
        Array::I32(types).into(),
    );
    set(
        &mut md,
        "tokenizer.ggml.eos_token_id",
        Value::U32(n as u32 - 1),
    );
    set(
        &mut md,
        "tokenizer.ggml.padding_token_id",
        Value::U32(n as u32 - 1),
    );
    md.retain(|(k, _)| k != "tokenizer.ggml.eot_token_id");
    md
}

/// Build time up to Qwen3's vocabulary size (151,669 pieces, 151,387 merges): reported, and
/// bounded far below what quadratic work would take.
#[test]
fn build_time_scales_with_the_vocabulary() {
    for n in [16_384, 151_669] {
        let file = common::file_of(synthetic_metadata(n));
        let start = Instant::now();
        let t = Tokenizer::from_gguf(&file).unwrap();
        let elapsed = start.elapsed();
        assert_eq!(t.vocab_size(), n);
        let ids = t.encode("Hello, world! 😀 <|endoftext|>").unwrap();
        assert_eq!(ids[ids.len() - 2..], [n as u32 - 1, n as u32 - 1]);
        eprintln!(
            "synthetic byte-level vocabulary of {n} pieces: built in {elapsed:?} ({:.2} µs/piece)",
            elapsed.as_secs_f64() * 1e6 / n as f64
        );
        assert!(
            elapsed.as_secs() < 30,
            "building {n} pieces took {elapsed:?}"
        );
    }
}
