#!/usr/bin/env bash
# Writes a Qwen3-Embedding-0.6B-shaped Q8_0 GGUF with random weights (width 1024, 28 layers,
# 16 query heads and 8 KV heads of width 128, FFN 3072, context 32768, last-token pooling) for
# speed measurements, with the project's own GGUF writer. The tokenizer is the tiny
# Qwen3-Embedding's (crates/runtime/tests/data), or the one of TOKENIZER.gguf.
#
#   scripts/make-bench-qwen3.sh OUT.gguf [TOKENIZER.gguf]
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 OUT.gguf [TOKENIZER.gguf]" >&2
    exit 2
fi
out=$(realpath -m "$1")
tok=${2:+$(realpath "$2")}
cd "$(dirname "$0")/.."
mkdir -p "$(dirname "$out")"
cargo run -q --release --locked -p ggufembed-runtime --example make_bench_qwen3 -- "$out" ${tok:+"$tok"}
