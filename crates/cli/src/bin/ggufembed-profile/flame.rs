//! `--flamegraph`: in-process sampling with the `pprof` crate (cargo feature `flamegraph`).

use std::path::{Path, PathBuf};

/// The message when this build has no sampler.
#[cfg(not(feature = "flamegraph"))]
pub const UNAVAILABLE: &str = "--flamegraph needs the `flamegraph` cargo feature, which this \
     build lacks: rebuild with `cargo build --profile profiling -p ggufembed --features \
     flamegraph --bin ggufembed-profile` (or use scripts/flamegraph.sh)";

/// Samples every thread of the process from [`Sampler::start`] to [`Sampler::finish`].
#[cfg_attr(not(feature = "flamegraph"), allow(dead_code))]
pub struct Sampler {
    out: PathBuf,
    #[cfg(feature = "flamegraph")]
    guard: pprof::ProfilerGuard<'static>,
}

impl Sampler {
    /// Starts sampling at about 1 kHz; the SVG goes to `out` on [`finish`](Sampler::finish).
    #[cfg(feature = "flamegraph")]
    pub fn start(out: &Path) -> Result<Sampler, String> {
        let guard = pprof::ProfilerGuardBuilder::default()
            .frequency(997)
            .blocklist(&["libc", "libgcc", "pthread", "vdso"])
            .build()
            .map_err(|e| format!("cannot start the sampling profiler: {e}"))?;
        Ok(Sampler {
            out: out.to_path_buf(),
            guard,
        })
    }

    /// Without the `flamegraph` feature: always an error saying how to rebuild.
    #[cfg(not(feature = "flamegraph"))]
    pub fn start(out: &Path) -> Result<Sampler, String> {
        let _ = out;
        Err(UNAVAILABLE.into())
    }

    /// Stops sampling and writes the flame graph; returns the number of samples.
    ///
    /// Each stack is cut to start at its first frame of this project's code past the worker
    /// pool's entry point (thread start-up and rayon's plumbing, some 30 frames, are left out),
    /// under one root for all the pool's workers (`ggufembed-N`) and one per other thread.
    #[cfg(feature = "flamegraph")]
    pub fn finish(self) -> Result<usize, String> {
        let report = self
            .guard
            .report()
            .build()
            .map_err(|e| format!("cannot build the sampling report: {e}"))?;
        drop(self.guard);
        let mut samples = 0usize;
        let mut lines: Vec<String> = report
            .data
            .iter()
            .map(|(frames, &count)| {
                samples += count.max(0) as usize;
                let names: Vec<String> = frames
                    .frames
                    .iter()
                    .rev()
                    .flat_map(|f| f.iter().rev().map(|s| s.name()))
                    .collect();
                let start = names.iter().position(|n| is_ours(n)).unwrap_or(0);
                format!(
                    "{};{} {count}",
                    thread_root(&frames.thread_name_or_id()),
                    names[start..].join(";")
                )
            })
            .collect();
        if lines.is_empty() {
            return Err("the sampler took no samples (is the run too short?)".into());
        }
        lines.sort();
        let file = std::fs::File::create(&self.out)
            .map_err(|e| format!("cannot create {}: {e}", self.out.display()))?;
        let mut options = pprof::flamegraph::Options::default();
        options.title = "ggufembed-profile (pprof, in process)".into();
        options.min_width = 0.2;
        pprof::flamegraph::from_lines(
            &mut options,
            lines.iter().map(String::as_str),
            std::io::BufWriter::new(file),
        )
        .map_err(|e| format!("cannot write {}: {e}", self.out.display()))?;
        Ok(samples)
    }

    /// Without the `flamegraph` feature there is never a sampler to finish.
    #[cfg(not(feature = "flamegraph"))]
    pub fn finish(self) -> Result<usize, String> {
        Err(format!("{}: {UNAVAILABLE}", self.out.display()))
    }
}

/// Whether a frame is this project's code past the worker pool's entry point (where a trimmed
/// stack starts).
#[cfg_attr(not(feature = "flamegraph"), allow(dead_code))]
fn is_ours(frame: &str) -> bool {
    let name = frame.trim_start_matches('<');
    (name.starts_with("ggufembed") || name.starts_with("gguf_loader"))
        && !name.contains("WorkerPool::run_workers")
}

/// The root frame of a thread's stacks: the pool's workers share one.
#[cfg_attr(not(feature = "flamegraph"), allow(dead_code))]
fn thread_root(name: &str) -> &str {
    match name.strip_prefix("ggufembed-") {
        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => "ggufembed workers",
        _ => name,
    }
}
