//! The converter on tiny synthetic Hugging Face BERT directories: the GGUF it writes (keys,
//! order, tensor names, shapes, types, data), input dtypes, and every error path, through the
//! library (the CLI's `convert` is tested in `crates/cli/tests/cli_convert.rs`).

use std::path::Path;

use gguf_loader::{Array, GgmlType, GgufFile, Value};
use ggufembed_convert::quant::quantize_row_q8_0_ref;
use ggufembed_convert::{ConvertError, ConvertReport, OutType, Progress, convert_hf};
use half::{bf16, f16};
use safetensors::tensor::Dtype;
use serde_json::json;

use ggufembed_testkit::hf::{
    DIMS, Dims, config_json, fixture_values, tiny_model, tokenizer_json, write_json,
    write_safetensors,
};

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

/// Converts and expects an error whose message names `file`.
fn expect_error(dir: &Path, file: &str) -> ConvertError {
    let out = dir.parent().unwrap().join("never.gguf");
    let err = convert_hf(dir, &out, OutType::Q8_0, &mut |_| {}).unwrap_err();
    assert!(
        err.to_string().contains(file),
        "'{err}' does not name {file}"
    );
    assert!(!out.exists(), "a failed conversion left {}", out.display());
    err
}

#[test]
fn every_bad_input_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let fresh = |name: &str| {
        let root = tmp.path().join(name);
        std::fs::create_dir_all(&root).unwrap();
        tiny_model(&root, DIMS, Dtype::F32)
    };

    let dir = fresh("no-config");
    std::fs::remove_file(dir.join("config.json")).unwrap();
    assert!(matches!(
        expect_error(&dir, "config.json"),
        ConvertError::MissingFile { .. }
    ));

    let dir = fresh("bad-json");
    std::fs::write(dir.join("config.json"), "{\"hidden_size\": 64,").unwrap();
    assert!(matches!(
        expect_error(&dir, "config.json"),
        ConvertError::Json { .. }
    ));

    let dir = fresh("llama");
    let mut c = config_json(DIMS);
    c["architectures"] = json!(["LlamaForCausalLM"]);
    write_json(&dir.join("config.json"), &c);
    let e = expect_error(&dir, "config.json");
    assert!(matches!(e, ConvertError::UnsupportedArchitecture { .. }));
    assert!(
        e.to_string()
            .contains("unsupported architecture 'LlamaForCausalLM'")
            && e.to_string().contains("BertModel"),
        "{e}"
    );

    let dir = fresh("no-hidden");
    let mut c = config_json(DIMS);
    c.as_object_mut().unwrap().remove("hidden_size");
    write_json(&dir.join("config.json"), &c);
    let e = expect_error(&dir, "config.json");
    assert!(e.to_string().contains("hidden_size"), "{e}");

    let dir = fresh("float-layers");
    let mut c = config_json(DIMS);
    c["num_hidden_layers"] = json!(2.5);
    write_json(&dir.join("config.json"), &c);
    assert!(
        expect_error(&dir, "config.json")
            .to_string()
            .contains("num_hidden_layers")
    );

    let dir = fresh("no-weights");
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    assert!(matches!(
        expect_error(&dir, "model.safetensors"),
        ConvertError::MissingFile { .. }
    ));

    let dir = fresh("garbage-weights");
    std::fs::write(
        dir.join("model.safetensors"),
        b"\xff\xff\xff\xff\xff\xff\xff\x7fnot a header",
    )
    .unwrap();
    assert!(matches!(
        expect_error(&dir, "model.safetensors"),
        ConvertError::Safetensors { .. }
    ));

    let dir = fresh("truncated-weights");
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    std::fs::write(dir.join("model.safetensors"), &bytes[..bytes.len() - 100]).unwrap();
    assert!(matches!(
        expect_error(&dir, "model.safetensors"),
        ConvertError::Safetensors { .. }
    ));

    let dir = fresh("missing-tensor");
    write_safetensors(&dir, DIMS, Dtype::F32, |t| {
        t.retain(|(n, ..)| n != "encoder.layer.1.output.dense.bias")
    });
    let e = expect_error(&dir, "model.safetensors");
    assert!(
        matches!(&e, ConvertError::MissingTensor { name, .. } if name == "encoder.layer.1.output.dense.bias"),
        "{e}"
    );

    let dir = fresh("wrong-shape");
    write_safetensors(&dir, DIMS, Dtype::F32, |t| {
        let e = t
            .iter_mut()
            .find(|(n, ..)| n == "encoder.layer.0.intermediate.dense.weight")
            .unwrap();
        e.2 = vec![64, 128];
    });
    let e = expect_error(&dir, "model.safetensors");
    assert!(matches!(e, ConvertError::TensorShape { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("encoder.layer.0.intermediate.dense.weight"),
        "{e}"
    );

    let dir = fresh("wrong-dtype");
    write_safetensors(&dir, DIMS, Dtype::F32, |t| {
        let e = t
            .iter_mut()
            .find(|(n, ..)| n == "embeddings.LayerNorm.bias")
            .unwrap();
        e.1 = Dtype::I32;
    });
    let e = expect_error(&dir, "model.safetensors");
    assert!(matches!(e, ConvertError::TensorDtype { .. }), "{e}");
    assert!(
        e.to_string().contains("embeddings.LayerNorm.bias") && e.to_string().contains("I32"),
        "{e}"
    );

    let dir = fresh("extra-layer");
    write_safetensors(&dir, DIMS, Dtype::F32, |t| {
        t.push((
            "encoder.layer.7.output.dense.bias".into(),
            Dtype::F32,
            vec![64],
            vec![0; 256],
        ))
    });
    assert!(matches!(
        expect_error(&dir, "model.safetensors"),
        ConvertError::UnexpectedTensor { .. }
    ));

    let dir = fresh("max-pooling");
    write_json(
        &dir.join("1_Pooling/config.json"),
        &json!({"pooling_mode_cls_token": false, "pooling_mode_mean_tokens": false, "pooling_mode_max_tokens": true}),
    );
    let e = expect_error(&dir, "1_Pooling");
    assert!(matches!(e, ConvertError::UnknownPooling { .. }));
    assert!(e.to_string().contains("pooling_mode_max_tokens"), "{e}");

    let dir = fresh("no-pooling-config");
    std::fs::remove_dir_all(dir.join("1_Pooling")).unwrap();
    assert!(matches!(
        expect_error(&dir, "1_Pooling"),
        ConvertError::MissingFile { .. }
    ));

    let dir = fresh("bad-modules");
    std::fs::write(dir.join("modules.json"), "{\"not\": \"a list\"}").unwrap();
    expect_error(&dir, "modules.json");

    let dir = fresh("bad-st-config");
    std::fs::write(dir.join("sentence_bert_config.json"), "max_seq_length = 3").unwrap();
    expect_error(&dir, "sentence_bert_config.json");

    let dir = fresh("no-vocab");
    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    std::fs::remove_file(dir.join("vocab.txt")).unwrap();
    let e = expect_error(&dir, "tiny-bert");
    assert!(
        matches!(e, ConvertError::Vocab { .. }) && e.to_string().contains("vocab.txt"),
        "{e}"
    );

    let dir = fresh("bpe-tokenizer");
    let mut tok = tokenizer_json();
    tok["model"]["type"] = json!("BPE");
    write_json(&dir.join("tokenizer.json"), &tok);
    assert!(matches!(
        expect_error(&dir, "tokenizer.json"),
        ConvertError::Vocab { .. }
    ));

    let dir = fresh("bad-tokenizer-json");
    std::fs::write(dir.join("tokenizer.json"), "[1, 2").unwrap();
    assert!(matches!(
        expect_error(&dir, "tokenizer.json"),
        ConvertError::Json { .. }
    ));

    let dir = fresh("vocab-too-big");
    let mut c = config_json(DIMS);
    c["vocab_size"] = json!(10);
    write_json(&dir.join("config.json"), &c);
    assert!(matches!(
        expect_error(&dir, "tokenizer.json"),
        ConvertError::Vocab { .. }
    ));

    let dir = fresh("output-dir-missing");
    let out = tmp.path().join("no/such/dir/x.gguf");
    let e = convert_hf(&dir, &out, OutType::F32, &mut |_| {}).unwrap_err();
    assert!(
        matches!(e, ConvertError::Output { .. }) && e.to_string().contains("no/such/dir"),
        "{e}"
    );
    let e = convert_hf(&dir, tmp.path(), OutType::F32, &mut |_| {}).unwrap_err();
    assert!(
        matches!(e, ConvertError::Output { .. }) && e.to_string().contains("directory"),
        "{e}"
    );

    let missing = tmp.path().join("does-not-exist");
    let e = convert_hf(
        &missing,
        &tmp.path().join("x.gguf"),
        OutType::F32,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(e, ConvertError::NotADirectory { .. }) && e.to_string().contains("does-not-exist")
    );
}

#[test]
fn wrongly_typed_json_values_are_errors_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tiny_model(tmp.path(), DIMS, Dtype::F32);
    let out = tmp.path().join("x.gguf");
    let run = || convert_hf(&base, &out, OutType::Q8_0, &mut |_| {});
    let config_edits: Vec<(&str, serde_json::Value)> = vec![
        ("architectures", json!("BertModel")),
        ("architectures", json!([])),
        ("architectures", json!([7])),
        ("hidden_size", json!("64")),
        ("hidden_size", json!(-64)),
        ("hidden_size", json!(0)),
        ("num_attention_heads", json!(3)),
        ("max_position_embeddings", json!(null)),
        ("layer_norm_eps", json!("tiny")),
        ("vocab_size", json!(1u64 << 40)),
        ("id2label", json!(["a", "b"])),
        ("id2label", json!({"x": "a"})),
    ];
    for (key, value) in config_edits {
        let mut c = config_json(DIMS);
        c[key] = value.clone();
        write_json(&base.join("config.json"), &c);
        let err = run().expect_err(&format!("{key} = {value}"));
        assert!(
            err.to_string().contains("config.json"),
            "{key} = {value}: {err}"
        );
    }
    write_json(&base.join("config.json"), &config_json(DIMS));
    for text in [
        "",
        "[]",
        "null",
        "{\"model\": 3}",
        "{\"model\": {\"vocab\": []}}",
        "{\"model\": {\"vocab\": {\"a\": -1}}}",
        "{\"model\": {\"vocab\": {\"a\": 0}}, \"added_tokens\": [{}]}",
    ] {
        std::fs::write(base.join("tokenizer.json"), text).unwrap();
        let err = run().expect_err(text);
        assert!(err.to_string().contains("tokenizer.json"), "{text}: {err}");
    }
    write_json(&base.join("tokenizer.json"), &tokenizer_json());
    // Odd but harmless model cards and tokenizer configs never fail a conversion.
    std::fs::write(
        base.join("README.md"),
        "---\n: : :\n- x\n  - y: [\ntags: [\n---",
    )
    .unwrap();
    write_json(
        &base.join("tokenizer_config.json"),
        &json!({"cls_token": {"content": 5}, "bos_token": [1]}),
    );
    run().unwrap();
    std::fs::write(base.join("tokenizer_config.json"), "[1]").unwrap();
    assert!(
        run()
            .unwrap_err()
            .to_string()
            .contains("tokenizer_config.json")
    );
}

/// Byte mutations of every input file: each conversion must end in `Ok` or `Err`, never a panic.
#[test]
fn mutated_inputs_never_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tiny_model(tmp.path(), DIMS, Dtype::F32);
    let out = tmp.path().join("m.gguf");
    let files = [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "modules.json",
        "1_Pooling/config.json",
        "README.md",
        "model.safetensors",
    ];
    let originals: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut ok, mut err) = (0, 0);
    for _ in 0..150 {
        let which = (next() % files.len() as u64) as usize;
        let mut bytes = originals[which].clone();
        // Mostly the structured part: JSON text, or the safetensors header.
        let span = if files[which] == "model.safetensors" {
            8 + 2048
        } else {
            bytes.len()
        };
        for _ in 0..1 + next() % 3 {
            let i = (next() % span.min(bytes.len()) as u64) as usize;
            bytes[i] = match next() % 4 {
                0 => b'"',
                1 => b'9',
                2 => b'{',
                _ => next() as u8,
            };
        }
        std::fs::write(dir.join(files[which]), &bytes).unwrap();
        match convert_hf(&dir, &out, OutType::Q8_0, &mut |_| {}) {
            Ok(_) => ok += 1,
            Err(e) => {
                assert!(!e.to_string().is_empty());
                err += 1;
            }
        }
        std::fs::write(dir.join(files[which]), &originals[which]).unwrap();
    }
    assert!(err > 0 && ok + err == 150, "{ok} ok, {err} errors");
}
