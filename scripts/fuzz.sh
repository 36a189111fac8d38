#!/usr/bin/env bash
# Fuzzes the GGUF reader with libFuzzer (cargo-fuzz) for SECONDS (default 600).
# cargo-fuzz needs nightly-only sanitizer flags; on a stable toolchain RUSTC_BOOTSTRAP=1 lets
# them through. The corpus is seeded with small valid files written by the project's own tests
# and, when present, the head of the shared MiniLM GGUF (header, metadata and tensor infos).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
corpus=crates/gguf-loader/fuzz/corpus/parse
mkdir -p "$corpus"
if [ -f ../shared/models/all-MiniLM-L6-v2.q8_0.gguf ]; then
    # The first 640 KiB hold everything but tensor data.
    head -c 655360 ../shared/models/all-MiniLM-L6-v2.q8_0.gguf > "$corpus/minilm-head.gguf"
fi
cargo run -q -p gguf-loader --example write_seed_corpus -- "$corpus"
cd crates/gguf-loader
RUSTC_BOOTSTRAP=1 cargo fuzz run parse "fuzz/corpus/parse" -- \
    -max_total_time="$seconds" -max_len=1048576 -rss_limit_mb=2048 -print_final_stats=1
