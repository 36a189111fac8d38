//! Property: no mutation or truncation of a valid file makes the reader panic, read out of
//! bounds, or allocate more than a small multiple of the file's size in one allocation.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use gguf_loader::GgufFile;
use proptest::prelude::*;

/// Records the largest single allocation made by this thread (tests run in parallel, so other
/// threads' allocations must not count).
struct LargestAllocation;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn record(size: usize) {
    // `try_with` fails only while the thread is being torn down; nothing to record then.
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

// SAFETY: forwards every call to the system allocator unchanged; only records sizes.
unsafe impl GlobalAlloc for LargestAllocation {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: LargestAllocation = LargestAllocation;

/// Parses and touches everything a caller could: metadata, every tensor's bytes and views.
fn exercise(bytes: &[u8]) {
    if let Ok(file) = GgufFile::from_bytes(bytes) {
        for (k, v) in file.metadata() {
            let _ = (k.len(), v.type_description());
        }
        for t in file.tensors() {
            let data = file.tensor_bytes(t);
            assert_eq!(data.len() as u64, t.n_bytes());
            let _ = file.view::<u8>(t);
            let _ = file.view_f32(t);
            let _ = file.view::<[u8; 34]>(t);
        }
    }
}

fn check_allocation_bound(len: usize) {
    let largest = LARGEST.with(|l| l.replace(0));
    // The aligned copy of the input is one allocation of `len` rounded up to 8; parsed
    // structures are at most a few times the bytes they were read from.
    let bound = 8 * len + 4096;
    assert!(
        largest <= bound,
        "an allocation of {largest} bytes for a {len}-byte file"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_files_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let mut bytes = common::valid_file();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        LARGEST.with(|l| l.set(0));
        exercise(&bytes);
        check_allocation_bound(bytes.len());
    }

    #[test]
    fn huge_little_endian_words_never_panic(
        at in any::<prop::sample::Index>(),
        word in prop_oneof![Just(u64::MAX), Just(1u64 << 63), Just(1u64 << 62), Just(1u64 << 32), any::<u64>()],
    ) {
        // Writing a huge 8-byte word anywhere hits counts, lengths, dims and offsets.
        let mut bytes = common::valid_file();
        let i = at.index(bytes.len() - 8);
        bytes[i..i + 8].copy_from_slice(&word.to_le_bytes());
        LARGEST.with(|l| l.set(0));
        exercise(&bytes);
        check_allocation_bound(bytes.len());
    }
}

#[test]
fn every_truncation_is_refused_without_panic() {
    let bytes = common::valid_file();
    assert!(GgufFile::from_bytes(&bytes).is_ok());
    for len in 0..bytes.len() {
        // Truncating only trailing padding of the last tensor still leaves a valid file.
        if let Ok(file) = GgufFile::from_bytes(&bytes[..len]) {
            let last = file
                .tensors()
                .iter()
                .map(|t| t.offset() + t.n_bytes())
                .max()
                .unwrap_or(0);
            assert!(file.data_offset() + last <= len as u64);
        }
    }
}
