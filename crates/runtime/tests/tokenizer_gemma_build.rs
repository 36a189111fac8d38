//! Building the SentencePiece tokenizer: its time on the tiny EmbeddingGemma vocabulary
//! (reported) and on synthetic vocabularies up to EmbeddingGemma's 262,144 pieces (reported,
//! and bounded far below quadratic work). The tokenizer's behaviour: `tests/tokenizer_gemma.rs`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

mod common;

use common::{file_of, thread_cpu_ns};
use ggufembed_runtime::gguf_loader::{Array, GgufFile, Value};
use ggufembed_runtime::tokenizer::Tokenizer;

const N_VOCAB: usize = 1001;
const EOS: u32 = 1;
const BOS: u32 = 2;
const UNK: u32 = 3;

fn vocab_gguf() -> PathBuf {
    common::data("tiny-embeddinggemma-vocab.gguf")
}

/// Best wall time and mean CPU time (ms) of building a tokenizer from `file`.
fn time_build(file: &GgufFile, reps: u32) -> (Duration, Option<f64>) {
    let mut best = Duration::MAX;
    let cpu_start = thread_cpu_ns();
    for _ in 0..reps {
        let start = Instant::now();
        let tokenizer = Tokenizer::from_gguf(file).unwrap();
        best = best.min(start.elapsed());
        std::hint::black_box(&tokenizer);
    }
    let cpu = cpu_start
        .zip(thread_cpu_ns())
        .map(|(a, b)| (b - a) as f64 / 1e6 / f64::from(reps));
    (best, cpu)
}

#[test]
fn build_time_is_reported() {
    let file = GgufFile::open(vocab_gguf()).unwrap();
    let (best, cpu) = time_build(&file, 20);
    eprintln!(
        "tokenizer build ({N_VOCAB} pieces, this profile): best wall {best:?}, mean CPU {} ms",
        cpu.map_or("n/a".to_owned(), |ms| format!("{ms:.2}"))
    );
    assert!(best.as_millis() < 1000, "building took {best:?}");
}

/// A synthetic SentencePiece vocabulary of `n` pieces with the shape of a real one: the
/// special and byte pieces, then pieces built by concatenating two earlier pieces (so that
/// every piece has one or more merges), each a little less likely than the previous.
fn synthetic_metadata(n: usize) -> Vec<(String, Value)> {
    let mut tokens: Vec<String> = ["<pad>", "<eos>", "<bos>", "<unk>"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    tokens.extend((0..=255u8).map(|b| format!("<0x{b:02X}>")));
    let alphabet: Vec<char> = "▁abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        .chars()
        .collect();
    tokens.extend(alphabet.iter().map(|c| c.to_string()));
    let first_text = 260;
    let mut seen: std::collections::HashSet<String> = tokens.iter().cloned().collect();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        // xorshift64*: deterministic, no dependency.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    while tokens.len() < n {
        let len = tokens.len() - first_text;
        // Prefer recent (longer) pieces on the left, short ones on the right.
        let l = first_text + (next() as usize % len);
        let r = first_text + (next() as usize % alphabet.len().min(len));
        let piece = format!("{}{}", tokens[l], tokens[r]);
        if piece.chars().count() <= 16 && seen.insert(piece.clone()) {
            tokens.push(piece);
        }
    }
    let scores: Vec<f32> = (0..n)
        .map(|i| if i < first_text { 0.0 } else { -(i as f32) })
        .collect();
    let types: Vec<i32> = (0..n)
        .map(|i| match i {
            0..=2 => 3,
            3 => 2,
            4..=259 => 6,
            _ => 1,
        })
        .collect();
    vec![
        ("tokenizer.ggml.model".to_owned(), "llama".into()),
        (
            "tokenizer.ggml.tokens".to_owned(),
            Array::String(tokens).into(),
        ),
        (
            "tokenizer.ggml.scores".to_owned(),
            Array::F32(scores).into(),
        ),
        (
            "tokenizer.ggml.token_type".to_owned(),
            Array::I32(types).into(),
        ),
        ("tokenizer.ggml.bos_token_id".to_owned(), Value::U32(BOS)),
        ("tokenizer.ggml.eos_token_id".to_owned(), Value::U32(EOS)),
        (
            "tokenizer.ggml.unknown_token_id".to_owned(),
            Value::U32(UNK),
        ),
        ("tokenizer.ggml.add_bos_token".to_owned(), true.into()),
        ("tokenizer.ggml.add_eos_token".to_owned(), true.into()),
        ("tokenizer.ggml.add_space_prefix".to_owned(), false.into()),
    ]
}

/// Build time against vocabulary size, up to EmbeddingGemma's 262,144 pieces: reported (per
/// piece, to show the growth), and bounded far below what quadratic work would take (262,144²
/// pair checks would run for minutes).
#[test]
fn build_time_scales_with_the_vocabulary() {
    for n in [16_384, 65_536, 262_144] {
        let file = file_of(synthetic_metadata(n));
        let (best, cpu) = time_build(&file, 1);
        let t = Tokenizer::from_gguf(&file).unwrap();
        assert_eq!(t.vocab_size(), n);
        assert!(t.encode("abc\u{2581}xyz 😀").unwrap().len() > 2);
        eprintln!(
            "synthetic vocabulary of {n} pieces: build wall {best:?} ({:.2} µs/piece), CPU {} ms",
            best.as_secs_f64() * 1e6 / n as f64,
            cpu.map_or("n/a".to_owned(), |ms| format!("{ms:.1}"))
        );
        assert!(best.as_secs() < 30, "building {n} pieces took {best:?}");
    }
}
