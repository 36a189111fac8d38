#!/usr/bin/env bash
# The Python package's tests (python/, crates/python): builds the wheel with maturin in a venv
# from PyPI, installs it, and runs pytest against the CLI (`ggufembed embed` is the reference).
#
#   scripts/python-test.sh           core suite, then the Daft (native runner) and Ray tests
#                                    when daft and ray install from PyPI
#   scripts/python-test.sh --core    core suite only (no daft/ray install)
#   scripts/python-test.sh --full    also the opt-in tests marked `full` (all 2,000 of
#                                    bench-sentences through Daft's two entry points; needs
#                                    ../shared; 1.5 min more at load ~30)
#
# Needs python3 with venv and pip, and PyPI. Venv: target/python-venv (override with
# GGUFEMBED_PY_VENV). The wheel is built in the dev profile (the workspace tests' artefacts are
# reused; kernels are optimised in it), so this step stays a few minutes in CI. Under CI=true a
# core package that cannot be installed fails the run; daft/ray that cannot be installed print
# SKIPPED and their tests are deselected (they are integrations, not the package).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/needs.sh

core_only=false
full=false
case "${1:-}" in
    --core) core_only=true ;;
    --full) full=true ;;
    "") ;;
    *) echo "usage: scripts/python-test.sh [--core | --full]" >&2; exit 2 ;;
esac

venv=${GGUFEMBED_PY_VENV:-target/python-venv}
if ! need_cmd python3 || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    skip_or_fail "the Python package tests" "python3 with venv and pip (Debian: python3-venv)"
    exit 0
fi
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    rm -rf "$venv"
    python3 -m venv "$venv"
fi
py="$venv/bin/python"
pip_install() { "$py" -m pip install --quiet --disable-pip-version-check "$@"; }

if [ "${GGUFEMBED_NO_INSTALL:-}" = 1 ] && ! "$py" -c 'import maturin, numpy, pyarrow, pytest' 2>/dev/null; then
    skip_or_fail "the Python package tests (GGUFEMBED_NO_INSTALL=1)" "pip install maturin numpy pyarrow pytest"
    exit 0
fi
if ! pip_install "maturin>=1.7,<2" numpy pyarrow pytest; then
    skip_or_fail "the Python package tests" "pip install maturin numpy pyarrow pytest (PyPI)"
    exit 0
fi

extras=false
if ! $core_only; then
    if "$py" -c 'import daft, ray' 2>/dev/null || pip_install "daft>=0.7" "ray[data]>=2.40"; then
        extras=true
    else
        echo "SKIPPED: the Daft and Ray tests (install: pip install daft 'ray[data]')"
    fi
fi

echo "-- the CLI (reference) and the wheel"
cargo build --locked --bin ggufembed
target_dir=${CARGO_TARGET_DIR:-target}
case "$target_dir" in /*) ;; *) target_dir=$PWD/$target_dir ;; esac
export GGUFEMBED_CLI=$target_dir/debug/ggufembed
rm -rf target/wheels
(cd python && "../$py" -m maturin build --locked --out ../target/wheels)
pip_install --force-reinstall --no-deps target/wheels/ggufembed-*.whl

echo "-- pytest"
# `python -m pytest` from python/tests: the venv's interpreter itself (a copied venv's
# bin/pytest may have a shebang pointing at another checkout's venv, which then tests that
# checkout's wheel), and python/tests, not python/, first on sys.path (python/ would import the
# source tree, which has no compiled module, instead of the wheel); pytest still finds
# python/pyproject.toml's settings.
py=$(realpath -s "$py")
cd python/tests
marks="not full"
$full && marks=""
$extras || marks="not daft and not ray${marks:+ and $marks}"
"$py" -m pytest -p no:cacheprovider -q ${marks:+-m "$marks"}
