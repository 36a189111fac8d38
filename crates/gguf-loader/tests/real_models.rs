//! The all-MiniLM-L6-v2 GGUFs written by llama.cpp's own converter (in `../shared/models`).
//! Skipped, loudly, where the shared folder is absent.

use std::path::PathBuf;

use gguf_loader::{GgmlType, GgufFile};

fn shared_model(name: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/models")
        .join(name);
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED: {} not found (the shared models are not present here)",
            path.display()
        );
        None
    }
}

fn check_minilm(name: &str, matrix_type: GgmlType) {
    let Some(path) = shared_model(name) else {
        return;
    };
    let file = GgufFile::open(&path).unwrap();
    assert_eq!(file.version(), 3);
    assert_eq!(file.alignment(), 32);
    assert_eq!(file.get_str("general.architecture").unwrap(), "bert");
    assert_eq!(file.get_uint("bert.block_count").unwrap(), 6);
    assert_eq!(file.get_uint("bert.embedding_length").unwrap(), 384);
    assert_eq!(file.get_uint("bert.attention.head_count").unwrap(), 12);
    assert_eq!(file.get_uint("bert.feed_forward_length").unwrap(), 1536);
    assert_eq!(file.get_uint("bert.context_length").unwrap(), 512);
    assert_eq!(file.get_uint("bert.pooling_type").unwrap(), 1);
    assert_eq!(file.get_str("tokenizer.ggml.model").unwrap(), "bert");
    let tokens = file.get_array::<String>("tokenizer.ggml.tokens").unwrap();
    assert_eq!(tokens.len(), 30522);
    assert_eq!(tokens[101], "[CLS]");
    assert_eq!(
        file.get_array::<i32>("tokenizer.ggml.token_type")
            .unwrap()
            .len(),
        30522
    );
    assert!(
        file.get_bool("tokenizer.ggml.normalizer.lowercase")
            .unwrap()
    );

    assert_eq!(file.tensors().len(), 101);
    let embd = file.require_tensor("token_embd.weight").unwrap();
    assert_eq!(embd.shape(), &[384, 30522]);
    assert_eq!(embd.ggml_type(), matrix_type);
    let pos = file.require_tensor("position_embd.weight").unwrap();
    assert_eq!(
        (pos.shape(), pos.ggml_type()),
        (&[384u64, 512][..], GgmlType::F32)
    );
    for layer in 0..6 {
        for (suffix, shape) in [
            ("attn_q.weight", [384u64, 384]),
            ("attn_k.weight", [384, 384]),
            ("attn_v.weight", [384, 384]),
            ("attn_output.weight", [384, 384]),
            ("ffn_up.weight", [384, 1536]),
            ("ffn_down.weight", [1536, 384]),
        ] {
            let t = file
                .require_tensor(&format!("blk.{layer}.{suffix}"))
                .unwrap();
            assert_eq!(t.shape(), &shape);
            assert_eq!(t.ggml_type(), matrix_type);
        }
        for suffix in [
            "attn_output_norm.weight",
            "layer_output_norm.bias",
            "ffn_up.bias",
        ] {
            let t = file
                .require_tensor(&format!("blk.{layer}.{suffix}"))
                .unwrap();
            assert_eq!(t.ggml_type(), GgmlType::F32);
        }
    }
    // Every tensor can be viewed zero-copy with its element type.
    let mut total = 0u64;
    for t in file.tensors() {
        let n = match t.ggml_type() {
            GgmlType::F32 => file.view_f32(t).unwrap().len(),
            GgmlType::F16 => file.view_f16(t).unwrap().len(),
            GgmlType::Q8_0 => file.view::<[u8; 34]>(t).unwrap().len() * 32,
            other => panic!("unexpected type {other}"),
        };
        assert_eq!(n as u64, t.n_elements());
        total += t.n_bytes();
    }
    assert!(total <= file.file_size() - file.data_offset());
    // LayerNorm weights of a trained model are not all zero: the view reads real data.
    let norm = file
        .view_f32(file.require_tensor("token_embd_norm.weight").unwrap())
        .unwrap();
    assert!(norm.iter().any(|&w| w != 0.0) && norm.iter().all(|w| w.is_finite()));
}

#[test]
fn minilm_f32() {
    check_minilm("all-MiniLM-L6-v2.f32.gguf", GgmlType::F32);
}

#[test]
fn minilm_f16() {
    check_minilm("all-MiniLM-L6-v2.f16.gguf", GgmlType::F16);
}

#[test]
fn minilm_q8_0() {
    check_minilm("all-MiniLM-L6-v2.q8_0.gguf", GgmlType::Q8_0);
}

#[test]
fn tiny_embeddinggemma_parses() {
    for name in [
        "tiny-embeddinggemma.f32.gguf",
        "tiny-embeddinggemma.q8_0.gguf",
    ] {
        let Some(path) = shared_model(name) else {
            return;
        };
        let file = GgufFile::open(&path).unwrap();
        assert_eq!(
            file.get_str("general.architecture").unwrap(),
            "gemma-embedding"
        );
        assert!(file.tensor("token_embd.weight").is_some());
    }
}
