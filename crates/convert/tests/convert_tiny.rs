//! The converter on tiny synthetic Hugging Face BERT directories: the GGUF it writes (keys,
//! order, tensor names, shapes, types, data) and input dtypes, through the library (its error
//! paths: `tests/convert_tiny_errors.rs`; the CLI's `convert`: `crates/cli/tests/cli_convert.rs`).

use std::path::Path;

use gguf_loader::{Array, GgmlType, GgufFile, Value};
use ggufembed_convert::quant::quantize_row_q8_0_ref;
use ggufembed_convert::{ConvertReport, OutType, Progress, convert_hf};
use half::{bf16, f16};
use safetensors::tensor::Dtype;

use ggufembed_testkit::hf::{DIMS, Dims, fixture_values, tiny_model};

fn convert(dir: &Path, out_type: OutType) -> (ConvertReport, GgufFile) {
    let out = dir.parent().unwrap().join(format!("out.{out_type}.gguf"));
    let mut events = Vec::new();
    let report = convert_hf(dir, &out, out_type, &mut |p| {
        events.push(match p {
            Progress::Start { total } => format!("start {total}"),
            Progress::Tensor { index, .. } => format!("tensor {index}"),
            Progress::Writing { .. } => "writing".to_string(),
            _ => "other".to_string(),
        })
    })
    .unwrap();
    assert_eq!(
        events.first().unwrap(),
        &format!("start {}", report.n_tensors)
    );
    assert_eq!(events.last().unwrap(), "writing");
    assert_eq!(events.len(), report.n_tensors + 2);
    let file = GgufFile::open(&out).unwrap();
    (report, file)
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn tiny_bert_q8_0_has_llama_cpp_keys_tensors_and_data() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tiny_model(tmp.path(), DIMS, Dtype::F32);
    let (report, file) = convert(&dir, OutType::Q8_0);
    // The tiny vocabulary's probe hash is not one llama.cpp knows: the only warning.
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(
        report.warnings[0].contains("probe hash"),
        "{:?}",
        report.warnings
    );
    assert_eq!(report.architecture, "BertModel");

    let keys: Vec<&str> = file.keys().collect();
    let expected = [
        "general.architecture",
        "general.type",
        "general.name",
        "general.organization",
        "general.size_label",
        "general.license",
        "general.dataset.count",
        "general.dataset.0.name",
        "general.dataset.0.organization",
        "general.dataset.0.repo_url",
        "general.dataset.1.name",
        "general.tags",
        "general.languages",
        "bert.block_count",
        "bert.context_length",
        "bert.embedding_length",
        "bert.feed_forward_length",
        "bert.attention.head_count",
        "bert.attention.layer_norm_epsilon",
        "general.file_type",
        "bert.attention.causal",
        "bert.pooling_type",
        "general.quantization_version",
        "tokenizer.ggml.token_type_count",
        "tokenizer.ggml.model",
        "tokenizer.ggml.pre",
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.token_type",
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.unknown_token_id",
        "tokenizer.ggml.seperator_token_id",
        "tokenizer.ggml.padding_token_id",
        "tokenizer.ggml.mask_token_id",
        "tokenizer.ggml.add_bos_token",
        "tokenizer.ggml.add_eos_token",
        "tokenizer.ggml.add_sep_token",
        "tokenizer.ggml.normalizer.lowercase",
    ];
    assert_eq!(keys, expected);
    assert_eq!(report.n_metadata, expected.len());

    assert_eq!(file.get_str("general.name").unwrap(), "Tiny Bert");
    assert_eq!(file.get_str("general.organization").unwrap(), "Test Org");
    assert_eq!(file.get_str("general.size_label").unwrap(), "70K");
    assert_eq!(report.n_params, 69_504);
    assert_eq!(file.get_str("general.dataset.0.name").unwrap(), "Some Data");
    assert_eq!(
        file.get_str("general.dataset.0.repo_url").unwrap(),
        "https://huggingface.co/some-org/some-data"
    );
    assert_eq!(
        file.get_array::<String>("general.tags").unwrap(),
        &[
            "sentence-transformers".to_string(),
            "sentence-similarity".to_string()
        ]
    );
    assert_eq!(file.get("bert.block_count"), Some(&Value::U32(2)));
    assert_eq!(file.get("bert.embedding_length"), Some(&Value::U32(64)));
    assert_eq!(
        file.get("bert.attention.layer_norm_epsilon"),
        Some(&Value::F32(1e-12))
    );
    assert_eq!(file.get("general.file_type"), Some(&Value::U32(7)));
    assert_eq!(file.get("bert.attention.causal"), Some(&Value::Bool(false)));
    assert_eq!(file.get("bert.pooling_type"), Some(&Value::U32(1)));
    assert_eq!(
        file.get("general.quantization_version"),
        Some(&Value::U32(2))
    );
    assert_eq!(file.get_str("tokenizer.ggml.pre").unwrap(), "jina-v2-en");
    let tokens = file.get_array::<String>("tokenizer.ggml.tokens").unwrap();
    assert_eq!(
        &tokens[..4],
        &["[PAD]", "\u{2581}[unused0]", "[UNK]", "[CLS]"]
    );
    assert_eq!(&tokens[8..10], &["\u{2581}cat", "s"]);
    assert_eq!(
        file.get_any_array("tokenizer.ggml.token_type").unwrap(),
        &Array::I32(vec![
            3, 1, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
        ])
    );
    for (key, id) in [
        ("bos", 3),
        ("eos", 4),
        ("unknown", 2),
        ("seperator", 4),
        ("padding", 0),
        ("mask", 5),
    ] {
        assert_eq!(
            file.get(&format!("tokenizer.ggml.{key}_token_id")),
            Some(&Value::U32(id)),
            "{key}"
        );
    }
    assert!(file.get_bool("tokenizer.ggml.add_bos_token").unwrap());
    assert!(file.get_bool("tokenizer.ggml.add_eos_token").unwrap());
    assert!(!file.get_bool("tokenizer.ggml.add_sep_token").unwrap());

    // Tensors: sorted by Hugging Face name (as llama.cpp reads them), pooler and position ids
    // dropped, 5 embedding tensors + 16 per layer.
    let names: Vec<&str> = file.tensors().iter().map(|t| t.name()).collect();
    assert_eq!(names.len(), 5 + 16 * 2);
    assert_eq!(
        &names[..7],
        &[
            "token_embd_norm.bias",
            "token_embd_norm.weight",
            "position_embd.weight",
            "token_types.weight",
            "token_embd.weight",
            "blk.0.attn_output_norm.bias",
            "blk.0.attn_output_norm.weight"
        ]
    );
    let t = |name: &str| file.require_tensor(name).unwrap();
    assert_eq!(
        (
            t("token_embd.weight").ggml_type(),
            t("token_embd.weight").shape()
        ),
        (GgmlType::Q8_0, &[64u64, 20][..])
    );
    assert_eq!(t("position_embd.weight").ggml_type(), GgmlType::F32);
    assert_eq!(t("token_types.weight").ggml_type(), GgmlType::F32);
    assert_eq!(
        (
            t("blk.1.ffn_up.weight").ggml_type(),
            t("blk.1.ffn_up.weight").shape()
        ),
        (GgmlType::Q8_0, &[64u64, 128][..])
    );
    assert_eq!(t("blk.1.ffn_down.weight").shape(), &[128, 64]);
    assert_eq!(
        (
            t("blk.1.ffn_up.bias").ggml_type(),
            t("blk.1.ffn_up.bias").shape()
        ),
        (GgmlType::F32, &[128u64][..])
    );
    assert_eq!(
        t("blk.0.layer_output_norm.weight").ggml_type(),
        GgmlType::F32
    );

    // Data: Q8_0 is the reference quantizer applied to the row-major weights, F32 is a copy.
    let q = fixture_values(DIMS, "encoder.layer.1.attention.self.query.weight");
    assert_eq!(
        file.tensor_bytes(t("blk.1.attn_q.weight")),
        quantize_row_q8_0_ref(&q).unwrap()
    );
    let b = fixture_values(DIMS, "encoder.layer.0.output.dense.bias");
    assert_eq!(file.tensor_bytes(t("blk.0.ffn_down.bias")), f32_bytes(&b));
}

#[test]
fn f16_and_f32_outputs_and_f16_bf16_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tiny_model(tmp.path(), DIMS, Dtype::F32);
    let (_, f16_file) = convert(&dir, OutType::F16);
    let (_, f32_file) = convert(&dir, OutType::F32);
    assert_eq!(f16_file.get("general.file_type"), Some(&Value::U32(1)));
    assert_eq!(f32_file.get("general.file_type"), Some(&Value::U32(0)));
    let emb = fixture_values(DIMS, "embeddings.word_embeddings.weight");
    let info = f16_file.require_tensor("token_embd.weight").unwrap();
    assert_eq!(info.ggml_type(), GgmlType::F16);
    let expect: Vec<u8> = emb
        .iter()
        .flat_map(|&x| f16::from_f32(x).to_le_bytes())
        .collect();
    assert_eq!(f16_file.tensor_bytes(info), expect);
    assert_eq!(
        f16_file
            .require_tensor("position_embd.weight")
            .unwrap()
            .ggml_type(),
        GgmlType::F32
    );
    let info = f32_file.require_tensor("token_embd.weight").unwrap();
    assert_eq!(f32_file.tensor_bytes(info), f32_bytes(&emb));

    // BF16 and F16 checkpoints are widened to f32 exactly, then converted.
    for (dtype, widen) in [
        (
            Dtype::BF16,
            (|x: f32| bf16::from_f32(x).to_f32()) as fn(f32) -> f32,
        ),
        (Dtype::F16, |x: f32| f16::from_f32(x).to_f32()),
    ] {
        let sub = tmp.path().join(format!("{dtype:?}"));
        std::fs::create_dir_all(&sub).unwrap();
        let dir = tiny_model(&sub, DIMS, dtype);
        let (_, file) = convert(&dir, OutType::F32);
        let info = file.require_tensor("blk.0.attn_v.weight").unwrap();
        let v: Vec<f32> = fixture_values(DIMS, "encoder.layer.0.attention.self.value.weight")
            .into_iter()
            .map(widen)
            .collect();
        assert_eq!(file.tensor_bytes(info), f32_bytes(&v), "{dtype:?}");
    }
}

#[test]
fn q8_0_rows_that_are_not_whole_blocks_fall_back_to_f16_like_llama_cpp() {
    let tmp = tempfile::tempdir().unwrap();
    let d = Dims {
        hidden: 48,
        ff: 96,
        layers: 1,
        positions: 8,
    };
    let dir = tiny_model(tmp.path(), d, Dtype::F32);
    let (report, file) = convert(&dir, OutType::Q8_0);
    // Rows of 48: F16; ffn_down has rows of 96 = 3 blocks: Q8_0.
    assert_eq!(
        file.require_tensor("blk.0.attn_q.weight")
            .unwrap()
            .ggml_type(),
        GgmlType::F16
    );
    assert_eq!(
        file.require_tensor("token_embd.weight")
            .unwrap()
            .ggml_type(),
        GgmlType::F16
    );
    assert_eq!(
        file.require_tensor("blk.0.ffn_down.weight")
            .unwrap()
            .ggml_type(),
        GgmlType::Q8_0
    );
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("blk.0.attn_q.weight") && w.contains("F16")),
        "{:?}",
        report.warnings
    );
}

#[test]
fn vocab_txt_alone_is_enough() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tiny_model(tmp.path(), DIMS, Dtype::F32);
    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    let (report, file) = convert(&dir, OutType::F32);
    // The tiny vocabulary's probe hash is unknown to llama.cpp.
    assert!(
        report.warnings.iter().any(|w| w.contains("vocab.txt")),
        "{:?}",
        report.warnings
    );
    let tokens = file.get_array::<String>("tokenizer.ggml.tokens").unwrap();
    assert_eq!(&tokens[..3], &["[PAD]", "\u{2581}[unused0]", "[UNK]"]);
    assert_eq!(
        file.get_array::<i32>("tokenizer.ggml.token_type").unwrap()[..4],
        [3, 1, 3, 3]
    );
    // Like gguf-py without tokenizer.json: only config.json's pad_token_id is found.
    assert_eq!(
        file.get("tokenizer.ggml.padding_token_id"),
        Some(&Value::U32(0))
    );
    assert!(file.get("tokenizer.ggml.bos_token_id").is_none());
}
