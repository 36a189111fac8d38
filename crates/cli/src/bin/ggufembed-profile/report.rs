//! The report: built once as JSON (`--json`), rendered from it as tables otherwise.

use std::time::Duration;

use ggufembed_runtime::profile::Profile;
use serde_json::{Value, json};

use crate::probe::{self, Peak};
use crate::workload::Workload;

/// One measured call: tokenize + embed of one batch.
pub struct CallStats {
    /// Wall time of the call.
    pub latency: Duration,
    /// Heap allocations while tokenizing.
    pub tokenize_allocs: u64,
    /// Heap allocations while embedding (the result included).
    pub embed_allocs: u64,
    /// Bytes allocated during the call.
    pub bytes: u64,
}

/// Everything a run measured.
pub struct Run<'a> {
    pub model_path: String,
    pub architecture: String,
    pub dim: usize,
    pub matrix_type: String,
    pub load: Duration,
    pub threads: usize,
    pub batch_size: usize,
    pub parallelism: &'static str,
    pub token_budget: usize,
    pub max_len: usize,
    pub isa: &'static str,
    /// "cpu", or "gpu: " and the adapter.
    pub device: String,
    pub iterations: u32,
    pub warmup: u32,
    /// Whether the per-operation timers ran.
    pub timers: bool,
    /// Whether they are compiled in (not the `profile-off` feature).
    pub timers_compiled_in: bool,
    pub workload: &'a Workload,
    /// Token count of each text as embedded (truncated).
    pub tokens: &'a [usize],
    pub truncated: usize,
    pub calls: &'a [CallStats],
    /// Wall time of the measured passes.
    pub wall: Duration,
    /// CPU time of the process's threads during the measured passes.
    pub cpu: Option<Duration>,
    pub profile: Option<Profile>,
    pub peak: Peak,
    pub peak_rss: Option<u64>,
    /// The SVG written and its sample count.
    pub flamegraph: Option<(String, usize)>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `p`-th percentile (nearest rank) of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn token_stats(tokens: impl Iterator<Item = usize>) -> Value {
    let (mut n, mut sum, mut min, mut max) = (0usize, 0usize, usize::MAX, 0usize);
    for t in tokens {
        n += 1;
        sum += t;
        min = min.min(t);
        max = max.max(t);
    }
    json!({
        "texts": n,
        "tokens": sum,
        "min_tokens": if n == 0 { 0 } else { min },
        "mean_tokens": if n == 0 { 0.0 } else { sum as f64 / n as f64 },
        "max_tokens": max,
    })
}

impl Run<'_> {
    /// The report as JSON (the schema is documented in docs/PROFILING.md).
    pub fn to_json(&self) -> Value {
        let passes = self.iterations as f64;
        let n_calls = self.calls.len().max(1) as f64;
        let wall_s = self.wall.as_secs_f64();
        let texts = self.tokens.len() as f64 * passes;
        let tokens = self.tokens.iter().sum::<usize>() as f64 * passes;
        let mut lat: Vec<f64> = self.calls.iter().map(|c| ms(c.latency)).collect();
        lat.sort_by(f64::total_cmp);
        let mean =
            |f: &dyn Fn(&CallStats) -> u64| self.calls.iter().map(f).sum::<u64>() as f64 / n_calls;

        let mut workload = token_stats(self.tokens.iter().copied());
        workload["source"] = self.workload.source.into();
        workload["path"] = self.workload.path.clone().into();
        workload["truncated"] = self.truncated.into();
        workload["lengths"] = self
            .workload
            .groups
            .iter()
            .map(|(len, r)| {
                let mut g = token_stats(self.tokens[r.clone()].iter().copied());
                g["requested"] = (*len).into();
                g
            })
            .collect::<Vec<_>>()
            .into();

        let breakdown = self.profile.as_ref().map(|p| self.breakdown(p));
        json!({
            "model": {
                "path": self.model_path,
                "architecture": self.architecture,
                "dim": self.dim,
                "matrix_type": self.matrix_type,
                "load_ms": ms(self.load),
            },
            "config": {
                "threads": self.threads,
                "batch_size": self.batch_size,
                "parallelism": self.parallelism,
                "token_budget": self.token_budget,
                "max_len": self.max_len,
                "isa": self.isa,
                "device": self.device,
                "iterations": self.iterations,
                "warmup": self.warmup,
                "timers": self.timers,
                "timers_compiled_in": self.timers_compiled_in,
            },
            "workload": workload,
            "throughput": {
                "calls": self.calls.len(),
                "wall_s": wall_s,
                "texts_per_s": texts / wall_s,
                "tokens_per_s": tokens / wall_s,
                "cpu_s": self.cpu.map(|c| c.as_secs_f64()),
                "cpu_utilisation": self
                    .cpu
                    .map(|c| c.as_secs_f64() / (wall_s * self.threads as f64)),
            },
            "latency_ms": {
                "mean": lat.iter().sum::<f64>() / n_calls,
                "p50": percentile(&lat, 50.0),
                "p90": percentile(&lat, 90.0),
                "p99": percentile(&lat, 99.0),
                "max": lat.last().copied().unwrap_or(0.0),
            },
            "breakdown": breakdown,
            "peak": {
                "kernel": self.peak.kernel,
                "isa": self.isa,
                "shape": [probe::SHAPE.0, probe::SHAPE.1, probe::SHAPE.2],
                "threads": 1,
                "gops": self.peak.gops,
            },
            "allocations": {
                "per_call_mean": mean(&|c| c.tokenize_allocs + c.embed_allocs),
                "per_call_max": self.calls.iter().map(|c| c.tokenize_allocs + c.embed_allocs).max().unwrap_or(0),
                "tokenize_per_call": mean(&|c| c.tokenize_allocs),
                "embed_per_call": mean(&|c| c.embed_allocs),
                "bytes_per_call": mean(&|c| c.bytes),
            },
            "memory": { "peak_rss_bytes": self.peak_rss },
            "flamegraph": self.flamegraph.as_ref().map(|(path, samples)| json!({
                "path": path,
                "samples": samples,
            })),
        })
    }

    /// Per-operation shares of the thread time available (wall × threads).
    fn breakdown(&self, p: &Profile) -> Value {
        let capacity_ns = self.wall.as_nanos() as f64 * self.threads as f64;
        let n_calls = self.calls.len().max(1) as f64;
        let share = |ns: f64| {
            if capacity_ns > 0.0 {
                ns / capacity_ns
            } else {
                0.0
            }
        };
        let mut ops = Vec::new();
        for (op, s) in p.iter() {
            if s.calls == 0 && s.ns == 0 {
                continue;
            }
            let gops = (s.ops > 0 && s.ns > 0).then(|| s.ops as f64 / s.ns as f64);
            let peak_pct = gops
                .filter(|_| op.is_matmul() && self.peak.gops > 0.0)
                .map(|g| 100.0 * g / self.peak.gops);
            ops.push(json!({
                "op": op.name(),
                "matmul": op.is_matmul(),
                "calls": s.calls,
                "calls_per_call": s.calls as f64 / n_calls,
                "thread_ms": s.ns as f64 / 1e6,
                "ms_per_call": s.ns as f64 / 1e6 / n_calls,
                "share": share(s.ns as f64),
                "ops": s.ops,
                "gops": gops,
                "peak_pct": peak_pct,
            }));
        }
        let timed = p.total_ns() as f64;
        let rest = (capacity_ns - timed).max(0.0);
        json!({
            "threads": self.threads,
            "capacity_ms": capacity_ns / 1e6,
            "ops": ops,
            "unaccounted": {
                "thread_ms": rest / 1e6,
                "ms_per_call": rest / 1e6 / n_calls,
                "share": share(rest),
            },
            "total_share": share(timed + rest),
        })
    }

    /// The report as aligned text tables.
    pub fn to_text(&self) -> String {
        let j = self.to_json();
        let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
        let mut o = String::new();
        let mut line = |s: String| {
            o.push_str(&s);
            o.push('\n');
        };
        line(format!("ggufembed-profile: {}", self.model_path));
        line(format!(
            "  model        {}, {}-d, {} matrices; loaded in {:.1} ms",
            self.architecture,
            self.dim,
            self.matrix_type,
            ms(self.load)
        ));
        line(format!(
            "  run          {}; {} thread{}, batch {}, parallelism {}, token budget {}, ISA {}; \
             {} measured pass{} after {} warm-up",
            self.device,
            self.threads,
            plural(self.threads),
            self.batch_size,
            self.parallelism,
            self.token_budget,
            self.isa,
            self.iterations,
            if self.iterations == 1 { "" } else { "es" },
            self.warmup
        ));
        let w = &j["workload"];
        let texts = thousands(w["texts"].as_u64().unwrap_or(0));
        let texts = match &self.workload.path {
            Some(p) => format!("{texts} texts from {p}"),
            None => format!("{texts} synthetic texts"),
        };
        line(format!(
            "  workload     {texts}: {} tokens (min {}, mean {:.1}, max {}), {} truncated",
            thousands(w["tokens"].as_u64().unwrap_or(0)),
            w["min_tokens"],
            f(&w["mean_tokens"]),
            w["max_tokens"],
            self.truncated
        ));
        for g in w["lengths"].as_array().into_iter().flatten() {
            line(format!(
                "               {} × ~{} tokens: actual min {}, mean {:.1}, max {}",
                g["texts"],
                g["requested"],
                g["min_tokens"],
                f(&g["mean_tokens"]),
                g["max_tokens"]
            ));
        }
        let t = &j["throughput"];
        let util = match t["cpu_utilisation"].as_f64() {
            Some(u) => format!("; CPU utilisation {:.0}%", 100.0 * u),
            None => String::new(),
        };
        line(format!(
            "  throughput   {:.1} texts/s, {} tokens/s ({} call{} in {:.2} s){util}",
            f(&t["texts_per_s"]),
            thousands(f(&t["tokens_per_s"]).round() as u64),
            self.calls.len(),
            plural(self.calls.len()),
            f(&t["wall_s"])
        ));
        let l = &j["latency_ms"];
        line(format!(
            "  latency      p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms (per call: \
             tokenize + embed {} text{})",
            f(&l["p50"]),
            f(&l["p90"]),
            f(&l["p99"]),
            f(&l["max"]),
            self.batch_size.min(self.tokens.len()),
            plural(self.batch_size.min(self.tokens.len()))
        ));
        let a = &j["allocations"];
        line(format!(
            "  allocations  {:.0} per call (tokenize {:.0}, embed {:.0}), max {}; {} per call",
            f(&a["per_call_mean"]),
            f(&a["tokenize_per_call"]),
            f(&a["embed_per_call"]),
            a["per_call_max"],
            bytes(f(&a["bytes_per_call"]))
        ));
        line(format!(
            "  peak RSS     {}",
            self.peak_rss.map_or("n/a".into(), |b| bytes(b as f64))
        ));
        if let Some((path, samples)) = &self.flamegraph {
            line(format!("  flame graph  {path} ({samples} samples)"));
        }
        line(String::new());
        let b = &j["breakdown"];
        if b.is_null() {
            line(if self.timers_compiled_in {
                "  per-operation breakdown: off (--no-timers)".into()
            } else {
                "  per-operation breakdown: unavailable (timers compiled out by the \
                 `profile-off` feature)"
                    .into()
            });
        } else {
            line(format!(
                "  {:<34} {:>10} {:>10} {:>7} {:>8} {:>7}",
                "operation", "calls/call", "ms/call", "share", "GOPS", "% peak"
            ));
            let opt = |v: &Value, prec: usize| match v.as_f64() {
                Some(x) => format!("{x:.prec$}"),
                None => "-".into(),
            };
            for op in b["ops"].as_array().into_iter().flatten() {
                line(format!(
                    "  {:<34} {:>10.1} {:>10.3} {:>6.1}% {:>8} {:>7}",
                    op["op"].as_str().unwrap_or("?"),
                    f(&op["calls_per_call"]),
                    f(&op["ms_per_call"]),
                    100.0 * f(&op["share"]),
                    opt(&op["gops"], 1),
                    opt(&op["peak_pct"], 0),
                ));
            }
            let u = &b["unaccounted"];
            line(format!(
                "  {:<34} {:>10} {:>10.3} {:>6.1}%",
                "other (idle, scheduling, normalize)",
                "",
                f(&u["ms_per_call"]),
                100.0 * f(&u["share"])
            ));
            line(format!(
                "  {:<34} {:>10} {:>10.3} {:>6.1}%",
                "total",
                "",
                f(&b["capacity_ms"]) / self.calls.len().max(1) as f64,
                100.0 * f(&b["total_share"])
            ));
            line(String::new());
            line(format!(
                "  Times are thread time: each operation's time summed over the threads that ran \
                 it; shares are of wall time × {} thread{} ({:.1} ms). \"other\" is the rest: \
                 idle workers, scheduling, normalization and copies outside the timed operations.",
                self.threads,
                plural(self.threads),
                f(&b["capacity_ms"])
            ));
        }
        line(format!(
            "  GOPS = arithmetic operations / thread time (per core); % peak is against the \
             single-thread {} gemm probe ({}×{}×{}, {}): {:.1} GOPS.",
            self.peak.kernel,
            probe::SHAPE.0,
            probe::SHAPE.1,
            probe::SHAPE.2,
            self.isa,
            self.peak.gops
        ));
        o
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn bytes(b: f64) -> String {
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{b:.0} B")
    }
}
