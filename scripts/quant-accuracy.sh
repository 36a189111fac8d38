#!/usr/bin/env bash
# Issue 17's accuracy bars on every llama-quantize type of all-MiniLM-L6-v2: ours vs
# sentence-transformers against llama.cpp's own figures on the same file, and ours vs llama.cpp's
# embeddings. The models come from scripts/peers/make-quant-models.sh DIR (with llama.cpp's
# embeddings beside them); prints the table that docs/PERFORMANCE.md quotes.
#
#   scripts/quant-accuracy.sh [DIR]      (default: /work/peers/models)
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-${GGUFEMBED_QUANT_MODELS:-/work/peers/models}}"
[ -d "$dir" ] || { echo "no such folder: $dir (run scripts/peers/make-quant-models.sh DIR)" >&2; exit 1; }
GGUFEMBED_QUANT_MODELS="$(cd "$dir" && pwd)" exec cargo test --release -p ggufembed --test accuracy_quant \
    every_llama_quantize_file_meets_the_bars -- --nocapture
