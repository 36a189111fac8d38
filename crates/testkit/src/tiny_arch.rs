//! Tiny valid models of every registered architecture (a few KB each), for the fuzz targets'
//! seeds (`fuzz/seeds/open_model/`, `fuzz/models/`): width 32, one or two layers, 16
//! positions, hand-written vocabularies of 20–40 pieces in each tokenizer family's format, so
//! that a fuzzer's mutations land in metadata and shapes rather than in tensor data.
//!
//! The rotary architectures come from [`bench_model::build`] (llama.cpp's tensor names and
//! metadata keys) at tiny [`Shape`]s; the BERT embedder and the BERT reranker from
//! [`TinyBert`]. Every file is the same bytes on every run (`examples/write_fuzz_seeds.rs`
//! writes them; `tests/tiny_arch.rs` checks the committed copies and that each opens and
//! embeds or scores).

use gguf_loader::{Array, GgmlType, GgufFile, GgufWriter, Value};

use crate::bench_model::{self, Arch, Shape};
use crate::{Classifier, TinyBert};

/// One tiny model: its file name, the `general.architecture` it names, whether it is a
/// reranker (scores pairs instead of embedding), and the file's bytes.
#[derive(Clone, Debug)]
pub struct TinyModel {
    /// File name, e.g. `tiny-qwen3.gguf`.
    pub file_name: &'static str,
    /// `general.architecture`.
    pub arch: &'static str,
    /// A cross-encoder with a one-label head (`Model::score_pairs`, not `embed`).
    pub reranker: bool,
    /// The GGUF file.
    pub bytes: Vec<u8>,
}

/// The tiny BERTs' shape: width 32, one layer of 2 heads, FFN 32, 16 positions.
pub fn tiny_bert(matrix_type: GgmlType) -> TinyBert {
    TinyBert {
        n_embd: 32,
        n_layer: 1,
        n_head: 2,
        n_ff: 32,
        n_ctx: 16,
        matrix_type,
        ..TinyBert::default()
    }
}

/// A rotary shape at the tiny size: width 32, heads of 16, FFN 32, 16 positions.
fn shape(arch: Arch, n_layer: usize, n_head_kv: usize, sliding_window: usize) -> Shape {
    Shape {
        arch,
        n_embd: 32,
        n_layer,
        n_head: 2,
        n_head_kv,
        head_dim: 16,
        n_ff: 32,
        n_ctx: 16,
        sliding_window,
        // Gemma's dense_2 / dense_3 (32 → 64 → 32); ignored by the others.
        dense: (64, 32),
    }
}

/// Every tiny model, in a fixed order: BERT (Q8_0), the BERT reranker, then
/// gemma-embedding, qwen3, nomic-bert, modern-bert.
pub fn tiny_models() -> Vec<TinyModel> {
    let rerank = TinyBert {
        classifier: Some(Classifier {
            pooler: true,
            n_labels: 1,
        }),
        ..tiny_bert(GgmlType::Q8_0)
    };
    let rotary = |file_name, shape: Shape, vocab: GgufFile| TinyModel {
        file_name,
        arch: shape.arch.name(),
        reranker: false,
        bytes: bench_model::build(&shape, &vocab, 1)
            .expect("the tiny shapes are valid")
            .to_bytes(),
    };
    vec![
        TinyModel {
            file_name: "tiny-bert-q8_0.gguf",
            arch: "bert",
            reranker: false,
            bytes: tiny_bert(GgmlType::Q8_0).to_bytes(),
        },
        TinyModel {
            file_name: "tiny-bert-reranker.gguf",
            arch: "bert",
            reranker: true,
            bytes: rerank.to_bytes(),
        },
        // Two layers would both be sliding (every 6th is global): one is enough.
        rotary(
            "tiny-gemma-embedding.gguf",
            shape(Arch::Gemma, 1, 1, 4),
            sentencepiece_vocab(),
        ),
        rotary(
            "tiny-qwen3.gguf",
            shape(Arch::Qwen3, 1, 1, 0),
            qwen3_vocab(),
        ),
        rotary(
            "tiny-nomic-bert.gguf",
            shape(Arch::NomicBert, 1, 2, 0),
            wordpiece_vocab(),
        ),
        // Layer 0 global (no attn_norm), layer 1 local: both kinds of ModernBERT layer.
        rotary(
            "tiny-modern-bert.gguf",
            shape(Arch::ModernBert, 2, 2, 4),
            modern_bert_vocab(),
        ),
    ]
}

/// A file of `keys` alone (what [`bench_model::build`] copies the `tokenizer.*` keys from).
fn vocab_file(keys: Vec<(&str, Value)>) -> GgufFile {
    let mut w = GgufWriter::new();
    for (k, v) in keys {
        w.add_metadata(k, v).expect("distinct keys");
    }
    GgufFile::from_bytes(&w.to_bytes()).expect("a metadata-only file parses")
}

fn strings(pieces: &[&str]) -> Value {
    Value::Array(Array::String(
        pieces.iter().map(|s| s.to_string()).collect(),
    ))
}

/// The tiny BERT's WordPiece vocabulary (36 pieces), for nomic-bert (a BERT tokenizer).
pub fn wordpiece_vocab() -> GgufFile {
    GgufFile::from_bytes(&tiny_bert(GgmlType::F32).to_bytes()).expect("the tiny BERT parses")
}

/// A SentencePiece vocabulary in EmbeddingGemma's layout (`llama`, `<pad> <eos> <bos> <unk>`,
/// byte pieces for `é`, `—` and a newline, `▁`-words ranked by score), `<bos> … <eos>`.
pub fn sentencepiece_vocab() -> GgufFile {
    let control = ["<pad>", "<eos>", "<bos>", "<unk>"];
    let bytes = ["<0x0A>", "<0x80>", "<0x94>", "<0xA9>", "<0xC3>", "<0xE2>"];
    // Merge results after their parts; scores fall with the index (better merges first).
    let normal = [
        "▁", "t", "h", "e", "c", "a", "s", "o", "n", "d", "g", "▁t", "he", "at", "▁c", "▁the",
        "▁cat", "▁s", "▁sat", "on", "▁on", "▁d", "og", "▁dog",
    ];
    let pieces: Vec<&str> = control
        .iter()
        .chain(&bytes)
        .chain(&normal)
        .copied()
        .collect();
    let mut types = vec![3, 3, 3, 2];
    types.extend([6; 6]);
    types.extend([1; 24]);
    let mut scores = vec![0.0; control.len() + bytes.len()];
    scores.extend((0..normal.len()).map(|i| -(i as f32)));
    vocab_file(vec![
        ("general.architecture", Value::from("gemma-embedding")),
        ("tokenizer.ggml.model", Value::from("llama")),
        ("tokenizer.ggml.pre", Value::from("default")),
        ("tokenizer.ggml.tokens", strings(&pieces)),
        ("tokenizer.ggml.scores", Value::Array(Array::F32(scores))),
        ("tokenizer.ggml.token_type", Value::Array(Array::I32(types))),
        ("tokenizer.ggml.bos_token_id", Value::U32(2)),
        ("tokenizer.ggml.eos_token_id", Value::U32(1)),
        ("tokenizer.ggml.unknown_token_id", Value::U32(3)),
        ("tokenizer.ggml.padding_token_id", Value::U32(0)),
        ("tokenizer.ggml.add_bos_token", Value::Bool(true)),
        ("tokenizer.ggml.add_eos_token", Value::Bool(true)),
        ("tokenizer.ggml.add_space_prefix", Value::Bool(false)),
    ])
}

/// Byte-level BPE pieces (GPT-2's alphabet: `Ġ` is a space) and their ranked merges.
const BPE_PIECES: &[&str] = &[
    "!", ",", ".", "?", "a", "c", "d", "e", "g", "h", "n", "o", "s", "t", "Ġ", "Ċ", "Ã", "©", "Ġt",
    "he", "Ġthe", "at", "Ġc", "Ġcat", "Ġs", "Ġsat", "on", "Ġon", "Ġd", "og", "Ġdog",
];
const BPE_MERGES: &[&str] = &[
    "Ġ t", "h e", "Ġt he", "a t", "Ġ c", "Ġc at", "Ġ s", "Ġs at", "o n", "Ġ on", "Ġ d", "o g",
    "Ġd og",
];

/// The byte-level BPE keys shared by Qwen3 and ModernBERT, with `specials` (control tokens)
/// appended after the pieces.
fn bpe_vocab(arch: &str, pre: &str, specials: &[&str], mut keys: Vec<(&str, Value)>) -> GgufFile {
    let pieces: Vec<&str> = BPE_PIECES.iter().chain(specials).copied().collect();
    let mut types = vec![1; BPE_PIECES.len()];
    types.extend(vec![3; specials.len()]);
    let mut all = vec![
        ("general.architecture", Value::from(arch)),
        ("tokenizer.ggml.model", Value::from("gpt2")),
        ("tokenizer.ggml.pre", Value::from(pre)),
        ("tokenizer.ggml.tokens", strings(&pieces)),
        ("tokenizer.ggml.token_type", Value::Array(Array::I32(types))),
        ("tokenizer.ggml.merges", strings(BPE_MERGES)),
    ];
    all.append(&mut keys);
    vocab_file(all)
}

/// Qwen3-Embedding's layout: `qwen2` pre-tokenizer, no bos, `<|endoftext|>` appended.
pub fn qwen3_vocab() -> GgufFile {
    let eos = BPE_PIECES.len() as u32;
    bpe_vocab(
        "qwen3",
        "qwen2",
        &["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        vec![
            ("tokenizer.ggml.eos_token_id", Value::U32(eos)),
            ("tokenizer.ggml.padding_token_id", Value::U32(eos)),
            ("tokenizer.ggml.eot_token_id", Value::U32(eos + 2)),
            ("tokenizer.ggml.add_eos_token", Value::Bool(true)),
        ],
    )
}

/// ModernBERT's layout: `modern-bert` pre-tokenizer, `[CLS] … [SEP]`, `[MASK]` taking the
/// space before it.
pub fn modern_bert_vocab() -> GgufFile {
    let n = BPE_PIECES.len() as u32;
    bpe_vocab(
        "modern-bert",
        "modern-bert",
        &["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"],
        vec![
            ("tokenizer.ggml.add_bos_token", Value::Bool(true)),
            ("tokenizer.ggml.add_eos_token", Value::Bool(true)),
            ("tokenizer.ggml.unknown_token_id", Value::U32(n)),
            ("tokenizer.ggml.bos_token_id", Value::U32(n + 1)),
            ("tokenizer.ggml.eos_token_id", Value::U32(n + 2)),
            ("tokenizer.ggml.seperator_token_id", Value::U32(n + 2)),
            ("tokenizer.ggml.padding_token_id", Value::U32(n + 3)),
            ("tokenizer.ggml.mask_token_id", Value::U32(n + 4)),
        ],
    )
}
