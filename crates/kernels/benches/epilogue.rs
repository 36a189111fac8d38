//! The fused epilogues that write Q8_0 activations, per ISA, at MiniLM's shapes (256 rows):
//! bias+GELU → Q8 over the FFN width (k = 1536) and residual+LayerNorm → Q8 over the hidden
//! width (k = 384), each beside its parts run unfused (the f32 op, then
//! `QuantizedActivations::quantize_with`), so one run shows what the fusion and each part cost.
//!
//! `cargo bench -p ggufembed-kernels --bench epilogue` (about a minute). Throughput is in
//! elements (values of the m × k output) per second, timed in the benchmark thread's CPU time
//! (`/proc/thread-self/schedstat`, as `benches/gemm.rs`), so other processes' time slices on a
//! shared machine are not counted.

use std::hint::black_box;
use std::time::Duration;

#[path = "common/clock.rs"]
mod clock;

use clock::Clock;
use criterion::{Criterion, SamplingMode, Throughput};
use ggufembed_kernels::{Isa, NormParams, QuantizedActivations, kernels_for};

/// `iters` calls of `f`, in thread CPU time.
fn timed(iters: u64, mut f: impl FnMut()) -> Duration {
    let t = Clock::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed()
}

const M: usize = 256;

/// Deterministic activations shaped like a pre-GELU FFN output / a residual stream: mostly
/// within ±4, a few outliers.
fn values(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let h = (i.wrapping_add(seed).wrapping_mul(2_654_435_761)) >> 8 & 0xFFFF;
            let v = (h as f32 / 65_536.0 - 0.5) * 8.0;
            if i % 97 == 0 { v * 6.0 } else { v }
        })
        .collect()
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .configure_from_args();
    let isas: Vec<Isa> = [Isa::Avx512, Isa::Avx2, Isa::Neon, Isa::Scalar]
        .into_iter()
        .filter(|&i| kernels_for(i).is_some())
        .collect();

    let k_ff = 1536;
    let x = values(M * k_ff, 1);
    let bias = values(k_ff, 7);
    let mut g = c.benchmark_group(format!("bias_gelu_q8/m{M}_k{k_ff}"));
    g.throughput(Throughput::Elements((M * k_ff) as u64));
    // Equal samples of ~100 ms: the thread clock advances in scheduler ticks.
    g.sampling_mode(SamplingMode::Flat);
    for &isa in &isas {
        let kern = kernels_for(isa).expect("available");
        let mut qa = QuantizedActivations::new();
        g.bench_function(format!("{isa}/fused"), |b| {
            b.iter_custom(|n| timed(n, || kern.bias_gelu_quantize(black_box(&x), &bias, &mut qa)))
        });
        let mut y = x.clone();
        g.bench_function(format!("{isa}/add_bias_gelu_f32"), |b| {
            b.iter_custom(|n| {
                timed(n, || {
                    y.copy_from_slice(&x);
                    kern.add_bias_gelu(black_box(&mut y), &bias)
                })
            })
        });
        g.bench_function(format!("{isa}/quantize_only"), |b| {
            b.iter_custom(|n| timed(n, || qa.quantize_with(kern, black_box(&x), M, k_ff)))
        });
    }
    g.finish();

    let d = 384;
    let x = values(M * d, 3);
    let res = values(M * d, 5);
    let gamma: Vec<f32> = values(d, 11).iter().map(|v| 1.0 + v * 0.05).collect();
    let beta = values(d, 13);
    let mut g = c.benchmark_group(format!("add_layer_norm_q8/m{M}_k{d}"));
    g.throughput(Throughput::Elements((M * d) as u64));
    g.sampling_mode(SamplingMode::Flat);
    for &isa in &isas {
        let kern = kernels_for(isa).expect("available");
        let mut qa = QuantizedActivations::new();
        let mut y = x.clone();
        g.bench_function(format!("{isa}/fused"), |b| {
            b.iter_custom(|n| {
                timed(n, || {
                    y.copy_from_slice(&x);
                    kern.add_layer_norm_quantize(
                        black_box(&mut y),
                        &res,
                        d,
                        NormParams {
                            gamma: &gamma,
                            beta: Some(&beta),
                            eps: 1e-12,
                        },
                        &mut qa,
                    )
                })
            })
        });
        g.bench_function(format!("{isa}/add_layer_norm_f32"), |b| {
            b.iter_custom(|n| {
                timed(n, || {
                    y.copy_from_slice(&x);
                    kern.add_layer_norm(black_box(&mut y), &res, d, &gamma, Some(&beta), 1e-12)
                })
            })
        });
    }
    g.finish();
    c.final_summary();
}
