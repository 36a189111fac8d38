//! `ggufembed-profile`: runs a workload against a GGUF embedding model and reports model load
//! time, throughput, per-call latency, a per-operation time breakdown with achieved GOPS
//! against a peak probe, heap allocations per call and peak RSS; `--flamegraph` samples the run
//! into an SVG (cargo feature `flamegraph`). See docs/PROFILING.md.
//!
//! Exit codes: 0 success, 1 error (bad file, bad input), 2 usage. Errors go to stderr as one
//! line starting `error:`.

mod flame;
mod probe;
mod report;
mod workload;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::ops::Range;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use ggufembed::{Options, Parallelism};
use ggufembed_runtime::kernels::{self, Isa};
use ggufembed_runtime::profile::{self, Op};

use crate::report::{CallStats, Run};

/// Counts every heap allocation of the process (all threads), for "allocations per call".
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method delegates to the system allocator with the same arguments; the
// counters are plain atomics (no allocation, no re-entrancy).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which is System's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (every allocation goes through it) with
        // `layout`, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        // SAFETY: as for `dealloc`; the caller upholds `realloc`'s size contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> (u64, u64) {
    (
        ALLOCATIONS.load(Ordering::Relaxed),
        ALLOCATED_BYTES.load(Ordering::Relaxed),
    )
}

#[derive(Parser)]
#[command(
    name = "ggufembed-profile",
    version,
    about = "Profile a GGUF embedding model on a workload: throughput, latency, a per-operation \
             time breakdown, allocations, memory",
    after_help = "Without --input, synthetic texts of --lengths tokens are built from the \
                  model's vocabulary (--count of each). Each call tokenizes --batch-size texts \
                  and embeds them (what Model::embed does, in two timed steps). See \
                  docs/PROFILING.md."
)]
struct Args {
    /// The GGUF model.
    #[arg(short = 'm', long = "model", value_name = "MODEL")]
    model: PathBuf,
    /// Texts to embed: JSONL objects with a "text" field, or one text per line (detected from
    /// the first line; see --text-lines).
    #[arg(short = 'i', long = "input", value_name = "FILE")]
    input: Option<PathBuf>,
    /// Read --input as one text per line even if lines start with '{'.
    #[arg(long = "text-lines", requires = "input")]
    text_lines: bool,
    /// Use only the first N texts of --input.
    #[arg(long, value_name = "N", requires = "input",
          value_parser = clap::value_parser!(u32).range(1..))]
    limit: Option<u32>,
    /// Synthetic texts: their token counts (special tokens included), comma-separated.
    #[arg(long, value_name = "N,N,…", value_delimiter = ',', default_value = "16,64,256",
          conflicts_with = "input", value_parser = clap::value_parser!(u32).range(1..=65_536))]
    lengths: Vec<u32>,
    /// Synthetic texts: how many of each length.
    #[arg(long, value_name = "N", default_value_t = 32, conflicts_with = "input",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    count: u32,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
    /// Texts per embed call.
    #[arg(long = "batch-size", value_name = "N", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..))]
    batch_size: u32,
    /// How a call uses the threads: auto, texts (each worker its own texts) or matmul (every
    /// matmul split across the workers).
    #[arg(long, value_name = "MODE", default_value = "auto")]
    parallelism: Parallelism,
    /// Tokens per micro-batch (default: derived from the memory budget).
    #[arg(long = "token-budget", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    token_budget: Option<u32>,
    /// Longest input in tokens (default: the model's context length); longer texts are
    /// truncated.
    #[arg(long = "max-len", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_len: Option<u32>,
    /// Where to run: auto, cpu or gpu (the GPU needs a build with `--features gpu`; its
    /// per-operation breakdown is not timed, throughput and latency are).
    #[arg(long, value_name = "DEVICE", default_value = "cpu")]
    device: ggufembed::Device,
    /// Kernel tier: scalar, avx2, avx512 or neon (sets GGUFEMBED_ISA; default: detected).
    #[arg(long, value_name = "ISA")]
    isa: Option<Isa>,
    /// Measured passes over the workload.
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..))]
    iterations: u32,
    /// Unmeasured passes before them.
    #[arg(long, value_name = "N", default_value_t = 1)]
    warmup: u32,
    /// Leave the per-operation timers off (no breakdown): throughput as an application sees it.
    #[arg(long = "no-timers")]
    no_timers: bool,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Sample the measured passes into a flame graph SVG (needs the `flamegraph` feature).
    #[arg(long, value_name = "OUT.svg")]
    flamegraph: Option<PathBuf>,
}

fn main() -> ExitCode {
    // A panic (a bug) still ends with one `error:` line and exit code 1.
    std::panic::set_hook(Box::new(|info| {
        let msg = info.to_string().replace('\n', " ");
        let _ = writeln!(std::io::stderr(), "error: internal error: {msg}");
    }));
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => e.exit(), // --help and --version: print, exit 0
        Err(e) => {
            let first = ggufembed_cli::usage::one_line(&e, "error: invalid arguments");
            let _ = writeln!(
                std::io::stderr(),
                "{first} (try 'ggufembed-profile --help')"
            );
            return ExitCode::from(2);
        }
    };
    match std::panic::catch_unwind(|| run(args)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(message)) => {
            let line = message.replace('\n', " ");
            let _ = writeln!(std::io::stderr(), "error: {line}");
            ExitCode::from(1)
        }
        Err(_) => ExitCode::from(1), // the hook printed the `error:` line
    }
}

fn parallelism_name(p: Parallelism) -> &'static str {
    match p {
        Parallelism::AcrossTexts => "texts",
        Parallelism::WithinMatmul => "matmul",
        _ => "auto",
    }
}

fn run(args: Args) -> Result<(), String> {
    #[cfg(not(feature = "flamegraph"))]
    if args.flamegraph.is_some() {
        return Err(flame::UNAVAILABLE.into());
    }
    if let Some(isa) = args.isa {
        if !isa.is_available() {
            let have: Vec<&str> = Isa::ALL
                .iter()
                .filter(|i| i.is_available())
                .map(|i| i.name())
                .collect();
            return Err(format!(
                "--isa {isa}: not available on this CPU or target (available: {})",
                have.join(", ")
            ));
        }
        // SAFETY: no other thread exists yet (the model and its workers are created below,
        // and nothing before this point spawns threads), so nothing can read the environment
        // concurrently; the kernels read GGUFEMBED_ISA once, on their first use, after this.
        unsafe { std::env::set_var("GGUFEMBED_ISA", isa.name()) };
    }

    let mut options = Options::default()
        .parallelism(args.parallelism)
        .device(args.device);
    if let Some(t) = args.threads {
        options = options.threads(usize::from(t));
    }
    if let Some(t) = args.token_budget {
        options = options.token_budget(t as usize);
    }
    if let Some(m) = args.max_len {
        options = options.max_len(m as usize);
    }
    let t = Instant::now();
    let model = ggufembed::open_with(&args.model, options)
        .map_err(|e| format!("{}: {e}", args.model.display()))?;
    let load = t.elapsed();
    let isa = kernels::kernels().isa();
    if let Some(want) = args.isa.filter(|&w| w != isa) {
        return Err(format!(
            "--isa {want}: the kernels fell back to {isa} (the tier failed its self-check)"
        ));
    }

    // The peak probe runs before and after the workload; the better of the two counts (a
    // co-tenant on a shared machine can spoil one).
    let matrix_type = probe::matrix_type(model.gguf());
    let peak_before = probe::run(matrix_type);

    let work = match &args.input {
        Some(path) => workload::from_file(path, args.text_lines, args.limit.map(|l| l as usize))?,
        None => {
            let lengths: Vec<usize> = args.lengths.iter().map(|&l| l as usize).collect();
            workload::synthetic(&model, &lengths, args.count as usize)?
        }
    };
    let texts = &work.texts;
    let max_len = model.max_len();
    let tok = model.tokenizer();
    // Each text's token count as embedded (after truncation), for the report.
    let mut tokens = Vec::with_capacity(texts.len());
    let mut truncated = 0;
    let mut buf = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let cut = tok
            .encode_truncated_into(text, max_len, &mut buf)
            .map_err(|e| format!("text {i}: {e}"))?;
        tokens.push(buf.len());
        truncated += usize::from(cut);
    }

    let batch = args.batch_size as usize;
    let chunks: Vec<Range<usize>> = (0..texts.len())
        .step_by(batch)
        .map(|s| s..(s + batch).min(texts.len()))
        .collect();
    let mut bufs: Vec<Vec<u32>> = vec![Vec::new(); batch.min(texts.len())];
    let mut call = |r: Range<usize>| -> Result<CallStats, String> {
        let n = r.len();
        let (a0, b0) = allocations();
        let t0 = Instant::now();
        {
            let _t = profile::scope(Op::Tokenize);
            for (b, (i, text)) in bufs.iter_mut().zip(texts[r.clone()].iter().enumerate()) {
                tok.encode_truncated_into(text, max_len, b)
                    .map_err(|e| format!("text {}: {e}", r.start + i))?;
            }
        }
        let (a1, _) = allocations();
        let embeddings = model.embed_tokens(&bufs[..n]).map_err(|e| e.to_string())?;
        let latency = t0.elapsed();
        let (a2, b2) = allocations();
        drop(std::hint::black_box(embeddings));
        Ok(CallStats {
            latency,
            tokenize_allocs: a1 - a0,
            embed_allocs: a2 - a1,
            bytes: b2 - b0,
        })
    };

    // Timers on during the warm-up too: each thread registers its counters (one allocation)
    // the first time it records, which should not land in a measured call.
    profile::enable(!args.no_timers);
    for _ in 0..args.warmup {
        for r in &chunks {
            call(r.clone())?;
        }
    }
    profile::reset();
    let sampler = match &args.flamegraph {
        Some(out) => Some(flame::Sampler::start(out)?),
        None => None,
    };
    let cpu0 = process_cpu_time();
    let start = Instant::now();
    let mut calls = Vec::with_capacity(chunks.len() * args.iterations as usize);
    for _ in 0..args.iterations {
        for r in &chunks {
            calls.push(call(r.clone())?);
        }
    }
    let wall = start.elapsed();
    let cpu = process_cpu_time()
        .zip(cpu0)
        .map(|(b, a)| b.saturating_sub(a));
    let timers = profile::is_enabled();
    let prof = profile::take();
    profile::enable(false);
    let flamegraph = match (sampler, &args.flamegraph) {
        (Some(s), Some(out)) => Some((out.display().to_string(), s.finish()?)),
        _ => None,
    };
    let peak = probe::run(matrix_type);
    let peak = if peak.gops >= peak_before.gops {
        peak
    } else {
        peak_before
    };

    let run = Run {
        model_path: args.model.display().to_string(),
        architecture: model.architecture().to_string(),
        dim: model.dim(),
        matrix_type: matrix_type.map_or("unknown".into(), |t| t.to_string()),
        load,
        threads: model.threads(),
        batch_size: batch,
        parallelism: parallelism_name(args.parallelism),
        token_budget: model.token_budget(),
        max_len,
        isa: isa.name(),
        device: match model.gpu_adapter() {
            Some(a) => format!("gpu: {a}"),
            None => "cpu".into(),
        },
        iterations: args.iterations,
        warmup: args.warmup,
        timers,
        timers_compiled_in: profile::COMPILED_IN,
        workload: &work,
        tokens: &tokens,
        truncated,
        calls: &calls,
        wall,
        cpu,
        profile: timers.then_some(prof),
        peak,
        peak_rss: peak_rss(),
        flamegraph,
    };
    let out = if args.json {
        let mut s = run.to_json().to_string();
        s.push('\n');
        s
    } else {
        run.to_text()
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write the report: {e}"))
}

/// CPU time of all the process's live threads (Linux: `/proc/self/task/*/schedstat`).
fn process_cpu_time() -> Option<Duration> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let mut ns = 0u64;
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        ns += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(ns))
}

/// Peak resident set size in bytes (Linux: `VmHWM` in `/proc/self/status`).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
