#!/usr/bin/env bash
# Writes an EmbeddingGemma-300M-shaped Q8_0 GGUF with random weights (width 768, 24 layers,
# 3 query heads, 1 KV head of width 256, FFN 1152, sliding window 512, dense 768→3072→768,
# context 2048) for speed measurements, with the project's own GGUF writer. The tokenizer is
# the tiny EmbeddingGemma's (crates/runtime/tests/data), or the one of TOKENIZER.gguf.
#
#   scripts/make-bench-gemma.sh OUT.gguf [TOKENIZER.gguf]
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 OUT.gguf [TOKENIZER.gguf]" >&2
    exit 2
fi
out=$(realpath -m "$1")
tok=${2:+$(realpath "$2")}
cd "$(dirname "$0")/.."
mkdir -p "$(dirname "$out")"
cargo run -q --release --locked -p ggufembed-runtime --example make_bench_gemma -- "$out" ${tok:+"$tok"}
