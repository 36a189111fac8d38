#!/usr/bin/env bash
# A CPU flame graph of ggufembed embedding a workload, as an SVG.
#
#   scripts/flamegraph.sh MODEL [WORKLOAD] [-- HARNESS_ARGS…]
#
# MODEL is a GGUF file; WORKLOAD a JSONL file of {"text": …} objects or one text per line
# (default: synthetic texts of 16, 64 and 256 tokens). HARNESS_ARGS go to ggufembed-profile
# (default: --iterations 2 --warmup 1; e.g. -- --limit 120 --threads 2 --batch-size 32).
#
# Environment: OUT (the SVG, default flamegraph.svg), SAMPLER=perf|pprof to force a sampler,
# CARGO_TARGET_DIR (default target), INFERNO_ROOT (where inferno is installed if missing,
# default .tools/inferno); with perf, FOLDED=FILE also keeps the folded stacks (for
# inferno-diff-folded) and FULL_STACKS=1 keeps thread start-up and rayon frames and one root
# per worker thread (by default stacks start at the project's first frame, under one root for
# all the pool's workers).
#
# Builds ggufembed-profile with the `profiling` cargo profile (release + debug info). With a
# working `perf` it samples with `perf record` (DWARF call graphs) and draws with inferno
# (`cargo install inferno` into INFERNO_ROOT from crates.io if it is not on PATH); otherwise it
# uses the harness's in-process sampler (`--flamegraph`, the pprof crate, cargo feature
# `flamegraph`). It says which one it used.
set -euo pipefail

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
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
[ ${#extra[@]} -gt 0 ] || extra=(--iterations 2 --warmup 1)
out=${OUT:-flamegraph.svg}
case "$out" in /*) ;; *) out="$(pwd)/$out" ;; esac

cd "$(dirname "$0")/.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
export CARGO_TARGET_DIR=$target
bin=$target/profiling/ggufembed-profile

perf_works() {
    command -v perf >/dev/null 2>&1 || { why="perf is not installed"; return 1; }
    local probe
    probe=$(mktemp)
    if perf record -q -F 99 -g -o "$probe" -- true >/dev/null 2>&1; then
        rm -f "$probe"
        return 0
    fi
    rm -f "$probe"
    why="perf record fails here (perf_event_paranoid=$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo '?'), or no perf events in this container)"
    return 1
}

find_inferno() {
    local dir=${INFERNO_ROOT:-$root/.tools/inferno}
    if command -v inferno-collapse-perf >/dev/null 2>&1 && command -v inferno-flamegraph >/dev/null 2>&1; then
        collapse=inferno-collapse-perf; draw=inferno-flamegraph; return 0
    fi
    if [ ! -x "$dir/bin/inferno-flamegraph" ]; then
        echo "flamegraph.sh: installing inferno into $dir (cargo install, from crates.io)…" >&2
        cargo install -q --locked --root "$dir" inferno >&2 || return 1
    fi
    collapse=$dir/bin/inferno-collapse-perf; draw=$dir/bin/inferno-flamegraph
}

sampler=${SAMPLER:-}
why=""
if [ -z "$sampler" ]; then
    if perf_works && find_inferno; then sampler=perf; else sampler=pprof; fi
elif [ "$sampler" = perf ]; then
    perf_works || { echo "error: SAMPLER=perf but $why" >&2; exit 1; }
    find_inferno || { echo "error: could not install inferno" >&2; exit 1; }
fi

if [ "$sampler" = perf ]; then
    cargo build -q --profile profiling -p ggufembed-cli --bin ggufembed-profile
    data=$(mktemp -d)
    trap 'rm -rf "$data"' EXIT
    echo "flamegraph.sh: sampling with perf record (DWARF call graphs) + inferno" >&2
    perf record -q -F 499 --call-graph dwarf,16384 -o "$data/perf.data" -- \
        "$bin" -m "$model" "${workload[@]}" "${extra[@]}"
    perf script -i "$data/perf.data" 2>/dev/null | "$collapse" > "$data/stacks.folded"
    if [ -z "${FULL_STACKS:-}" ]; then
        # As the harness's --flamegraph does: start each stack at its first frame of the
        # project's code past the pool's entry point (thread start-up, rayon plumbing and
        # WorkerPool::run_workers left out), below one root for all pool workers (ggufembed-N)
        # and one per other thread.
        awk '{
            count = $NF; stack = substr($0, 1, length($0) - length(count) - 1)
            k = split(stack, f, ";"); start = 2
            sub(/^ggufembed-[0-9]+$/, "ggufembed workers", f[1])
            for (i = 2; i <= k; i++)
                if (f[i] ~ /^<?(ggufembed|gguf_loader)/ && f[i] !~ /WorkerPool::run_workers/) {
                    start = i; break
                }
            out = f[1]; for (i = start; i <= k; i++) out = out ";" f[i]
            print out " " count
        }' "$data/stacks.folded" > "$data/trimmed.folded"
        mv "$data/trimmed.folded" "$data/stacks.folded"
    fi
    [ -z "${FOLDED:-}" ] || cp "$data/stacks.folded" "$FOLDED"
    "$draw" --title "ggufembed-profile (perf record)" --minwidth 0.2 "$data/stacks.folded" > "$out"
else
    echo "flamegraph.sh: sampling in process with the harness's --flamegraph (pprof)${why:+; perf not used: $why}" >&2
    cargo build -q --profile profiling -p ggufembed-cli --features flamegraph --bin ggufembed-profile
    "$bin" -m "$model" "${workload[@]}" "${extra[@]}" --flamegraph "$out"
fi
echo "flamegraph.sh: wrote $out ($(wc -c < "$out") bytes; sampler: $sampler)" >&2
