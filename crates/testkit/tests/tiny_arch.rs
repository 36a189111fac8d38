//! The tiny models of every architecture (`ggufembed_testkit::tiny_arch`): each opens through
//! the public API as the architecture it names, embeds (or, the reranker, scores) texts to
//! finite outputs, and the committed fuzz seeds (`fuzz/seeds/open_model/`, `fuzz/models/`) are
//! exactly what `examples/write_fuzz_seeds.rs` writes.

use std::path::Path;

use ggufembed::gguf_loader::GgufFile;
use ggufembed::{Model, Options};
use ggufembed_testkit::tiny_arch::{TinyModel, tiny_models};

const TEXTS: [&str; 3] = [
    "the cat sat on the dog",
    "",
    "a long text: the cat sat on the mat, the dog ran fast and slow, Été — ok\nthe end",
];

fn open(m: &TinyModel) -> Model {
    let file = GgufFile::from_bytes(&m.bytes).unwrap();
    Model::from_file(file, Options::default().threads(1))
        .unwrap_or_else(|e| panic!("{}: {e}", m.file_name))
}

#[test]
fn every_architecture_has_a_tiny_model() {
    let models = tiny_models();
    let mut archs: Vec<&str> = models.iter().map(|m| m.arch).collect();
    archs.dedup();
    let registered: Vec<&str> = ggufembed_runtime::registry::ARCHITECTURES
        .iter()
        .map(|a| a.name)
        .collect();
    for name in &registered {
        assert!(archs.contains(name), "no tiny model of {name}");
    }
    assert!(models.iter().any(|m| m.reranker));
    for m in &models {
        // A few KB: mutations land in metadata and shapes, not in tensor data.
        assert!(
            m.bytes.len() < 32 * 1024,
            "{}: {} bytes",
            m.file_name,
            m.bytes.len()
        );
    }
}

#[test]
fn every_tiny_model_opens_and_embeds() {
    for m in tiny_models() {
        let model = open(&m);
        assert_eq!(model.architecture(), m.arch, "{}", m.file_name);
        assert_eq!(model.is_reranker(), m.reranker, "{}", m.file_name);
        assert_eq!(model.max_len(), 16, "{}", m.file_name);
        if m.reranker {
            let pairs: Vec<(&str, &str)> = TEXTS.iter().map(|t| (TEXTS[0], *t)).collect();
            let scored = model.score_pairs(&pairs).unwrap();
            assert_eq!(scored.len(), 3);
            assert!(scored.iter().all(|s| s.score.is_finite()), "{scored:?}");
            assert!(scored[2].truncated && !scored[0].truncated);
            continue;
        }
        let e = model.embed(&TEXTS).unwrap();
        assert_eq!((e.rows(), e.dim()), (3, model.dim()), "{}", m.file_name);
        for i in 0..3 {
            let row = e.row(i);
            assert!(
                row.iter().all(|x| x.is_finite()),
                "{}: {row:?}",
                m.file_name
            );
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-3, "{}: norm {norm}", m.file_name);
        }
        // The texts are tokenized by the model's own vocabulary: the long one is cut, and
        // the rows differ (the weights see the ids).
        assert!(e.truncated(2) && !e.truncated(0), "{}", m.file_name);
        assert_ne!(e.row(0), e.row(2), "{}", m.file_name);
        let ids = model.tokenize("the cat").unwrap();
        let unk = model.tokenizer().special_ids().unk;
        assert!(
            ids.iter().all(|&id| Some(id) != unk),
            "{}: {ids:?} has unknown pieces",
            m.file_name
        );
    }
}

#[test]
fn the_committed_fuzz_seeds_are_the_generated_models() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    for m in tiny_models() {
        for dir in ["seeds/open_model", "models"] {
            let path = fuzz.join(dir).join(m.file_name);
            let committed = std::fs::read(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (cargo run -p ggufembed-testkit --example write_fuzz_seeds)",
                    path.display()
                )
            });
            assert!(
                committed == m.bytes,
                "{} differs from the generated model: rerun \
                 cargo run -p ggufembed-testkit --example write_fuzz_seeds",
                path.display()
            );
        }
    }
}
