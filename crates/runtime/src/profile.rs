//! Per-operation timers for the profiling harness (`ggufembed-profile`).
//!
//! A forward pass wraps each operation in a [`scope`] guard: `let _t = profile::scope(Op::Qkv);`.
//! While timing is off (the default) a scope reads one relaxed [`AtomicBool`] and does nothing
//! else; built with the `profile-off` cargo feature it compiles to nothing at all. While on
//! ([`enable`]), it reads [`Instant::now`] at both ends and adds the elapsed nanoseconds, one
//! call and the operation's arithmetic count (FLOPs / integer ops, where the caller knows it)
//! to the calling thread's counters. No lock and no allocation on that path: each thread owns a
//! fixed array of atomics, registered once (the first time it records) in a global list from
//! which [`take`] sums every thread's counters, the worker pool's included.
//!
//! **Self time.** Scopes nest: a scope opened inside another is charged its own time, and that
//! time is taken off the enclosing scope's, so every nanosecond is counted once and the
//! operations' times add up to the time spent inside outermost scopes.
//!
//! **Helpers.** When a matmul's columns are split across workers, the helper threads run parts
//! of an operation that was opened on another thread; [`assist`] charges their time to that
//! operation (found with [`current`] on the thread that split it) without counting a call.
//!
//! The granularity is whole operations — a few dozen scopes per layer per micro-batch — so the
//! cost of an enabled scope (two clock reads and a few uncontended atomic adds, ~50 ns) is far
//! below the microseconds each operation takes.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// An operation of a forward pass (or of the work around it) that time is charged to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Op {
    /// Text to token ids (timed by the caller: the runtime never tokenizes inside a pass).
    Tokenize,
    /// Embedding lookup: token, position and type rows summed.
    Embed,
    /// LayerNorm / RMSNorm, including a fused residual add.
    Norm,
    /// Quantizing activations to int8 for Q8_0 matmuls.
    Quantize,
    /// The Q, K and V projections.
    Qkv,
    /// Rotary position embeddings.
    Rope,
    /// Attention proper: `softmax(QKᵀ/√d)·V` per sequence.
    Attention,
    /// The attention output projection.
    AttnOut,
    /// FFN up projection.
    FfnUp,
    /// FFN gate projection (gated FFNs).
    FfnGate,
    /// Activation (GELU, GeGLU, …), including a fused bias add.
    Activation,
    /// FFN down projection.
    FfnDown,
    /// Dense projections after pooling (sentence-transformers `Dense` layers).
    Dense,
    /// Pooling per sequence (mean, CLS, last) and normalization of the pooled vectors.
    Pooling,
    /// Anything else worth timing.
    Other,
}

impl Op {
    /// Number of operations.
    pub const COUNT: usize = 15;

    /// Every operation, in the order of a forward pass.
    pub const ALL: [Op; Op::COUNT] = [
        Op::Tokenize,
        Op::Embed,
        Op::Norm,
        Op::Quantize,
        Op::Qkv,
        Op::Rope,
        Op::Attention,
        Op::AttnOut,
        Op::FfnUp,
        Op::FfnGate,
        Op::Activation,
        Op::FfnDown,
        Op::Dense,
        Op::Pooling,
        Op::Other,
    ];

    /// A short lower-case name for reports (`"qkv"`, `"ffn_up"`, …).
    pub fn name(self) -> &'static str {
        match self {
            Op::Tokenize => "tokenize",
            Op::Embed => "embed_lookup",
            Op::Norm => "norm",
            Op::Quantize => "quantize",
            Op::Qkv => "qkv",
            Op::Rope => "rope",
            Op::Attention => "attention",
            Op::AttnOut => "attn_out",
            Op::FfnUp => "ffn_up",
            Op::FfnGate => "ffn_gate",
            Op::Activation => "activation",
            Op::FfnDown => "ffn_down",
            Op::Dense => "dense",
            Op::Pooling => "pooling",
            Op::Other => "other",
        }
    }

    /// Whether this is a matmul family (its op count is `2·m·k·n`).
    pub fn is_matmul(self) -> bool {
        matches!(
            self,
            Op::Qkv | Op::AttnOut | Op::FfnUp | Op::FfnGate | Op::FfnDown | Op::Dense
        )
    }

    fn from_index(i: u8) -> Option<Op> {
        Op::ALL.get(usize::from(i)).copied()
    }
}

/// Whether the timers are compiled in (false with the `profile-off` feature, where [`enable`]
/// has no effect and every scope is a no-op).
pub const COMPILED_IN: bool = !cfg!(feature = "profile-off");

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns the timers on or off for the whole process (off by default).
pub fn enable(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether the timers are on.
#[inline(always)]
pub fn is_enabled() -> bool {
    COMPILED_IN && ENABLED.load(Ordering::Relaxed)
}

/// One thread's counters: nanoseconds (self time, wrapping while a parent scope is open), calls
/// and arithmetic operations per [`Op`].
struct Counters {
    ns: [AtomicU64; Op::COUNT],
    calls: [AtomicU64; Op::COUNT],
    ops: [AtomicU64; Op::COUNT],
}

impl Counters {
    fn new() -> Counters {
        Counters {
            ns: std::array::from_fn(|_| AtomicU64::new(0)),
            calls: std::array::from_fn(|_| AtomicU64::new(0)),
            ops: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// Every thread's counters that ever recorded (a thread's stay after it exits, so its last
/// counts are not lost; [`take`] drops them once harvested).
static REGISTRY: Mutex<Vec<Arc<Counters>>> = Mutex::new(Vec::new());

/// No scope open on this thread.
const NONE: u8 = u8::MAX;

struct Local {
    counters: Arc<Counters>,
    /// The innermost open scope's op, or [`NONE`].
    current: Cell<u8>,
}

impl Local {
    fn new() -> Local {
        let counters = Arc::new(Counters::new());
        REGISTRY
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(counters.clone());
        Local {
            counters,
            current: Cell::new(NONE),
        }
    }
}

thread_local! {
    static LOCAL: Local = Local::new();
}

/// Times an operation until dropped (see the module docs). Create with [`scope`],
/// [`scope_ops`] or [`assist`].
#[must_use = "a scope times the code until it is dropped"]
#[derive(Debug)]
pub struct Scope {
    /// `None` when the timers were off at creation: dropping does nothing.
    start: Option<Instant>,
    op: u8,
    parent: u8,
}

/// Starts timing `op` on this thread (one call, no arithmetic count).
#[inline(always)]
pub fn scope(op: Op) -> Scope {
    scope_ops(op, 0)
}

/// Starts timing `op` on this thread, counting one call of `ops` arithmetic operations (for a
/// matmul `2·m·k·n`).
#[inline(always)]
pub fn scope_ops(op: Op, ops: u64) -> Scope {
    if !is_enabled() {
        return Scope {
            start: None,
            op: NONE,
            parent: NONE,
        };
    }
    begin(op, 1, ops)
}

/// Starts timing `op` on a thread helping another run it: the time is charged to `op`, but no
/// call is counted (the thread that opened `op` counted it).
#[inline(always)]
pub fn assist(op: Op) -> Scope {
    if !is_enabled() {
        return Scope {
            start: None,
            op: NONE,
            parent: NONE,
        };
    }
    begin(op, 0, 0)
}

#[inline(never)]
fn begin(op: Op, calls: u64, ops: u64) -> Scope {
    let i = op as usize;
    let parent = LOCAL
        .try_with(|l| {
            l.counters.calls[i].fetch_add(calls, Ordering::Relaxed);
            l.counters.ops[i].fetch_add(ops, Ordering::Relaxed);
            l.current.replace(op as u8)
        })
        .ok();
    match parent {
        Some(parent) => Scope {
            start: Some(Instant::now()),
            op: op as u8,
            parent,
        },
        // The thread is being torn down: nothing to record into.
        None => Scope {
            start: None,
            op: NONE,
            parent: NONE,
        },
    }
}

impl Drop for Scope {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(start) = self.start {
            end(start, self.op, self.parent);
        }
    }
}

#[inline(never)]
fn end(start: Instant, op: u8, parent: u8) {
    let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
    let _ = LOCAL.try_with(|l| {
        l.counters.ns[usize::from(op)].fetch_add(ns, Ordering::Relaxed);
        if parent != NONE {
            // Self time: the enclosing scope will add its whole span, this part included.
            l.counters.ns[usize::from(parent)].fetch_sub(ns, Ordering::Relaxed);
        }
        l.current.set(parent);
    });
}

/// The operation this thread is inside (its innermost open scope), if the timers are on.
#[inline(always)]
pub fn current() -> Option<Op> {
    if !is_enabled() {
        return None;
    }
    LOCAL
        .try_with(|l| Op::from_index(l.current.get()))
        .ok()
        .flatten()
}

/// The totals of one [`Op`] over every thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpStats {
    /// Nanoseconds of self time, summed over threads (so up to `threads ×` wall time).
    pub ns: u64,
    /// Calls (scopes opened by [`scope`] / [`scope_ops`]; helpers' [`assist`] scopes excluded).
    pub calls: u64,
    /// Arithmetic operations (FLOPs or integer ops) counted by [`scope_ops`].
    pub ops: u64,
}

/// Every operation's totals, as returned by [`take`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    stats: [OpStats; Op::COUNT],
}

impl Profile {
    /// The totals of `op`.
    pub fn get(&self, op: Op) -> OpStats {
        self.stats[op as usize]
    }

    /// Every operation with its totals, in [`Op::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Op, OpStats)> + '_ {
        Op::ALL.into_iter().map(|op| (op, self.get(op)))
    }

    /// Nanoseconds summed over all operations and threads.
    pub fn total_ns(&self) -> u64 {
        self.stats.iter().map(|s| s.ns).sum()
    }
}

/// Returns every thread's totals since the last `take` and resets them to zero.
///
/// Call it while no scope is open (between calls into the model): a scope open on another
/// thread is counted when it closes, into the next `take`. Allocates nothing.
pub fn take() -> Profile {
    let mut p = Profile::default();
    let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    for c in registry.iter() {
        for (i, s) in p.stats.iter_mut().enumerate() {
            // A parent's count is transiently "negative" while a child has closed and it has
            // not: read as signed and clamp.
            let ns = c.ns[i].swap(0, Ordering::Relaxed) as i64;
            s.ns = s.ns.saturating_add(ns.max(0) as u64);
            s.calls += c.calls[i].swap(0, Ordering::Relaxed);
            s.ops += c.ops[i].swap(0, Ordering::Relaxed);
        }
    }
    // Threads that have exited (only the registry holds their counters): harvested, drop them.
    registry.retain(|c| Arc::strong_count(c) > 1);
    p
}

/// Resets every thread's counters to zero.
pub fn reset() {
    let _ = take();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The tests share the global switch and registry: one test body.
    #[test]
    fn scopes_nest_as_self_time_and_are_summed_across_threads() {
        // Off: nothing recorded.
        enable(false);
        reset();
        {
            let _t = scope_ops(Op::Qkv, 100);
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(take(), Profile::default());
        assert_eq!(current(), None);
        if !COMPILED_IN {
            return;
        }

        // Ops no other unit test of this crate times (they may run forward passes meanwhile).
        let (outer_op, inner_op) = (Op::Tokenize, Op::Other);
        enable(true);
        let t0 = Instant::now();
        let mut helper_wall = Duration::ZERO;
        {
            let _outer = scope_ops(outer_op, 1000);
            assert_eq!(current(), Some(outer_op));
            std::thread::sleep(Duration::from_millis(4));
            {
                let _inner = scope(inner_op);
                assert_eq!(current(), Some(inner_op));
                std::thread::sleep(Duration::from_millis(6));
            }
            assert_eq!(current(), Some(outer_op));
            std::thread::scope(|s| {
                s.spawn(|| {
                    let t = Instant::now();
                    {
                        let _h = assist(outer_op);
                        std::thread::sleep(Duration::from_millis(3));
                    }
                    helper_wall = t.elapsed();
                });
            });
        }
        let wall = t0.elapsed();
        assert_eq!(current(), None);
        enable(false);
        let p = take();
        let (up, q) = (p.get(outer_op), p.get(inner_op));
        assert_eq!((up.calls, up.ops), (1, 1000));
        assert_eq!((q.calls, q.ops), (1, 0));
        assert!(q.ns >= 6_000_000, "{q:?}");
        // 4 ms own + 3 ms waiting for the helper on this thread, 3 ms on the helper; the inner
        // scope's time is not in it.
        assert!(up.ns >= 10_000_000, "{up:?}");
        let bound = (wall + helper_wall).as_nanos() as u64;
        assert!(up.ns + q.ns <= bound, "{p:?} > {bound} ns");
        // Harvested: the next take holds none of this test's ops (other unit tests running a
        // forward pass while profiling was on may still add theirs: a scope open across
        // `enable(false)` records when it ends, which made a whole-profile check flaky).
        let again = take();
        let (up, q) = (again.get(outer_op), again.get(inner_op));
        assert_eq!((up.calls, up.ns, q.calls, q.ns), (0, 0, 0, 0), "{again:?}");
    }
}
