//! `BertForSequenceClassification` (a cross-encoder): the converter keeps BERT's pooler as
//! `cls.{weight,bias}` (llama.cpp's converter drops it, which reverses rankings) and writes the
//! classifier as `cls.output.{weight,bias}`, with `bert.classifier.output_labels` and no
//! pooling type, as the shared `tiny-reranker` GGUFs were converted.

use gguf_loader::{Array, GgmlType, GgufFile, Value};
use ggufembed_convert::{ConvertError, OutType, convert_hf};
use safetensors::tensor::Dtype;
use serde_json::json;

use ggufembed_testkit::hf::{
    DIMS, config_json, encode, tiny_model, values, write_json, write_safetensors,
};

/// A tiny cross-encoder directory: the tiny BERT with a pooler and a 1-label classifier, or
/// without the classifier when `classifier` is false.
fn reranker_dir(root: &std::path::Path, classifier: bool) -> std::path::PathBuf {
    let dir = tiny_model(root, DIMS, Dtype::F32);
    let mut config = config_json(DIMS);
    config["architectures"] = json!(["BertForSequenceClassification"]);
    config["id2label"] = json!({"0": "LABEL_0"});
    config["label2id"] = json!({"LABEL_0": 0});
    write_json(&dir.join("config.json"), &config);
    // A cross-encoder has no sentence-transformers pooling module.
    std::fs::remove_file(dir.join("modules.json")).unwrap();
    std::fs::remove_dir_all(dir.join("1_Pooling")).unwrap();
    let h = DIMS.hidden;
    write_safetensors(&dir, DIMS, Dtype::F32, |t| {
        t.push((
            "bert.pooler.dense.weight".into(),
            Dtype::F32,
            vec![h, h],
            encode(&values(201, h * h), Dtype::F32),
        ));
        if classifier {
            t.push((
                "classifier.weight".into(),
                Dtype::F32,
                vec![1, h],
                encode(&values(202, h), Dtype::F32),
            ));
            t.push((
                "classifier.bias".into(),
                Dtype::F32,
                vec![1],
                encode(&values(203, 1), Dtype::F32),
            ));
        }
    });
    dir
}

fn f32s(file: &GgufFile, name: &str) -> (Vec<u64>, GgmlType, Vec<f32>) {
    let info = file
        .tensor(name)
        .unwrap_or_else(|| panic!("{name} missing"));
    let data = if info.ggml_type() == GgmlType::F32 {
        file.view_f32(info).unwrap().to_vec()
    } else {
        Vec::new()
    };
    (info.shape().to_vec(), info.ggml_type(), data)
}

#[test]
fn sequence_classification_keeps_the_pooler_and_the_classifier() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = reranker_dir(tmp.path(), true);
    let h = DIMS.hidden as u64;
    for out_type in [OutType::F32, OutType::Q8_0] {
        let out = tmp.path().join(format!("r.{out_type}.gguf"));
        let report = convert_hf(&dir, &out, out_type, &mut |_| {}).unwrap();
        assert_eq!(report.architecture, "BertForSequenceClassification");
        let file = GgufFile::open(&out).unwrap();
        assert!(file.get("bert.pooling_type").is_none());
        match file.get("bert.classifier.output_labels") {
            Some(Value::Array(Array::String(l))) => assert_eq!(l, &["LABEL_0"]),
            other => panic!("output_labels: {other:?}"),
        }
        let matrix = out_type.ggml_type();
        let (shape, ty, data) = f32s(&file, "cls.weight");
        assert_eq!((shape, ty), (vec![h, h], matrix));
        if ty == GgmlType::F32 {
            assert_eq!(data, values(201, (h * h) as usize));
        }
        let (shape, ty, data) = f32s(&file, "cls.bias");
        assert_eq!((shape, ty), (vec![h], GgmlType::F32));
        // The tiny fixture's own pooler bias (written by `write_safetensors`, seed 99).
        assert_eq!(data, values(99, h as usize));
        let (shape, ty, data) = f32s(&file, "cls.output.weight");
        assert_eq!((shape, ty), (vec![h, 1], matrix));
        if ty == GgmlType::F32 {
            assert_eq!(data, values(202, h as usize));
        }
        let (shape, ty, data) = f32s(&file, "cls.output.bias");
        assert_eq!((shape, ty, data), (vec![1], GgmlType::F32, values(203, 1)));
    }
}

#[test]
fn sequence_classification_without_its_classifier_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = reranker_dir(tmp.path(), false);
    let err = convert_hf(&dir, &tmp.path().join("r.gguf"), OutType::F32, &mut |_| {})
        .expect_err("no classifier");
    assert!(
        matches!(&err, ConvertError::MissingTensor { name, .. } if name == "classifier.weight"),
        "{err}"
    );
}

#[test]
fn embedding_models_still_drop_the_pooler() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tiny_model(tmp.path(), DIMS, Dtype::F32);
    let out = tmp.path().join("e.gguf");
    convert_hf(&dir, &out, OutType::F32, &mut |_| {}).unwrap();
    let file = GgufFile::open(&out).unwrap();
    assert!(file.tensors().iter().all(|t| !t.name().starts_with("cls")));
}
