//! After warm-up, embedding allocates only its result: a fixed, small number of allocations
//! whatever the number and length of the texts (the workers' buffers are reused).
//!
//! A counting global allocator (this test binary only) counts allocations on every thread,
//! the pool's workers included.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{TinyBert, WORDS};
use gguf_loader::GgmlType;
use ggufembed::{Options, Parallelism};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: delegates to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_of(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    f();
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

fn batch(texts: usize, len: usize) -> Vec<Vec<u32>> {
    // Ids 2 = [CLS], 3 = [SEP]; words from the tiny vocabulary in between.
    (0..texts)
        .map(|t| {
            let mut ids = vec![2];
            ids.extend((0..len.saturating_sub(2)).map(|i| 5 + ((t + i) % WORDS.len()) as u32));
            ids.push(3);
            ids
        })
        .collect()
}

#[test]
fn steady_state_embedding_allocates_only_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let path = TinyBert {
        n_embd: 128,
        n_ff: 512,
        n_ctx: 64,
        matrix_type: GgmlType::Q8_0,
        ..TinyBert::default()
    }
    .write(dir.path(), "m.gguf");
    for mode in [Parallelism::AcrossTexts, Parallelism::WithinMatmul] {
        let model = ggufembed::open_with(
            &path,
            Options::default()
                .threads(2)
                .parallelism(mode)
                .token_budget(256),
        )
        .unwrap();
        // Warm-up: the largest micro-batches, on every worker.
        let big = batch(64, 64);
        for _ in 0..3 {
            model.embed_tokens(&big).unwrap();
        }
        let mut counts = Vec::new();
        for (texts, len) in [(1, 5), (2, 64), (7, 33), (64, 64), (40, 12), (3, 2)] {
            let b = batch(texts, len);
            let n = allocations_of(|| {
                let e = model.embed_tokens(&b).unwrap();
                assert_eq!(e.len(), texts);
            });
            counts.push(((texts, len), n));
        }
        println!("{mode:?}: allocations per call {counts:?}");
        // The result (4 vectors: values, token counts, truncation flags, row offsets), the
        // schedule (order and micro-batches) and one boxed job per extra worker: measured 6–7,
        // whatever the batch.
        let limit = 8;
        for &((texts, len), n) in &counts {
            assert!(
                n <= limit,
                "{mode:?}: {n} allocations for {texts} texts of {len} tokens (limit {limit})"
            );
        }
    }
}
