//! One MiniLM-shaped attention call (default 256 tokens, 12 heads × 32), for instruction counts:
//! `valgrind --tool=callgrind target/release/examples/attention_call [seq] [heads] [head_dim] [reps]`.
//! `GGUFEMBED_ISA` picks the tier. One warm-up call, then `reps` timed calls (default 1).

use std::time::Instant;

use ggufembed_kernels::{AttentionInputs, AttentionParams, kernels};

fn main() {
    let arg = |i: usize, d: usize| {
        std::env::args()
            .nth(i)
            .map_or(d, |s| s.parse().expect("a number"))
    };
    let (seq, heads, hd, reps) = (arg(1, 256), arg(2, 12), arg(3, 32), arg(4, 1));
    let n = seq * heads * hd;
    let fill = |s: usize| -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 2_654_435_761 + s) % 1000) as f32 - 500.0) * 0.004)
            .collect()
    };
    let (q, k, v) = (fill(1), fill(2), fill(3));
    let p = AttentionParams::new(seq, heads, heads, hd);
    let mut out = vec![0.0f32; n];
    let mut scratch = Vec::new();
    let kern = kernels();
    kern.attention(
        AttentionInputs {
            q: &q,
            k: &k,
            v: &v,
            mask: None,
        },
        &p,
        &mut out,
        &mut scratch,
    );
    let t = Instant::now();
    for _ in 0..reps {
        kern.attention(
            AttentionInputs {
                q: &q,
                k: &k,
                v: &v,
                mask: None,
            },
            &p,
            &mut out,
            &mut scratch,
        );
    }
    let s = t.elapsed().as_secs_f64() / reps as f64;
    let flops = 4.0 * (seq * seq * heads * hd) as f64;
    let sum: f64 = out.iter().map(|&x| f64::from(x)).sum();
    println!(
        "isa {} seq {seq} heads {heads}x{hd}: {:.1} us/call, {:.1} GFLOP/s (checksum {sum:.6})",
        kern.isa(),
        s * 1e6,
        flops / s / 1e9
    );
}
