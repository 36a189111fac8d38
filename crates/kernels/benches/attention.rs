//! Attention throughput per ISA at MiniLM's shape (12 heads × 32, one sequence per call) and one
//! EmbeddingGemma-like shape (GQA 4:1, head dim 256, sliding window 128), with an FMA peak probe.
//!
//! `cargo bench -p ggufembed-kernels --bench attention`. Throughput is GFLOP/s per core counting
//! `4 · visible pairs · head_dim` per head (`Q·Kᵀ` and `P·V`, 2 flops per multiply-add; the
//! softmax is not counted), the same count `ggufembed-profile` uses; at the end a table of the
//! medians and their fraction of the probed single-core FMA peak is printed. Times are the bench
//! thread's CPU time (`/proc/thread-self/schedstat`: the development machine is a shared 2-core
//! VM where other builds time-slice the bench).

use std::time::Duration;

#[path = "common/clock.rs"]
mod clock;

use clock::Clock;
#[cfg(target_arch = "x86_64")]
use clock::rate;
use criterion::{Criterion, Throughput};
use ggufembed_kernels::{AttentionInputs, AttentionParams, Isa, kernels_for};

#[cfg(target_arch = "x86_64")]
mod probe {
    use std::arch::x86_64::*;

    // 12 independent accumulator chains (more than latency × throughput), each result fed back.

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn fma_avx2(iters: usize) -> f32 {
        let mut acc = [_mm256_set1_ps(1.0); 12];
        let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
        for _ in 0..iters {
            let a = std::hint::black_box(a);
            for v in acc.iter_mut() {
                *v = _mm256_fmadd_ps(*v, a, b);
            }
        }
        let mut s = _mm256_setzero_ps();
        for v in acc {
            s = _mm256_add_ps(s, v);
        }
        _mm256_cvtss_f32(s)
    }

    #[target_feature(enable = "avx512f,fma")]
    pub unsafe fn fma_avx512(iters: usize) -> f32 {
        let mut acc = [_mm512_set1_ps(1.0); 12];
        let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
        for _ in 0..iters {
            let a = std::hint::black_box(a);
            for v in acc.iter_mut() {
                *v = _mm512_fmadd_ps(*v, a, b);
            }
        }
        acc.iter().map(|&v| _mm512_reduce_add_ps(v)).sum()
    }
}

/// The single-core FMA peak of `isa` in GFLOP/s (0 where not probed).
fn fma_peak(isa: Isa) -> f64 {
    match isa {
        // SAFETY: the tier's kernels exist, so the CPU has its features.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => rate(12.0 * 16.0, |n| unsafe { probe::fma_avx2(n) }),
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => rate(12.0 * 32.0, |n| unsafe { probe::fma_avx512(n) }),
        _ => 0.0,
    }
}

/// One benched shape.
struct Shape {
    name: &'static str,
    p: AttentionParams,
}

fn shapes() -> Vec<Shape> {
    let mut v: Vec<Shape> = [8, 16, 32, 64, 256, 440]
        .into_iter()
        .map(|seq| Shape {
            name: "minilm",
            p: AttentionParams::new(seq, 12, 12, 32),
        })
        .collect();
    let mut gemma = AttentionParams::new(256, 4, 1, 256);
    gemma.window = Some(128);
    v.push(Shape {
        name: "gqa4-d256-w128",
        p: gemma,
    });
    v
}

/// Flops of one call: `4 · d` per visible (query, key) pair per query head.
fn flops(p: &AttentionParams) -> f64 {
    let pairs: usize = (0..p.seq)
        .map(|i| {
            let (lo, hi) = p.visible_keys(i);
            hi - lo
        })
        .sum();
    4.0 * (pairs * p.head_dim * p.n_heads) as f64
}

fn main() {
    let isas: Vec<Isa> = Isa::ALL
        .into_iter()
        .filter(|&i| i != Isa::Scalar && kernels_for(i).is_some())
        .collect();
    let peaks: Vec<(Isa, f64)> = isas.iter().map(|&i| (i, fma_peak(i))).collect();
    eprintln!("FMA peak probe (1 core, GFLOP/s): {peaks:?}");
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(10)
        .configure_from_args();
    let mut rows = Vec::new();
    for s in shapes() {
        let p = &s.p;
        let (qn, kn) = (
            p.seq * p.n_heads * p.head_dim,
            p.seq * p.n_kv_heads * p.head_dim,
        );
        let fill = |n: usize, salt: usize| -> Vec<f32> {
            (0..n)
                .map(|i| (((i * 2_654_435_761 + salt) % 1000) as f32 - 500.0) * 0.004)
                .collect()
        };
        let (q, k, v) = (fill(qn, 1), fill(kn, 2), fill(kn, 3));
        let fl = flops(p);
        let mut g = c.benchmark_group(format!(
            "attention_{}_seq{}_h{}x{}",
            s.name, p.seq, p.n_heads, p.head_dim
        ));
        g.throughput(Throughput::Elements(fl as u64));
        for &(isa, peak) in &peaks {
            let kern = kernels_for(isa).expect("available");
            let mut out = vec![0.0f32; qn];
            let mut scratch = Vec::new();
            let mut med = 0.0f64;
            g.bench_function(isa.to_string(), |b| {
                b.iter_custom(|iters| {
                    let t = Clock::now();
                    for _ in 0..iters {
                        kern.attention(
                            AttentionInputs {
                                q: &q,
                                k: &k,
                                v: &v,
                                mask: None,
                            },
                            p,
                            &mut out,
                            &mut scratch,
                        );
                    }
                    let e = t.elapsed();
                    record(&mut med, e, iters);
                    e
                })
            });
            // Filtered out on the command line: no median.
            let gf = if med > 0.0 { fl / med / 1e9 } else { 0.0 };
            rows.push((s.name, p.seq, isa, med, gf, peak));
        }
        g.finish();
    }
    println!("\n| shape | seq | ISA | µs/call | GFLOP/s | % FMA peak |");
    println!("|---|---:|---|---:|---:|---:|");
    for (name, seq, isa, t, gf, peak) in rows {
        if gf == 0.0 {
            continue;
        }
        let pct = if peak > 0.0 {
            format!("{:.0}%", 100.0 * gf / peak)
        } else {
            "-".into()
        };
        println!(
            "| {name} | {seq} | {isa} | {:.1} | {gf:.1} | {pct} |",
            t * 1e6
        );
    }
    c.final_summary();
}

/// Keeps the median per-iteration time (seconds) of the last 10 samples of the current
/// benchmark (its samples arrive in sequence).
fn record(slot: &mut f64, e: Duration, iters: u64) {
    thread_local! { static SAMPLES: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) }; }
    let per = e.as_secs_f64() / iters.max(1) as f64;
    SAMPLES.with(|s| {
        let mut s = s.borrow_mut();
        if *slot == 0.0 {
            s.clear();
        }
        s.push(per);
        let mut v: Vec<f64> = s.iter().rev().take(10).cloned().collect();
        v.sort_by(f64::total_cmp);
        *slot = v[v.len() / 2];
    });
}
