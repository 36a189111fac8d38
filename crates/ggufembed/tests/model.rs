//! `open` refuses every broken model with a clear error; `embed` is deterministic and safe to
//! share. Runs on tiny generated models, without the shared files.

mod common;

use common::TinyBert;
use gguf_loader::{GgmlType, Value};
use ggufembed::{Device, Error, Options, Pooling};

fn open_err(spec: TinyBert) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = spec.write(dir.path(), "m.gguf");
    match ggufembed::open(&path) {
        Ok(_) => panic!("expected open to fail"),
        Err(e) => e.to_string(),
    }
}

fn with_meta(key: &str, value: Option<Value>) -> TinyBert {
    TinyBert {
        overrides: vec![(key.into(), value)],
        ..TinyBert::default()
    }
}

#[test]
fn broken_models_are_refused_at_open() {
    let cases: Vec<(TinyBert, &str)> = vec![
        (
            with_meta("general.architecture", Some("gpt2".into())),
            "unsupported architecture 'gpt2' (supported: bert, gemma-embedding, nomic-bert, modern-bert",
        ),
        (
            with_meta("bert.attention.head_count", Some(Value::U32(0))),
            "metadata key 'bert.attention.head_count': 0 is out of range",
        ),
        (
            with_meta("bert.attention.head_count", Some(Value::U32(5))),
            "5 heads do not divide the width 64",
        ),
        (
            with_meta("bert.block_count", Some(Value::U32(1_000_000))),
            "bert.block_count': 1000000 is out of range",
        ),
        (
            with_meta("bert.block_count", Some(Value::U32(3))),
            "tensor 'blk.2.attn_q.weight' not found",
        ),
        (
            with_meta("bert.embedding_length", None),
            "metadata key 'bert.embedding_length' not found",
        ),
        (
            with_meta("bert.embedding_length", Some("wide".into())),
            "holds string, expected a non-negative integer",
        ),
        (
            with_meta(
                "bert.attention.layer_norm_epsilon",
                Some(Value::F32(f32::NAN)),
            ),
            "is not a usable epsilon",
        ),
        (
            with_meta("bert.pooling_type", Some(Value::U32(9))),
            "pooling type 9 is not supported",
        ),
        // Rank pooling (a reranker's) without its classification head.
        (
            with_meta("bert.pooling_type", Some(Value::U32(4))),
            "tensor 'cls.output.weight': not found: pooling type rank needs",
        ),
        (
            with_meta("tokenizer.ggml.bos_token_id", Some(Value::U32(9999))),
            "tokenizer.ggml.bos_token_id",
        ),
        (
            with_meta("tokenizer.ggml.model", Some("rwkv".into())),
            "unsupported tokenizer model 'rwkv'",
        ),
        (
            TinyBert {
                drop_tensors: vec!["blk.1.ffn_down.bias".into()],
                ..TinyBert::default()
            },
            "tensor 'blk.1.ffn_down.bias' not found",
        ),
        (
            TinyBert {
                reshape: vec![("blk.0.attn_k.weight".into(), vec![64, 32])],
                ..TinyBert::default()
            },
            "tensor 'blk.0.attn_k.weight': shape is [64, 32], expected [64, 64]",
        ),
        (
            TinyBert {
                reshape: vec![("position_embd.weight".into(), vec![64, 8])],
                ..TinyBert::default()
            },
            "tensor 'position_embd.weight': shape is [64, 8], expected [64, 48]",
        ),
        (
            TinyBert {
                reshape: vec![("token_embd.weight".into(), vec![64, 10])],
                ..TinyBert::default()
            },
            "but token_embd.weight has only 10 rows",
        ),
    ];
    for (spec, needle) in cases {
        let err = open_err(spec);
        assert!(err.contains(needle), "{err:?} does not contain {needle:?}");
    }
}

#[test]
fn options_are_checked_against_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let path = TinyBert::default().write(dir.path(), "m.gguf");
    for (opts, needle) in [
        (
            Options::default().max_len(49),
            "max_len: 49 is outside 2..=48",
        ),
        (Options::default().max_len(1), "max_len: 1 is outside"),
        (Options::default().threads(0), "threads: must be at least 1"),
    ] {
        let err = ggufembed::open_with(&path, opts).unwrap_err();
        assert!(matches!(err, Error::InvalidOption { .. }), "{err}");
        assert!(err.to_string().contains(needle), "{err}");
    }
    // Without the `gpu` feature an explicit GPU request names the missing feature; `auto` and
    // `cpu` run on the CPU.
    if !cfg!(feature = "gpu") {
        let err = ggufembed::open_with(&path, Options::default().device(Device::Gpu)).unwrap_err();
        assert!(
            matches!(err, Error::InvalidOption { name: "device", .. }),
            "{err}"
        );
        assert!(err.to_string().contains("--features gpu"), "{err}");
    }
    for device in [Device::Auto, Device::Cpu] {
        let m = ggufembed::open_with(&path, Options::default().device(device)).unwrap();
        if !cfg!(feature = "gpu") || device == Device::Cpu {
            assert_eq!(m.device(), Device::Cpu);
            assert_eq!(m.gpu_adapter(), None);
        }
    }
}

fn texts() -> Vec<String> {
    let mut v: Vec<String> = vec![
        String::new(),
        " ".into(),
        "hello world".into(),
        "the cat sat on the mat.".into(),
        "a red dog ran fast, and the blue cat is slow!".into(),
        "unknownword zzz".into(),
    ];
    // Long enough to be truncated at max_len 16 and to exceed the context of 48.
    v.push(
        std::iter::repeat_n("the cat sat", 30)
            .collect::<Vec<_>>()
            .join(" "),
    );
    for i in 0..40 {
        v.push(
            std::iter::repeat_n(common::WORDS[i % common::WORDS.len()], 1 + i % 13)
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    v
}

#[test]
fn embeddings_are_bit_identical_whatever_the_batch_and_threads() {
    for ty in [GgmlType::F32, GgmlType::Q8_0, GgmlType::F16] {
        let dir = tempfile::tempdir().unwrap();
        let path = TinyBert {
            matrix_type: ty,
            ..TinyBert::default()
        }
        .write(dir.path(), "m.gguf");
        let texts = texts();
        let one = ggufembed::open_with(&path, Options::default().threads(1)).unwrap();
        let all = one.embed(&texts).unwrap();
        assert_eq!(all.len(), texts.len());
        assert_eq!(all.dim(), 64);
        // Each text alone.
        for (i, t) in texts.iter().enumerate() {
            let single = one.embed(&[t]).unwrap();
            assert_eq!(single.row(0), all.row(i), "{ty}: text {i} alone");
        }
        // Reversed order, several threads.
        let four = ggufembed::open_with(&path, Options::default().threads(4)).unwrap();
        let rev: Vec<&String> = texts.iter().rev().collect();
        let r = four.embed(&rev).unwrap();
        for i in 0..texts.len() {
            assert_eq!(
                r.row(texts.len() - 1 - i),
                all.row(i),
                "{ty}: text {i} reversed, 4 threads"
            );
        }
        // Normalized, finite.
        for row in all.iter() {
            let norm: f32 = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4 && row.iter().all(|x| x.is_finite()));
        }
    }
}

#[test]
fn truncation_empty_texts_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let path = TinyBert::default().write(dir.path(), "m.gguf");
    let model = ggufembed::open_with(&path, Options::default().max_len(16)).unwrap();
    let long = std::iter::repeat_n("cat", 100)
        .collect::<Vec<_>>()
        .join(" ");
    let e = model.embed(&["", long.as_str(), "hello world"]).unwrap();
    assert_eq!(e.token_counts(), &[2, 16, 4]);
    assert_eq!(e.truncated_flags(), &[false, true, false]);
    // The default max_len is the context length: a longer text is truncated, never a crash.
    let model = ggufembed::open(&path).unwrap();
    assert_eq!(model.max_len(), 48);
    let e = model.embed(&[long.as_str()]).unwrap();
    assert_eq!((e.tokens(0), e.truncated(0)), (48, true));
    assert!(model.embed::<&str>(&[]).unwrap().is_empty());
    assert_eq!(model.tokenize("hello world").unwrap(), vec![2, 19, 20, 3]);
}

#[test]
fn tokenize_for_embedding_then_embed_tokens_is_embed() {
    let dir = tempfile::tempdir().unwrap();
    let path = TinyBert::default().write(dir.path(), "m.gguf");
    let model = ggufembed::open_with(&path, Options::default().max_len(16)).unwrap();
    let texts = texts();
    let all = model.embed(&texts).unwrap();
    let mut seqs = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        let (ids, full) = model.tokenize_for_embedding(t).unwrap();
        assert_eq!(ids.len(), all.tokens(i), "text {i}");
        assert_eq!(full > ids.len(), all.truncated(i), "text {i}");
        assert_eq!(full, model.tokenize(t).unwrap().len(), "text {i}");
        seqs.push(ids);
    }
    // In reverse, as another request's batch would place them.
    seqs.reverse();
    let by_ids = model.embed_tokens(&seqs).unwrap();
    for i in 0..texts.len() {
        assert_eq!(by_ids.row(texts.len() - 1 - i), all.row(i), "text {i}");
    }
    assert!(model.vocab_size() >= model.tokenizer().vocab_size());
}

#[test]
fn pooling_and_normalization_options() {
    let dir = tempfile::tempdir().unwrap();
    let path = TinyBert::default().write(dir.path(), "m.gguf");
    let raw = ggufembed::open_with(&path, Options::default().normalize(false)).unwrap();
    let norm = ggufembed::open(&path).unwrap();
    let (a, b) = (
        raw.embed(&["the cat"]).unwrap(),
        norm.embed(&["the cat"]).unwrap(),
    );
    let len: f32 = a.row(0).iter().map(|x| x * x).sum::<f32>().sqrt();
    for (x, y) in a.row(0).iter().zip(b.row(0)) {
        assert!((x / len - y).abs() < 1e-5);
    }
    assert_eq!(norm.pooling(), Pooling::Mean);
    let cls = ggufembed::open_with(&path, Options::default().pooling(Pooling::Cls)).unwrap();
    let last = ggufembed::open_with(&path, Options::default().pooling(Pooling::Last)).unwrap();
    let (c, l) = (
        cls.embed(&["the cat"]).unwrap(),
        last.embed(&["the cat"]).unwrap(),
    );
    assert_ne!(c.row(0), l.row(0));
    assert_ne!(c.row(0), b.row(0));
}

#[test]
fn one_model_shared_by_eight_threads() {
    let dir = tempfile::tempdir().unwrap();
    let path = TinyBert {
        matrix_type: GgmlType::Q8_0,
        ..TinyBert::default()
    }
    .write(dir.path(), "m.gguf");
    let model = ggufembed::open_with(&path, Options::default().threads(2)).unwrap();
    let texts = texts();
    let expected = model.embed(&texts).unwrap();
    std::thread::scope(|s| {
        for t in 0..8 {
            let (model, texts, expected) = (&model, &texts, &expected);
            s.spawn(move || {
                for round in 0..3 {
                    let start = (t + round) % texts.len();
                    let got = model.embed(&texts[start..]).unwrap();
                    for i in 0..got.len() {
                        assert_eq!(got.row(i), expected.row(start + i));
                    }
                }
            });
        }
    });
}

#[test]
fn model_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<ggufembed::Model>();
}

#[test]
fn pooling_none_returns_every_token_vector() {
    let dir = tempfile::tempdir().unwrap();
    let path = TinyBert::default().write(dir.path(), "m.gguf");
    let none = ggufembed::open_with(
        &path,
        Options::default().pooling(Pooling::None).normalize(false),
    )
    .unwrap();
    let cls = ggufembed::open_with(
        &path,
        Options::default().pooling(Pooling::Cls).normalize(false),
    )
    .unwrap();
    let last = ggufembed::open_with(
        &path,
        Options::default().pooling(Pooling::Last).normalize(false),
    )
    .unwrap();
    let texts = ["hello world", "", "the cat sat on the mat"];
    let e = none.embed(&texts).unwrap();
    assert_eq!(e.len(), 3);
    assert_eq!(e.rows(), 4 + 2 + 8);
    let (c, l) = (cls.embed(&texts).unwrap(), last.embed(&texts).unwrap());
    for i in 0..3 {
        let block = e.row(i);
        assert_eq!(block.len(), e.tokens(i) * 64);
        // The first and last token vectors are what CLS and last pooling return.
        assert_eq!(&block[..64], c.row(i));
        assert_eq!(&block[block.len() - 64..], l.row(i));
    }
    // A model file asking for no pooling (pooling_type 0) defaults to it.
    let path0 = TinyBert {
        overrides: vec![("bert.pooling_type".into(), Some(Value::U32(0)))],
        ..TinyBert::default()
    }
    .write(dir.path(), "none.gguf");
    assert_eq!(ggufembed::open(&path0).unwrap().pooling(), Pooling::None);
}

#[test]
fn prompts_are_prepended_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = TinyBert::default().write(dir.path(), "m.gguf");
    let plain = ggufembed::open(&path).unwrap();
    let prompted = ggufembed::open_with(&path, Options::default().prompt("hello ")).unwrap();
    assert_eq!(prompted.prompt(), "hello ");
    let a = prompted.embed(&["the cat"]).unwrap();
    let b = plain.embed(&["hello the cat"]).unwrap();
    assert_eq!(a.row(0), b.row(0));
    assert_eq!(a.tokens(0), b.tokens(0));
    assert_eq!(
        prompted.tokenize("the cat").unwrap(),
        plain.tokenize("hello the cat").unwrap()
    );
    // Streaming applies it too.
    let s = prompted.embed_iter(["the cat"]).next().unwrap().unwrap();
    assert_eq!(s.vector, b.row(0));
    // Presets exist only for architectures that define them; both at once is refused.
    let err = |o: Options| ggufembed::open_with(&path, o).unwrap_err().to_string();
    assert!(err(Options::default().prompt_name("query")).contains("no prompt presets"));
    assert!(err(Options::default().prompt("a").prompt_name("query")).contains("not both"));
    assert_eq!(
        ggufembed::prompt_presets("gemma-embedding")[0],
        ("query", "task: search result | query: ")
    );
    assert!(ggufembed::prompt_presets("bert").is_empty());
    let nomic = ggufembed::prompt_presets("nomic-bert");
    for (name, prompt) in [
        ("query", "search_query: "),
        ("document", "search_document: "),
        ("classification", "classification: "),
        ("clustering", "clustering: "),
    ] {
        assert!(nomic.contains(&(name, prompt)), "nomic-bert preset {name}");
    }
}
