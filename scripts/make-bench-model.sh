#!/usr/bin/env bash
# Writes a benchmark model with the project's own GGUF writer: random Q8_0 weights at a real
# model's shape, in llama.cpp's tensor names and metadata (so llama.cpp loads the same file),
# for speed measurements. ARCH (shapes in crates/testkit/src/bench_model.rs):
#   gemma        EmbeddingGemma-300M: 768 wide, 24 layers, 3/1 heads of 256, FFN 1152, window 512, dense 3072/768
#   qwen3        Qwen3-Embedding-0.6B: 1024 wide, 28 layers, 16/8 heads of 128, FFN 3072, last-token pooling
#   nomic-bert   nomic-embed-text-v1.5: 768 wide, 12 layers, 12 heads, SwiGLU 3072
#   modern-bert  ModernBERT-base: 768 wide, 22 layers, 12 heads, GeGLU 1152, window 128, every 3rd layer global
# The tokenizer is the architecture's tiny model's (crates/runtime/tests/data), or TOKENIZER.gguf's.
#
#   scripts/make-bench-model.sh ARCH OUT.gguf [TOKENIZER.gguf]
set -euo pipefail
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 gemma|qwen3|nomic-bert|modern-bert OUT.gguf [TOKENIZER.gguf]" >&2
    exit 2
fi
arch=$1
out=$(realpath -m "$2")
tok=${3:+$(realpath "$3")}
cd "$(dirname "$0")/.."
mkdir -p "$(dirname "$out")"
cargo run -q --release --locked -p ggufembed-runtime --example make_bench_model -- "$arch" "$out" ${tok:+"$tok"}
