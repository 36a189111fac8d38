//! Q8_0, every other block format and F32 matmul throughput per ISA at embedding-model shapes, with a peak probe.
//!
//! `cargo bench -p ggufembed-kernels --bench gemm` runs a small default set (a few minutes);
//! `GGUFEMBED_BENCH_FULL=1` runs the full grid M ∈ {16, 64, 256, 1024} × K ∈ {384, 768, 1536} ×
//! N ∈ {384, 768, 1152, 1536}. Throughput is reported in GOPS (2 ops per multiply-add); at the end a
//! table of the medians and their fraction of the probed single-core peak is printed. Times are
//! the benchmark thread's CPU time (see `Clock`).

use std::time::Duration;

#[path = "common/clock.rs"]
mod clock;

use clock::Clock;
#[cfg(target_arch = "x86_64")]
use clock::rate;
use criterion::{Criterion, Throughput};
use ggufembed_kernels::{
    BlockQ8_0, Isa, QK8_0, QuantType, QuantizedActivations, WeightRows, kernels_for,
    quantize_row_q8_0,
};

/// The block formats benched besides Q8_0 (each where K is a multiple of its block).
const QUANT_TYPES: [QuantType; 8] = [
    QuantType::Q4_0,
    QuantType::Q4_1,
    QuantType::Q5_0,
    QuantType::Q5_1,
    QuantType::Q4K,
    QuantType::Q5K,
    QuantType::Q6K,
    QuantType::Iq4Nl,
];

/// `n` rows of `k` weights of `ty`: pseudo-random bytes in 0x20..0x40, so that every f16 field
/// is a normal positive number (2⁻⁷..2) — no NaN, infinity or subnormal to slow the float fold
/// — while the codes vary; the timing does not depend on the values otherwise.
fn quant_rows(ty: QuantType, n: usize, k: usize) -> Vec<u8> {
    let bytes = n * ty.row_bytes(k).expect("whole blocks");
    (0..bytes)
        .map(|i| 0x20 | ((i * 2_654_435_761) >> 7) as u8 & 0x1F)
        .collect()
}

/// Single-core peaks measured by tight register-only loops (GOPS / GFLOPS).
#[derive(Default, Debug, Clone, Copy)]
struct Peaks {
    fma_avx2: f64,
    fma_avx512: f64,
    madd_avx2: f64,
    maddubs_avx2: f64,
    /// The AVX2 Q8_0 kernel's own per-32-MAC sequence: vpsignb + vpmaddubsw + vpmaddwd + vpaddd.
    sign_maddubs_avx2: f64,
    vnni_avx512: f64,
}

#[cfg(target_arch = "x86_64")]
mod probe {
    use std::arch::x86_64::*;

    // Each loop keeps 12 independent accumulator chains (more than latency × throughput on
    // Zen 3/4 and Intel cores) and feeds every result back, so nothing can be hoisted.

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

    #[target_feature(enable = "avx2")]
    pub unsafe fn madd_avx2(iters: usize) -> i32 {
        let mut acc = [_mm256_set1_epi16(1); 12];
        let (b, c) = (_mm256_set1_epi16(3), _mm256_set1_epi32(1));
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm256_add_epi32(_mm256_madd_epi16(*v, b), c);
            }
        }
        acc.iter().map(|&v| _mm256_extract_epi32::<0>(v)).sum()
    }

    #[target_feature(enable = "avx2")]
    pub unsafe fn maddubs_avx2(iters: usize) -> i32 {
        let mut acc = [_mm256_set1_epi8(1); 12];
        let (b, ones) = (_mm256_set1_epi8(3), _mm256_set1_epi16(1));
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(*v, b), ones), ones);
            }
        }
        acc.iter().map(|&v| _mm256_extract_epi32::<0>(v)).sum()
    }

    #[target_feature(enable = "avx2")]
    pub unsafe fn sign_maddubs_avx2(iters: usize) -> i32 {
        let mut acc = [_mm256_set1_epi8(1); 12];
        let (w, wabs, ones) = (
            _mm256_set1_epi8(-3),
            _mm256_set1_epi8(3),
            _mm256_set1_epi16(1),
        );
        for _ in 0..iters {
            let w = std::hint::black_box(w);
            for v in acc.iter_mut() {
                let sx = _mm256_sign_epi8(*v, w);
                *v = _mm256_add_epi32(*v, _mm256_madd_epi16(_mm256_maddubs_epi16(wabs, sx), ones));
            }
        }
        acc.iter().map(|&v| _mm256_extract_epi32::<0>(v)).sum()
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

    #[target_feature(enable = "avx512f,avx512vnni")]
    pub unsafe fn vnni_avx512(iters: usize) -> i32 {
        let mut acc = [_mm512_set1_epi32(1); 12];
        let (a, b) = (_mm512_set1_epi8(3), _mm512_set1_epi8(-2));
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm512_dpbusd_epi32(*v, a, b);
            }
        }
        acc.iter().map(|&v| _mm512_reduce_add_epi32(v)).sum()
    }
}

fn probe_peaks() -> Peaks {
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
    let mut p = Peaks::default();
    #[cfg(target_arch = "x86_64")]
    {
        if kernels_for(Isa::Avx2).is_some() {
            // SAFETY: AVX2/FMA availability checked just above.
            p.fma_avx2 = rate(12.0 * 16.0, |n| unsafe { probe::fma_avx2(n) } as f64);
            // SAFETY: as above.
            p.madd_avx2 = rate(12.0 * 32.0, |n| unsafe { probe::madd_avx2(n) } as f64);
            // SAFETY: as above.
            p.maddubs_avx2 = rate(12.0 * 64.0, |n| unsafe { probe::maddubs_avx2(n) } as f64);
            // SAFETY: as above.
            p.sign_maddubs_avx2 = rate(12.0 * 64.0, |n| unsafe { probe::sign_maddubs_avx2(n) }
                as f64);
        }
        if kernels_for(Isa::Avx512).is_some() {
            // SAFETY: AVX-512F/VNNI availability checked just above.
            p.fma_avx512 = rate(12.0 * 32.0, |n| unsafe { probe::fma_avx512(n) } as f64);
            // SAFETY: as above.
            p.vnni_avx512 = rate(12.0 * 128.0, |n| unsafe { probe::vnni_avx512(n) } as f64);
        }
    }
    p
}

fn shapes(full: bool) -> Vec<(usize, usize, usize)> {
    if full {
        let mut v = Vec::new();
        for m in [16, 64, 256, 1024] {
            for k in [384, 768, 1536] {
                for n in [384, 768, 1152, 1536] {
                    v.push((m, k, n));
                }
            }
        }
        v
    } else {
        vec![
            (16, 384, 1536),
            (64, 384, 1536),
            (256, 384, 1536),
            (64, 768, 768),
            (64, 1536, 384),
            (256, 768, 1152),
        ]
    }
}

fn data(m: usize, k: usize, n: usize) -> (Vec<f32>, Vec<f32>, Vec<BlockQ8_0>) {
    let x: Vec<f32> = (0..m * k)
        .map(|i| ((i * 7919 % 2003) as f32 - 1001.0) / 1001.0)
        .collect();
    let w: Vec<f32> = (0..n * k)
        .map(|i| ((i * 104_729 % 1009) as f32 - 504.0) / 5040.0)
        .collect();
    let mut wq = vec![BlockQ8_0::default(); n * k / QK8_0];
    for (row, out) in w.chunks(k).zip(wq.chunks_mut(k / QK8_0)) {
        quantize_row_q8_0(row, out);
    }
    (x, w, wq)
}

fn main() {
    let full = std::env::var_os("GGUFEMBED_BENCH_FULL").is_some();
    let peaks = probe_peaks();
    eprintln!("peak probe (1 core): {peaks:?}");
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(10)
        .configure_from_args();
    let isas: Vec<Isa> = Isa::ALL
        .into_iter()
        .filter(|&i| kernels_for(i).is_some())
        .collect();
    let mut rows = Vec::new();
    let mut quant_rows_out = Vec::new();
    for (m, k, n) in shapes(full) {
        let (x, w, wq) = data(m, k, n);
        let ops = 2.0 * (m * n * k) as f64;
        let mut g = c.benchmark_group(format!("gemm_m{m}_k{k}_n{n}"));
        g.throughput(Throughput::Elements(ops as u64));
        for &isa in &isas {
            // The scalar tier is an oracle: bench it only at the smallest shape.
            if isa == Isa::Scalar && m > 16 {
                continue;
            }
            let kern = kernels_for(isa).expect("available");
            let mut y = vec![0.0f32; m * n];
            let mut qa = QuantizedActivations::new();
            let mut med = [0.0f64; 2];
            g.bench_function(format!("q8_0/{isa}"), |b| {
                b.iter_custom(|iters| {
                    let t = Clock::now();
                    for _ in 0..iters {
                        kern.gemm_q8_0(
                            &x,
                            m,
                            k,
                            WeightRows::new(&wq[..], n, None),
                            &mut y,
                            &mut qa,
                        );
                    }
                    let e = t.elapsed();
                    record(&mut med[0], e, iters);
                    e
                })
            });
            g.bench_function(format!("f32/{isa}"), |b| {
                b.iter_custom(|iters| {
                    let t = Clock::now();
                    for _ in 0..iters {
                        kern.gemm_f32(&x, m, k, WeightRows::new(&w[..], n, None), &mut y);
                    }
                    let e = t.elapsed();
                    record(&mut med[1], e, iters);
                    e
                })
            });
            // A kernel filtered out on the command line has no median: report 0.
            let gops = |t: f64| if t > 0.0 { ops / t / 1e9 } else { 0.0 };
            rows.push((m, k, n, isa, gops(med[0]), gops(med[1])));
            if isa == Isa::Scalar {
                continue;
            }
            for ty in QUANT_TYPES {
                if ty.row_bytes(k).is_none() {
                    continue;
                }
                let wt = quant_rows(ty, n, k);
                let mut t_med = 0.0f64;
                g.bench_function(format!("{}/{isa}", ty.name()), |b| {
                    b.iter_custom(|iters| {
                        let t = Clock::now();
                        for _ in 0..iters {
                            kern.gemm_quant(
                                &x,
                                m,
                                k,
                                WeightRows::new((ty, &wt[..]), n, None),
                                &mut y,
                                &mut qa,
                            );
                        }
                        let e = t.elapsed();
                        record(&mut t_med, e, iters);
                        e
                    })
                });
                quant_rows_out.push((m, k, n, isa, ty, gops(t_med), gops(med[0])));
            }
        }
        g.finish();
    }
    println!("\n| M | K | N | ISA | Q8_0 GOPS | % int8 peak | F32 GFLOPS | % FMA peak |");
    println!("|---:|---:|---:|---|---:|---:|---:|---:|");
    for (m, k, n, isa, q, f) in rows {
        let (ip, fp) = match isa {
            Isa::Avx512 => (peaks.vnni_avx512, peaks.fma_avx512),
            Isa::Avx2 => (peaks.madd_avx2.max(peaks.maddubs_avx2), peaks.fma_avx2),
            _ => (0.0, 0.0),
        };
        let pct = |v: f64, p: f64| {
            if p > 0.0 && v > 0.0 {
                format!("{:.0}%", 100.0 * v / p)
            } else {
                "-".into()
            }
        };
        println!(
            "| {m} | {k} | {n} | {isa} | {q:.1} | {} | {f:.1} | {} |",
            pct(q, ip),
            pct(f, fp)
        );
    }
    println!("\n| M | K | N | ISA | type | GOPS | % int8 peak | ÷ Q8_0 |");
    println!("|---:|---:|---:|---|---|---:|---:|---:|");
    for (m, k, n, isa, ty, q, q8) in quant_rows_out {
        // Filtered out on the command line.
        if q == 0.0 {
            continue;
        }
        let ip = match isa {
            Isa::Avx512 => peaks.vnni_avx512,
            Isa::Avx2 => peaks.madd_avx2.max(peaks.maddubs_avx2),
            _ => 0.0,
        };
        let pct = if ip > 0.0 && q > 0.0 {
            format!("{:.0}%", 100.0 * q / ip)
        } else {
            "-".into()
        };
        let ratio = if q8 > 0.0 && q > 0.0 {
            format!("{:.2}", q / q8)
        } else {
            "-".into()
        };
        println!("| {m} | {k} | {n} | {isa} | {ty} | {q:.1} | {pct} | {ratio} |");
    }
    if peaks.sign_maddubs_avx2 > 0.0 {
        println!(
            "\nAVX2 int8 peak = vpmaddubsw+vpmaddwd {:.0} GOPS; the AVX2 Q8_0 kernel's own sequence \
             (vpsignb+vpmaddubsw+vpmaddwd+vpaddd) peaks at {:.0} GOPS; FMA peak {:.0} GFLOPS.",
            peaks.maddubs_avx2.max(peaks.madd_avx2),
            peaks.sign_maddubs_avx2,
            peaks.fma_avx2
        );
    }
    c.final_summary();
}

/// Keeps the median per-iteration time (seconds) of the samples seen so far (approximately:
/// a running list per benchmark would need shared state; the samples of one benchmark arrive in
/// sequence, so a streaming median of the last 10 is enough here).
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
