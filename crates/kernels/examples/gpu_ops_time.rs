//! Times the GPU shaders one at a time on the machine's adapter (software adapters allowed):
//! `cargo run --release -p ggufembed-kernels --features gpu --example gpu_ops_time`.
//! A MiniLM-sized layer: matmul 384→1536 over `t` tokens, attention over 256-token sequences.

use std::time::Instant;

use ggufembed_kernels::gpu::{
    AdapterPolicy, AttentionShape, GpuAttentionInputs, GpuContext, GpuPass, GpuWeightData,
};
use ggufembed_kernels::quantize_row_q8_0;

fn main() {
    let ctx = GpuContext::new(AdapterPolicy::AllowSoftware).expect("a GPU adapter");
    println!("adapter: {}", ctx.adapter());
    let t: usize = std::env::args().nth(1).map_or(2048, |s| s.parse().unwrap());
    let (k, n) = (384, 1536);
    let w: Vec<f32> = (0..k * n)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let mut blocks = vec![Default::default(); k * n / 32];
    quantize_row_q8_0(&w, &mut blocks);
    let x: Vec<f32> = (0..t * k)
        .map(|i| ((i * 104729) % 997) as f32 / 997.0 - 0.5)
        .collect();
    let xb = ctx.upload_f32("x", &x).unwrap();
    let y = ctx.buffer("y", t * n).unwrap();
    let mut out = vec![0.0f32; 1];
    for (name, data) in [
        ("f32", GpuWeightData::F32(&w)),
        ("q8_0", GpuWeightData::Q8_0(&blocks)),
    ] {
        let wm = ctx.upload_matrix("w", data, k, n).unwrap();
        for rep in 0..3 {
            let start = Instant::now();
            let mut p = GpuPass::new(&ctx);
            p.matmul(&xb, t, &wm, None, false, &y);
            p.submit_and_read(&y, &mut out).unwrap();
            let s = start.elapsed().as_secs_f64();
            if rep > 0 {
                println!(
                    "matmul {name} {t}x{k}x{n}: {:.1} ms, {:.2} GFLOP/s",
                    s * 1e3,
                    2.0 * (t * k * n) as f64 / s / 1e9
                );
            }
        }
    }
    let d = 384;
    let q = ctx.upload_f32("q", &x[..t * d]).unwrap();
    let o = ctx.buffer("o", t * d).unwrap();
    let len = 256;
    let tok_seq: Vec<u32> = (0..t)
        .flat_map(|i| [(i / len * len) as u32, len.min(t - i / len * len) as u32])
        .collect();
    let ts = ctx.buffer("ts", 2 * t).unwrap();
    ctx.write(&ts, &tok_seq);
    let shape = AttentionShape {
        n_head: 12,
        n_kv_head: 12,
        head_dim: 32,
        q_stride: d,
        kv_stride: d,
        causal: false,
        scale: 0.17,
    };
    for rep in 0..3 {
        let start = Instant::now();
        let mut p = GpuPass::new(&ctx);
        let inputs = GpuAttentionInputs {
            q: &q,
            k: &q,
            v: &q,
            tok_seq: &ts,
        };
        p.attention(inputs, t, &shape, &o);
        p.submit_and_read(&o, &mut out).unwrap();
        let s = start.elapsed().as_secs_f64();
        if rep > 0 {
            println!(
                "attention {t} tokens in {len}-token sequences: {:.1} ms, {:.2} GFLOP/s",
                s * 1e3,
                4.0 * (t * len * d) as f64 / s / 1e9
            );
        }
    }
}
