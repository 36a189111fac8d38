//! Quick sweep of Q8_0 matmul throughput against the row count `m` (tokens), MiniLM shapes.
//! `cargo run --release -p ggufembed-kernels --example gemm_m_sweep`
use std::time::Instant;

use ggufembed_kernels::{BlockQ8_0, QuantizedActivations, WeightRows, kernels, quantize_row_q8_0};

fn main() {
    let k = kernels();
    for (kk, n) in [(384usize, 384usize), (384, 1536), (1536, 384)] {
        let w: Vec<f32> = (0..n * kk)
            .map(|i| ((i * 7919) % 255) as f32 / 127.0 - 1.0)
            .collect();
        let mut wq = vec![BlockQ8_0::default(); n * kk / 32];
        for (row, out) in w.chunks(kk).zip(wq.chunks_mut(kk / 32)) {
            quantize_row_q8_0(row, out);
        }
        for m in [1usize, 4, 10, 32, 128, 512, 2048] {
            let x: Vec<f32> = (0..m * kk)
                .map(|i| ((i * 31) % 97) as f32 / 50.0 - 1.0)
                .collect();
            let mut y = vec![0.0; m * n];
            let mut qa = QuantizedActivations::new();
            let reps = (200_000_000 / (m * kk * n)).max(3);
            let mut best = f64::MAX;
            for _ in 0..5 {
                let t = Instant::now();
                for _ in 0..reps {
                    k.gemm_q8_0(
                        &x,
                        m,
                        kk,
                        WeightRows::new(&wq[..], n, None),
                        &mut y,
                        &mut qa,
                    );
                }
                best = best.min(t.elapsed().as_secs_f64() / reps as f64);
            }
            let gops = 2.0 * (m * kk * n) as f64 / best / 1e9;
            println!(
                "k={kk:5} n={n:5} m={m:5}: {:9.1} us  {gops:6.1} GOPS",
                best * 1e6
            );
        }
    }
}
