#!/usr/bin/env bash
# Scaling sweep: batch sizes × thread counts, printed as a Markdown table.
#
#   scripts/profile-bench.sh MODEL [WORKLOAD] [-- HARNESS_ARGS…]
#
# MODEL is a GGUF file; WORKLOAD a JSONL file of {"text": …} objects or one text per line
# (default: synthetic texts of 16, 64 and 256 tokens, 32 of each). HARNESS_ARGS go to every
# ggufembed-profile run (e.g. -- --limit 120 --parallelism texts).
#
# Environment: BATCHES (default "1 8 32 128 512"), THREADS (default "1 2"), ITERATIONS
# (measured passes per cell, default 2), WARMUP (default 1), CARGO_TARGET_DIR.
#
# Each cell is one `ggufembed-profile --json --no-timers` run (release build): texts/s and
# tokens/s over the measured passes, speedup = texts/s ÷ texts/s of the same batch size on the
# first thread count, CPU utilisation = CPU time of the process's threads ÷ (wall × threads).
set -euo pipefail

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 1 ] || usage
case "$1" in -h | --help) usage ;; esac

abspath() { (cd "$(dirname "$1")" && printf '%s/%s\n' "$(pwd)" "$(basename "$1")"); }
model=$1; shift
[ -f "$model" ] || { echo "error: model $model not found" >&2; exit 1; }
model=$(abspath "$model")
workload=()
if [ $# -ge 1 ] && [ "$1" != "--" ]; then
    [ -f "$1" ] || { echo "error: workload $1 not found" >&2; exit 1; }
    workload=(--input "$(abspath "$1")"); shift
fi
[ $# -ge 1 ] && [ "$1" = "--" ] && shift
extra=("$@")

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$(pwd)/target}
cargo build -q --release -p ggufembed-cli --bin ggufembed-profile
bin=$CARGO_TARGET_DIR/release/ggufembed-profile

batches=${BATCHES:-1 8 32 128 512}
threads=${THREADS:-1 2}
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for b in $batches; do
    for t in $threads; do
        echo "profile-bench.sh: batch $b, $t thread(s)…" >&2
        "$bin" -m "$model" "${workload[@]}" --batch-size "$b" --threads "$t" \
            --iterations "${ITERATIONS:-2}" --warmup "${WARMUP:-1}" --no-timers --json \
            "${extra[@]}" >> "$results"
    done
done

python3 - "$results" <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
first = runs[0]
w = first["workload"]
print(f"model `{first['model']['path'].rsplit('/', 1)[-1]}`, ISA {first['config']['isa']}, "
      f"parallelism {first['config']['parallelism']}; workload: {w['texts']} texts "
      f"({w['source']}), {w['tokens']} tokens, mean {w['mean_tokens']:.1f} per text\n")
print("| batch | threads | texts/s | tokens/s | speedup vs 1 thread | CPU utilisation | p50 latency (ms) |")
print("|---:|---:|---:|---:|---:|---:|---:|")
base = {}
for r in runs:
    b, t = r["config"]["batch_size"], r["config"]["threads"]
    tp = r["throughput"]
    base.setdefault(b, tp["texts_per_s"])
    util = tp["cpu_utilisation"]
    util = "n/a" if util is None else f"{100 * util:.0f}%"
    print(f"| {b} | {t} | {tp['texts_per_s']:.1f} | {tp['tokens_per_s']:.0f} | "
          f"{tp['texts_per_s'] / base[b]:.2f}× | {util} | {r['latency_ms']['p50']:.1f} |")
PY
