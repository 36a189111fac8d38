//! The converter's error paths on tiny synthetic Hugging Face BERT directories, through the
//! library: every bad input file is an error naming it, wrongly typed JSON values are errors,
//! and byte mutations of every input never panic (the outputs themselves:
//! `tests/convert_tiny.rs`).

use std::path::Path;

use ggufembed_convert::{ConvertError, OutType, convert_hf};
use safetensors::tensor::Dtype;
use serde_json::json;

use ggufembed_testkit::hf::{
    DIMS, config_json, tiny_model, tokenizer_json, write_json, write_safetensors,
};

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
