#!/usr/bin/env bash
# Load test of `ggufembed serve` on loopback, against llama.cpp's `llama-server --embedding` on
# the same GGUF and threads when it is there, plus the offline `ggufembed embed` throughput on
# the same texts, and a soak with the server's RSS at its start and end.
#
#   scripts/bench-server.sh [MODEL.gguf]
#
# Defaults: ../shared/models/all-MiniLM-L6-v2.q8_0.gguf, ../shared/fixtures/bench-sentences.jsonl.
# Env: THREADS (2), SECONDS_PER (10: measured seconds per load point, after 1 s of warm-up),
# CONCURRENCY ("1 4 16 64"), TEXTS ("1 32": texts per request), SOAK_SECONDS (300; 0 skips the
# soak), LLAMA_SERVER (/work/peers/llama.cpp/bin/llama-server; missing: ours only),
# LLAMA_PARALLEL (16: llama-server's slots), SERVER_FLAGS (extra flags for ggufembed serve),
# OUT (target/bench-server: one JSON line per point in results.jsonl, the table in table.md).
set -euo pipefail
cd "$(dirname "$0")/.."
shared=../shared
model=${1:-$shared/models/all-MiniLM-L6-v2.q8_0.gguf}
input=$shared/fixtures/bench-sentences.jsonl
threads=${THREADS:-2}
per=${SECONDS_PER:-10}
concurrency=${CONCURRENCY:-1 4 16 64}
texts=${TEXTS:-1 32}
soak=${SOAK_SECONDS:-300}
llama=${LLAMA_SERVER:-/work/peers/llama.cpp/bin/llama-server}
parallel=${LLAMA_PARALLEL:-16}
out=${OUT:-target/bench-server}
port=${PORT:-18080}
lport=${LLAMA_PORT:-18081}
mkdir -p "$out"
: >"$out/results.jsonl"

# One invocation: building the packages separately would unify features differently and
# rebuild the dependencies twice.
cargo build --release --locked -q -p ggufembed-server --bin ggufembed-server --example loadgen \
    -p ggufembed-cli --bin ggufembed
server=${CARGO_TARGET_DIR:-target}/release/ggufembed-server
loadgen=${CARGO_TARGET_DIR:-target}/release/examples/loadgen

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_health() { # URL PID
    for _ in $(seq 1 600); do
        curl -sf "$1/health" >/dev/null 2>&1 && return 0
        kill -0 "$2" 2>/dev/null || { echo "server exited" >&2; return 1; }
        sleep 0.1
    done
    echo "no /health at $1" >&2
    return 1
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# Offline: `ggufembed embed` on all 2,000 sentences, median of 3 runs.
offline=()
for _ in 1 2 3; do
    t0=$(date +%s.%N)
    target/release/ggufembed embed -m "$model" -i "$input" -o /dev/null --threads "$threads"
    t1=$(date +%s.%N)
    offline+=("$(echo "2000 / ($t1 - $t0)" | bc -l)")
done
offline_tps=$(printf '%s\n' "${offline[@]}" | sort -g | sed -n 2p)
printf '{"label":"offline ggufembed embed","texts_per_s":%.1f}\n' "$offline_tps" | tee -a "$out/results.jsonl"

run_points() { # LABEL URL
    for n in $texts; do
        for c in $concurrency; do
            "$loadgen" --url "$2" --input "$input" --concurrency "$c" --texts "$n" \
                --seconds "$per" --label "$1" | tee -a "$out/results.jsonl"
        done
    done
}

# shellcheck disable=SC2086
"$server" -m "$model" --port "$port" --threads "$threads" ${SERVER_FLAGS:-} 2>"$out/server.log" &
spid=$!
pids+=("$spid")
wait_health "http://127.0.0.1:$port" "$spid"
run_points ggufembed "http://127.0.0.1:$port"

if [ "$soak" != 0 ]; then
    rss0=$(rss_kib "$spid")
    "$loadgen" --url "http://127.0.0.1:$port" --input "$input" --concurrency 16 --texts 1 \
        --seconds "$soak" --label "soak" | tee "$out/soak.json"
    rss1=$(rss_kib "$spid")
    printf '{"label":"soak rss","seconds":%s,"rss_start_kib":%s,"rss_end_kib":%s}\n' \
        "$soak" "$rss0" "$rss1" | tee -a "$out/results.jsonl"
fi
# Graceful shutdown: SIGTERM, exit 0.
kill -TERM "$spid"
if wait "$spid"; then echo "ggufembed serve: SIGTERM -> exit 0"; else echo "ggufembed serve: exit $?" >&2; fi

if [ -x "$llama" ]; then
    "$llama" -m "$model" --embedding --pooling mean -t "$threads" -tb "$threads" \
        --parallel "$parallel" -c $((parallel * 512)) -b 8192 -ub 8192 \
        --host 127.0.0.1 --port "$lport" >"$out/llama-server.log" 2>&1 &
    lpid=$!
    pids+=("$lpid")
    wait_health "http://127.0.0.1:$lport" "$lpid"
    run_points llama-server "http://127.0.0.1:$lport"
    kill "$lpid"
else
    echo "SKIPPED llama-server: $llama not found" >&2
fi

# The table: one row per (texts per request, concurrency), ours and llama-server's.
jq -rs --argjson off "$offline_tps" '
  def f: if . == null then "–" else (. * 10 | round / 10 | tostring) end;
  (map(select(.label == "ggufembed" or .label == "llama-server"))
   | group_by([.texts_per_request, .concurrency])) as $g
  | "offline `ggufembed embed`: \($off | f) texts/s\n",
    "| texts/req | conc | ours texts/s | ours p50 ms | ours p99 ms | ours 429 | vs offline | llama texts/s | llama p50 ms | llama p99 ms | ours/llama |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ($g[] | (map(select(.label == "ggufembed"))[0]) as $o | (map(select(.label == "llama-server"))[0]) as $l
      | "| \($o.texts_per_request // $l.texts_per_request) | \($o.concurrency // $l.concurrency) | \($o.texts_per_s | f) | \($o.p50_ms | f) | \($o.p99_ms | f) | \($o.status_429 // "–") | \(if $o then ($o.texts_per_s / $off * 100 | round | tostring) + " %" else "–" end) | \($l.texts_per_s | f) | \($l.p50_ms | f) | \($l.p99_ms | f) | \(if $o and $l then ($o.texts_per_s / $l.texts_per_s * 100 | round / 100 | tostring) + "x" else "–" end) |")
' "$out/results.jsonl" | tee "$out/table.md"
