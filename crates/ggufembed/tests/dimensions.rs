//! `Options::dimensions` (Matryoshka) on any model: the tiny BERT, normalized or not, pooled or
//! per token, through `embed`, `embed_tokens` and `embed_iter`.

mod common;

use common::TinyBert;
use ggufembed::{Options, Pooling, open_with};

#[test]
fn dimensions_apply_to_every_output_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = TinyBert::default().write(dir.path(), "m.gguf");
    let texts = ["the cat", "a dog runs"];
    for normalize in [true, false] {
        for pooling in [Pooling::Mean, Pooling::None] {
            let base = Options::default().normalize(normalize).pooling(pooling);
            let full = open_with(&path, base.clone()).unwrap();
            let width = full.dim();
            let d = width / 4;
            let cut = open_with(&path, base.dimensions(d)).unwrap();
            assert_eq!(cut.dim(), d);
            let (f, e) = (full.embed(&texts).unwrap(), cut.embed(&texts).unwrap());
            assert_eq!((e.dim(), e.rows()), (d, f.rows()));
            for (r, row) in e.as_slice().chunks(d).enumerate() {
                let mut want = f.as_slice()[r * width..(r + 1) * width].to_vec();
                ggufembed::truncate_embedding(&mut want, d, normalize);
                assert_eq!(row, want, "row {r} ({pooling}, normalize {normalize})");
            }
            let ids: Vec<Vec<u32>> = texts.iter().map(|t| cut.tokenize(t).unwrap()).collect();
            assert_eq!(cut.embed_tokens(&ids).unwrap(), e);
            let streamed: Vec<f32> = cut
                .embed_iter(texts)
                .flat_map(|r| r.unwrap().vector)
                .collect();
            assert_eq!(streamed, e.as_slice());
        }
    }
}

#[test]
fn zero_and_too_wide_are_refused_naming_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let path = TinyBert::default().write(dir.path(), "m.gguf");
    let width = ggufembed::open(&path).unwrap().dim();
    for d in [0, width + 1] {
        let err = open_with(&path, Options::default().dimensions(d)).unwrap_err();
        assert!(
            matches!(
                err,
                ggufembed::Error::InvalidOption {
                    name: "dimensions",
                    ..
                }
            ),
            "{err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("{d} is outside 1..={width}")),
            "{msg}"
        );
    }
}
