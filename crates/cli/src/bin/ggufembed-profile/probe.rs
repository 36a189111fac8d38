//! The peak probe: a short single-thread run of the matmul kernel the model's weights use, on a
//! fixed shape, as the reference the per-operation GOPS are compared with.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ggufembed::gguf_loader::{GgmlType, GgufFile};
use ggufembed_runtime::kernels::{
    self, BlockQ8_0, FloatWeights, QK8_0, QuantizedActivations, WeightRows, quantize_row_q8_0,
};
use half::{bf16, f16};

/// The probed shape (M × K × N): 64 tokens through a 384 → 1536 projection (MiniLM's FFN up),
/// the `gemm` bench's reference shape.
pub const SHAPE: (usize, usize, usize) = (64, 384, 1536);

/// The result of the probe.
pub struct Peak {
    /// `"q8_0"`, `"f32"`, `"f16"` or `"bf16"`.
    pub kernel: &'static str,
    /// Best achieved rate, G(ops)/s.
    pub gops: f64,
}

/// The matrix type of the model's matmuls (its first layer's FFN up projection, or failing
/// that its first 2-D `blk.*` tensor).
pub fn matrix_type(file: &GgufFile) -> Option<GgmlType> {
    let info = file.tensor("blk.0.ffn_up.weight").or_else(|| {
        file.tensors()
            .iter()
            .find(|t| t.name().starts_with("blk.") && t.shape().len() == 2)
    })?;
    Some(info.ggml_type())
}

/// Runs the probe for weights of type `ty` (Q8_0 for anything not a float type): the best of
/// five samples of at least 20 ms each on the calling thread, timed by the thread's CPU time
/// where the OS reports it (so time-slices lost to other processes on a busy machine do not
/// count). Activations are quantized before timing (the breakdown times quantization
/// separately).
pub fn run(ty: Option<GgmlType>) -> Peak {
    let (m, k, n) = SHAPE;
    let kern = kernels::kernels();
    let x: Vec<f32> = (0..m * k)
        .map(|i| ((i * 7919 % 2003) as f32 - 1001.0) / 1001.0)
        .collect();
    let w: Vec<f32> = (0..n * k)
        .map(|i| ((i * 104_729 % 1009) as f32 - 504.0) / 5040.0)
        .collect();
    let mut y = vec![0.0f32; m * n];
    let ops = 2.0 * (m * k * n) as f64;
    match ty {
        Some(GgmlType::F32) => Peak {
            kernel: "f32",
            gops: best(ops, || {
                kern.gemm_float_cols(
                    &x,
                    m,
                    k,
                    WeightRows::new(FloatWeights::F32(&w), n, None),
                    &mut y,
                )
            }),
        },
        Some(GgmlType::F16) => {
            let w: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
            Peak {
                kernel: "f16",
                gops: best(ops, || {
                    kern.gemm_float_cols(
                        &x,
                        m,
                        k,
                        WeightRows::new(FloatWeights::F16(&w), n, None),
                        &mut y,
                    )
                }),
            }
        }
        Some(GgmlType::BF16) => {
            let w: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
            Peak {
                kernel: "bf16",
                gops: best(ops, || {
                    kern.gemm_float_cols(
                        &x,
                        m,
                        k,
                        WeightRows::new(FloatWeights::Bf16(&w), n, None),
                        &mut y,
                    )
                }),
            }
        }
        _ => {
            let mut wq = vec![BlockQ8_0::default(); n * k / QK8_0];
            for (row, out) in w.chunks(k).zip(wq.chunks_mut(k / QK8_0)) {
                quantize_row_q8_0(row, out);
            }
            let mut qa = QuantizedActivations::new();
            qa.quantize_with(kern, &x, m, k);
            Peak {
                kernel: "q8_0",
                gops: best(ops, || {
                    kern.gemm_q8_0_cols(&qa, WeightRows::new(&wq[..], n, None), &mut y)
                }),
            }
        }
    }
}

/// Best rate over five samples of `f`, each repeated for at least 20 ms.
fn best(ops: f64, mut f: impl FnMut()) -> f64 {
    f(); // warm caches and the instruction path
    let mut best = 0.0f64;
    for _ in 0..5 {
        let (t, cpu) = (Instant::now(), thread_cpu_time());
        let mut reps = 0u64;
        while t.elapsed() < Duration::from_millis(20) {
            f();
            reps += 1;
        }
        black_box(&mut f);
        let wall = t.elapsed();
        let spent = match (cpu, thread_cpu_time()) {
            (Some(a), Some(b)) if b > a => b - a,
            _ => wall,
        };
        let rate = ops * reps as f64 / spent.as_secs_f64() / 1e9;
        best = best.max(rate);
    }
    best
}

/// CPU time of the calling thread (Linux: `/proc/thread-self/schedstat`, nanoseconds).
fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}
