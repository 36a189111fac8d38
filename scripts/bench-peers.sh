#!/usr/bin/env bash
# Side-by-side throughput: ggufembed vs llama.cpp (llama-cpp-python, built from source from PyPI)
# on the same GGUF and workloads, same thread count, whole process each, median of RUNS runs.
#
#   scripts/bench-peers.sh [MODEL.gguf] [WORKLOAD.jsonl ...]
#
# Defaults: ../shared/models/all-MiniLM-L6-v2.q8_0.gguf on ../shared/fixtures/bench-sentences.jsonl
# and bench-passages.jsonl. Env: THREADS (2), RUNS (3), N_BATCH (512, llama.cpp's best here),
# PEERS_VENV (target/peers-venv), LLAMA_CPP_PYTHON (0.3.36), SKIP_LLAMA=1 to run ours only.
# Token counts are ours (the model's own tokenizer, special tokens included), so tokens/s
# compare the same work.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=../shared
model=${1:-$shared/models/all-MiniLM-L6-v2.q8_0.gguf}
shift || true
workloads=("$@")
if [ ${#workloads[@]} -eq 0 ]; then
    workloads=("$shared/fixtures/bench-sentences.jsonl" "$shared/fixtures/bench-passages.jsonl")
fi
threads=${THREADS:-2}
runs=${RUNS:-3}
n_batch=${N_BATCH:-512}
venv=${PEERS_VENV:-target/peers-venv}
version=${LLAMA_CPP_PYTHON:-0.3.36}

cargo build --release --locked -q -p ggufembed-cli --bin ggufembed
ours=${CARGO_TARGET_DIR:-target}/release/ggufembed

if [ "${SKIP_LLAMA:-0}" != 1 ] && ! "$venv/bin/python" -c 'import llama_cpp' 2>/dev/null; then
    echo "installing llama-cpp-python==$version into $venv (builds llama.cpp from source: minutes)" >&2
    python3 -m venv "$venv"
    # Native build for this CPU (what a user of llama.cpp gets), no examples or tests.
    CMAKE_ARGS="-DGGML_NATIVE=ON -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF" \
        "$venv/bin/pip" install -q "llama-cpp-python==$version" >&2
fi

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# Wall seconds of a command (whole process), median of $runs.
time_cmd() {
    for _ in $(seq "$runs"); do
        local t0 t1
        t0=$(date +%s.%N)
        "$@" >/dev/null
        t1=$(date +%s.%N)
        awk "BEGIN {print $t1 - $t0}"
    done | median
}

echo "model: $model, threads: $threads, runs: $runs (median), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo
echo "| workload | texts | tokens | ggufembed | llama.cpp (-b $n_batch) | ratio |"
echo "|---|---:|---:|---:|---:|---:|"
for w in "${workloads[@]}"; do
    texts=$(grep -c . "$w")
    tokens=$("$ours" embed -m "$model" -i "$w" --threads "$threads" \
        | grep -o '"tokens":[0-9]*' | cut -d: -f2 | awk '{s += $1} END {print s}')
    t_ours=$(time_cmd "$ours" embed -m "$model" -i "$w" -o /dev/null --threads "$threads")
    ours_cell=$(printf '%.2f s (%.0f tok/s)' "$t_ours" "$(awk "BEGIN {print $tokens / $t_ours}")")
    if [ "${SKIP_LLAMA:-0}" = 1 ]; then
        echo "| $(basename "$w") | $texts | $tokens | $ours_cell | skipped | |"
        continue
    fi
    t_llama=$(time_cmd "$venv/bin/python" scripts/peers/llama_embed.py "$model" "$w" "$threads" "$n_batch")
    llama_cell=$(printf '%.2f s (%.0f tok/s)' "$t_llama" "$(awk "BEGIN {print $tokens / $t_llama}")")
    ratio=$(printf '%.2f×' "$(awk "BEGIN {print $t_llama / $t_ours}")")
    echo "| $(basename "$w") | $texts | $tokens | $ours_cell | $llama_cell | $ratio |"
done
