//! Opening a GGUF costs milliseconds whatever its size: only the header, metadata and tensor
//! infos are parsed; tensor data stays in the page cache, mapped, never copied.
//!
//! `cargo bench -p gguf-loader --bench open` (uses `../shared/models` when present, and a
//! generated 64 MiB file otherwise).

use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use gguf_loader::{GgmlType, GgufFile, GgufWriter};

fn bench_open(c: &mut Criterion) {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models");
    let mut files: Vec<(String, PathBuf)> = ["f32", "f16", "q8_0"]
        .iter()
        .map(|t| {
            (
                format!("minilm-{t}"),
                shared.join(format!("all-MiniLM-L6-v2.{t}.gguf")),
            )
        })
        .filter(|(_, p)| p.exists())
        .collect();

    // A generated file of similar size, so the bench runs without the shared models.
    let dir = tempfile::tempdir().unwrap();
    let generated = dir.path().join("generated.gguf");
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", "bench").unwrap();
    let tokens: Vec<String> = (0..30522).map(|i| format!("tok{i}")).collect();
    w.add_metadata("tokenizer.ggml.tokens", gguf_loader::Array::String(tokens))
        .unwrap();
    let data = vec![0u8; 4 * 384 * 1536];
    for i in 0..28 {
        w.add_tensor(format!("blk.{i}.w"), GgmlType::F32, &[384, 1536], &data[..])
            .unwrap();
    }
    w.write_file(&generated).unwrap();
    files.push(("generated-64MiB".into(), generated));

    let mut group = c.benchmark_group("open");
    for (name, path) in &files {
        let size = std::fs::metadata(path).unwrap().len();
        group.bench_function(format!("{name} ({} MB)", size / 1_000_000), |b| {
            b.iter(|| {
                let f = GgufFile::open(path).unwrap();
                std::hint::black_box(f.tensors().len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_open);
criterion_main!(benches);
