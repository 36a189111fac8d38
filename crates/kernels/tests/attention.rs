//! Attention against an f64 reference: GQA, causal, sliding window, padding mask, head split;
//! sequences across several 64-key tiles and 16/32-query tiles and their tails (0, 1, odd and
//! prime lengths); the same bits on every ISA.

mod common;

use common::*;
use ggufembed_kernels::{AttentionInputs, AttentionParams};
use proptest::prelude::*;

fn reference(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    p: &AttentionParams,
    mask: Option<&[f32]>,
) -> Vec<f64> {
    let (d, hq, hkv) = (p.head_dim, p.n_heads, p.n_kv_heads);
    let mut out = vec![0.0f64; q.len()];
    for h in 0..hq {
        let g = h / (hq / hkv);
        for i in 0..p.seq {
            let vis: Vec<usize> = (0..p.seq)
                .filter(|&j| (!p.causal || j <= i) && p.window.is_none_or(|w| i.abs_diff(j) < w))
                .collect();
            let s: Vec<f64> = vis
                .iter()
                .map(|&j| {
                    let dot: f64 = (0..d)
                        .map(|t| {
                            f64::from(q[(i * hq + h) * d + t]) * f64::from(k[(j * hkv + g) * d + t])
                        })
                        .sum();
                    dot * f64::from(p.scale) + mask.map_or(0.0, |m| f64::from(m[j]))
                })
                .collect();
            let max = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            if max == f64::NEG_INFINITY {
                continue;
            }
            let z: f64 = s.iter().map(|x| (x - max).exp()).sum();
            for (&j, &sj) in vis.iter().zip(&s) {
                let pj = (sj - max).exp() / z;
                for t in 0..d {
                    out[(i * hq + h) * d + t] += pj * f64::from(v[(j * hkv + g) * d + t]);
                }
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn attention_matches_f64(
        seq in 1..=12usize, hkv in 1..=2usize, group in 1..=3usize,
        d in prop_oneof![Just(32usize), Just(40), Just(64), Just(7)],
        causal in any::<bool>(), window in prop::option::of(1..=5usize), pad in 0..=3usize,
        seed in prop::collection::vec(-1.0f32..1.0, 3 * 12 * 6 * 64),
    ) {
        let hq = hkv * group;
        let mut p = AttentionParams::new(seq, hq, hkv, d);
        p.causal = causal;
        p.window = window;
        let q = seed[..seq * hq * d].to_vec();
        let k = seed[seed.len() / 3..][..seq * hkv * d].to_vec();
        let v = seed[2 * seed.len() / 3..][..seq * hkv * d].to_vec();
        let mask: Vec<f32> = (0..seq).map(|j| if j + pad >= seq && j > 0 { f32::NEG_INFINITY } else { 0.0 }).collect();
        let want = reference(&q, &k, &v, &p, Some(&mask));
        for (isa, kern) in isas() {
            let mut out = vec![f32::NAN; q.len()];
            let mut scratch = Vec::new();
            kern.attention(AttentionInputs { q: &q, k: &k, v: &v, mask: Some(&mask) }, &p, &mut out, &mut scratch);
            for (i, (&o, &w)) in out.iter().zip(&want).enumerate() {
                prop_assert!((f64::from(o) - w).abs() <= 1e-5, "{} i={} got={} want={}", isa, i, o, w);
            }
            // Splitting the KV heads gives the same bits.
            let mut split = vec![f32::NAN; q.len()];
            for g in 0..hkv {
                let mut pg = p.clone();
                pg.kv_heads = g..g + 1;
                kern.attention(AttentionInputs { q: &q, k: &k, v: &v, mask: Some(&mask) }, &pg, &mut split, &mut scratch);
            }
            prop_assert!(split.iter().zip(&out).all(|(a, b)| a.to_bits() == b.to_bits()), "{} split", isa);
        }
    }
}

/// Sequence lengths around the kernel's tiles (64 keys; query tiles of 16 or 32 lanes): 0, 1,
/// primes, odd, tile edges.
fn seq_len() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0usize),
        Just(1),
        Just(2),
        Just(7),
        Just(15),
        Just(16),
        Just(17),
        Just(31),
        Just(32),
        Just(33),
        Just(47),
        Just(63),
        Just(64),
        Just(65),
        Just(97),
        Just(113),
        Just(128),
        Just(131),
        Just(200),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn long_sequences_match_f64_and_every_isa_gives_the_same_bits(
        seq in seq_len(), hkv in 1..=2usize, group in 1..=3usize,
        d in prop_oneof![Just(1usize), Just(16), Just(32), Just(40), Just(64), Just(67)],
        causal in any::<bool>(), window in prop::option::of(1..=90usize), pad in 0..=70usize,
        use_mask in any::<bool>(), seed in any::<u64>(),
    ) {
        let hq = hkv * group;
        let mut p = AttentionParams::new(seq, hq, hkv, d);
        p.causal = causal;
        p.window = window;
        let mut state = seed | 1;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        };
        let q: Vec<f32> = (0..seq * hq * d).map(|_| next()).collect();
        let k: Vec<f32> = (0..seq * hkv * d).map(|_| next()).collect();
        let v: Vec<f32> = (0..seq * hkv * d).map(|_| next()).collect();
        let mask: Vec<f32> = (0..seq)
            .map(|j| if j + pad >= seq && j > 0 { f32::NEG_INFINITY } else { 0.0 })
            .collect();
        let mask = use_mask.then_some(&mask[..]);
        let want = reference(&q, &k, &v, &p, mask);
        let mut first: Option<(String, Vec<f32>)> = None;
        for (isa, kern) in isas() {
            let mut out = vec![f32::NAN; q.len()];
            let mut scratch = vec![f32::NAN; 7];
            kern.attention(AttentionInputs { q: &q, k: &k, v: &v, mask }, &p, &mut out, &mut scratch);
            for (i, (&o, &w)) in out.iter().zip(&want).enumerate() {
                prop_assert!((f64::from(o) - w).abs() <= 2e-5 * (1.0 + w.abs()), "{} i={} got={} want={}", isa, i, o, w);
            }
            match &first {
                None => first = Some((isa.to_string(), out)),
                Some((name, bits)) => prop_assert!(
                    bits.iter().zip(&out).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{} differs from {}", isa, name
                ),
            }
        }
    }
}
