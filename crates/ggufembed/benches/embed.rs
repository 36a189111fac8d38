//! End-to-end embedding benchmarks (criterion): throughput against batch size and threads, and
//! single-query latency, on all-MiniLM-L6-v2 Q8_0 with the sentence workload.
//!
//! `cargo bench -p ggufembed --bench embed`. The model is looked for at
//! `$GGUFEMBED_BENCH_MODEL`, `../shared/models/`, then `models/` (what scripts/test.sh
//! converts); texts come from `../shared/fixtures/bench-sentences.jsonl` when present.

use std::path::PathBuf;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ggufembed::{Model, Options, Parallelism};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model_path() -> Option<PathBuf> {
    let name = "all-MiniLM-L6-v2.q8_0.gguf";
    std::env::var_os("GGUFEMBED_BENCH_MODEL")
        .map(PathBuf::from)
        .into_iter()
        .chain([
            root().join("../shared/models").join(name),
            root().join("models").join(name),
        ])
        .find(|p| p.exists())
}

fn sentences() -> Vec<String> {
    let path = root().join("../shared/fixtures/bench-sentences.jsonl");
    match std::fs::read_to_string(&path) {
        Ok(s) => s
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["text"].as_str().map(str::to_string))
            .collect(),
        Err(_) => (0..512)
            .map(|i| format!("sentence number {i} about a cat that sat on the mat for a while"))
            .collect(),
    }
}

fn open(path: &PathBuf, threads: usize) -> Model {
    ggufembed::open_with(path, Options::default().threads(threads)).expect("open the model")
}

fn throughput(c: &mut Criterion) {
    let Some(path) = model_path() else {
        eprintln!("embed bench: no MiniLM Q8_0 GGUF found; skipping");
        return;
    };
    let texts = sentences();
    let mut g = c.benchmark_group("embed_throughput");
    g.sample_size(10).warm_up_time(Duration::from_secs(1));
    for threads in [1, 2] {
        let model = open(&path, threads);
        for batch in [1usize, 8, 32, 128, 512] {
            let b = &texts[..batch.min(texts.len())];
            let tokens: usize = b.iter().map(|t| model.tokenize(t).unwrap().len()).sum();
            g.throughput(Throughput::Elements(tokens as u64));
            g.bench_with_input(
                BenchmarkId::new(format!("{threads}t"), batch),
                &b,
                |bench, b| bench.iter(|| model.embed(b).unwrap()),
            );
        }
    }
    g.finish();
}

fn query_latency(c: &mut Criterion) {
    let Some(path) = model_path() else {
        return;
    };
    let query = "how do I bake sourdough bread at home";
    let mut g = c.benchmark_group("query_latency");
    for (threads, mode) in [
        (1, Parallelism::AcrossTexts),
        (2, Parallelism::WithinMatmul),
    ] {
        let model =
            ggufembed::open_with(&path, Options::default().threads(threads).parallelism(mode))
                .expect("open the model");
        g.bench_function(format!("{threads}t_{mode:?}"), |b| {
            b.iter(|| model.embed(&[query]).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, throughput, query_latency);
criterion_main!(benches);
