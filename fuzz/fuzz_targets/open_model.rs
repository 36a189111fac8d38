//! Arbitrary bytes → `GgufFile` → `ggufembed::Model` for whichever registered architecture the
//! file names, then one small batch through `embed`. Seeded with tiny valid models
//! (`fuzz/seeds/open_model/`, one per architecture name) so that mutations land in metadata and
//! shapes. Must return an error or a model, never panic or abort, and never hold more memory
//! than a bound derived from the file's size ([`bound`]): a counting global allocator tracks the
//! bytes live at once while the file is opened, the model built and one batch embedded.
//! Run: `scripts/fuzz.sh open_model SECONDS` (see docs/SECURITY.md).
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use ggufembed::gguf_loader::GgufFile;
use ggufembed::{Model, Options};
use libfuzzer_sys::fuzz_target;

/// The system allocator, counting the bytes live and their high-water mark.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call forwards to `System` with the caller's layout and pointer unchanged; the
// counters are plain atomics and never affect what is allocated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most memory opening, building and one small embed may hold at once, beyond what was
/// live before: 64 bytes per byte of file (tables built from metadata and tensors: a
/// vocabulary's strings and hash maps, f32 copies of f16 norms, RoPE tables bounded by the
/// position count the tensors imply) plus 32 MiB of fixed buffers (the pooled activations of
/// one micro-batch). A file whose metadata claims more than its bytes can back must be refused
/// before it allocates.
fn bound(file_len: usize) -> usize {
    file_len.saturating_mul(64).saturating_add(32 << 20)
}

fuzz_target!(|data: &[u8]| {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    run(data);
    let held = PEAK.load(Ordering::Relaxed) - base;
    assert!(
        held <= bound(data.len()),
        "held {held} bytes at once for a {}-byte file (bound {})",
        data.len(),
        bound(data.len())
    );
});

fn run(data: &[u8]) {
    let Ok(file) = GgufFile::from_bytes(data) else {
        return;
    };
    let Ok(model) = Model::from_file(file, Options::default().threads(1)) else {
        return;
    };
    assert!(model.dim() > 0 && model.max_len() > 0);
    let _ = model.architecture();
    // Mutated weights may hold NaN or infinities, so only the shape is checked here (finite
    // outputs from valid weights are `embed_tiny`'s check).
    if let Ok(e) = model.embed(&["the cat sat", ""]) {
        assert_eq!(e.len(), 2);
        assert_eq!(e.as_slice().len(), e.rows() * e.dim());
    }
}
