#!/usr/bin/env bash
# Load test of `ggufembed serve` on loopback, against llama.cpp's `llama-server --embedding` on
# the same GGUF and threads, plus the offline `ggufembed embed` throughput on the same texts, a
# point beyond the admission cap (429s, and how fast), and a soak with the server's RSS sampled
# from its start to its end.
#
#   nice -n -10 scripts/bench-server.sh [MODEL.gguf]
#
# Both servers run side by side (each idles while the other is measured) and every load point
# is run on ours, then at once on llama-server, so the ratio of a row comes from the same few
# seconds of machine load; the offline reference is run three times — before the points, in
# the middle, after them — and its median is the row's reference. `uptime` is recorded before
# and after.
#
# Defaults: ../shared/models/all-MiniLM-L6-v2.q8_0.gguf, ../shared/fixtures/bench-sentences.jsonl.
# Env: THREADS (2), SECONDS_PER (10: measured seconds per load point of single texts, twice that
# for more texts per request, after 1 s of warm-up),
# CONCURRENCY ("1 4 16 64"), TEXTS ("1 32": texts per request), OVERCAP ("": concurrency of the
# point beyond the cap, run on ours only with 1 text per request; needs SERVER_FLAGS with a
# --max-concurrent-requests below it to mean anything), SOAK_SECONDS (300; 0 skips the soak),
# OFFLINE (1; 0 skips the offline reference), LLAMA_SERVER (/work/peers/llama.cpp/bin/llama-server;
# missing or "none": ours only), LLAMA_PARALLEL (16: llama-server's slots), SERVER_FLAGS (extra
# flags for ggufembed serve), GRID (flag sets separated by '|', for tuning the defaults: ours
# only, one server per set side by side, REPS (3) interleaved rounds of the points of
# CONCURRENCY x TEXTS, medians per set; skips llama-server, the offline runs and the soak), OUT (target/bench-server: one JSON line per point
# in results.jsonl, the table in table.md).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/needs.sh
for c in jq bc curl; do
    need_cmd "$c" || need_apt "$c" || { skip_or_fail "scripts/bench-server.sh" "apt-get install $c"; exit 0; }
done
shared=../shared
model=${1:-$shared/models/all-MiniLM-L6-v2.q8_0.gguf}
input=$shared/fixtures/bench-sentences.jsonl
threads=${THREADS:-2}
per=${SECONDS_PER:-10}
concurrency=${CONCURRENCY:-1 4 16 64}
texts=${TEXTS:-1 32}
overcap=${OVERCAP:-}
soak=${SOAK_SECONDS:-300}
offline_runs=${OFFLINE:-1}
llama=${LLAMA_SERVER:-/work/peers/llama.cpp/bin/llama-server}
parallel=${LLAMA_PARALLEL:-16}
grid=${GRID:-}
out=${OUT:-target/bench-server}
port=${PORT:-18080}
lport=${LLAMA_PORT:-18081}
if [ -n "$grid" ]; then llama=none soak=0 offline_runs=0; fi
mkdir -p "$out"
: >"$out/results.jsonl"

# One invocation: building the packages separately would unify features differently and
# rebuild the dependencies twice.
cargo build --release --locked -q -p ggufembed-server --bin ggufembed-server --example loadgen \
    -p ggufembed-cli --bin ggufembed
server=${CARGO_TARGET_DIR:-target}/release/ggufembed-server
loadgen=${CARGO_TARGET_DIR:-target}/release/examples/loadgen
cli=${CARGO_TARGET_DIR:-target}/release/ggufembed

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
# CPU time (user + system) of a process in clock ticks: a cost per text that the other
# engineers' load inflates far less than wall-clock throughput.
tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
record() { tee -a "$out/results.jsonl"; }
load() { # WHEN
    printf '{"label":"uptime","when":"%s","loadavg":"%s"}\n' "$1" "$(cut -d' ' -f1-3 /proc/loadavg)" | record
}
n_texts=$(grep -c . "$input")
offline=()
offline_cpu=()
offline_run() { # `ggufembed embed` on every text of the input, once
    [ "$offline_runs" = 1 ] || return 0
    local t0 t1 tps cpu
    t0=$(date +%s.%N)
    { TIMEFORMAT='%U %S'; time "$cli" embed -m "$model" -i "$input" -o /dev/null --threads "$threads"; } 2>"$out/time.txt"
    t1=$(date +%s.%N)
    tps=$(echo "$n_texts / ($t1 - $t0)" | bc -l)
    cpu=$(tail -1 "$out/time.txt" | awk -v n="$n_texts" '{print ($1 + $2) * 1000 / n}')
    offline+=("$tps")
    offline_cpu+=("$cpu")
    printf '{"label":"offline run","texts_per_s":%.1f,"cpu_ms_per_text":%.3f}\n' "$tps" "$cpu" | record
}

start_ours() { # FLAGS...
    "$server" -m "$model" --port "$port" --threads "$threads" "$@" 2>>"$out/server.log" &
    spid=$!
    pids+=("$spid")
    wait_health "http://127.0.0.1:$port" "$spid"
}
stop_ours() { # SIGTERM: graceful, exit 0
    kill -TERM "$spid"
    if wait "$spid"; then echo "ggufembed serve: SIGTERM -> exit 0"; else echo "ggufembed serve: exit $?" >&2; fi
}
point() { # LABEL URL CONCURRENCY TEXTS SERVER_PID
    # Requests of many texts get twice the window: their latency is seconds on 2 cores.
    local secs=$per c0 c1
    [ "$4" = 1 ] || secs=$(echo "$per * 2" | bc -l)
    c0=$(cpu_ticks "$5")
    "$loadgen" --url "$2" --input "$input" --concurrency "$3" --texts "$4" \
        --seconds "$secs" --label="$1" >"$out/point.json"
    c1=$(cpu_ticks "$5")
    # The server's CPU per text answered (warm-up included; abandoned requests' work too).
    jq -c --argjson cpu "$(echo "($c1 - $c0) * 1000 / $tck" | bc -l)" \
        '. + {server_cpu_ms_per_text: (if .texts_all > 0 then $cpu / .texts_all else null end)}' \
        "$out/point.json" | record
}

load start
if [ -n "$grid" ]; then
    # Every set's server at once (on ports from $port up; an idle one only waits), then REPS
    # rounds of every point on every set in turn, the order of the sets rotating each round:
    # the sets of one point are compared over the same minute of machine load.
    IFS='|' read -r -a sets <<<"$grid"
    gpids=()
    for i in "${!sets[@]}"; do
        # shellcheck disable=SC2086
        "$server" -m "$model" --port $((port + i)) --threads "$threads" ${SERVER_FLAGS:-} ${sets[$i]} \
            2>>"$out/server.log" &
        gpids+=($!)
        pids+=($!)
        wait_health "http://127.0.0.1:$((port + i))" "$!"
    done
    for r in $(seq 1 "${REPS:-3}"); do
        for n in $texts; do
            for c in $concurrency; do
                for k in "${!sets[@]}"; do
                    i=$(((k + r) % ${#sets[@]}))
                    point "${sets[$i]}" "http://127.0.0.1:$((port + i))" "$c" "$n" "${gpids[$i]}"
                done
            done
        done
    done
    for p in "${gpids[@]}"; do kill -TERM "$p"; wait "$p" || echo "exit $? from $p" >&2; done
    load end
    jq -rs 'def f: if . == null then "–" else (. * 10 | round / 10 | tostring) end;
        def med: map(select(. != null)) | sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
        "| flags | texts/req | conc | texts/s | p50 ms | p99 ms | 429s | 429 p99 ms | runs |",
        "|---|---|---|---|---|---|---|---|---|",
        (map(select(.label != "uptime")) | group_by([.texts_per_request, .concurrency, .label])[]
         | "| `\(.[0].label)` | \(.[0].texts_per_request) | \(.[0].concurrency) | \(map(.texts_per_s) | med | f) | \(map(.p50_ms) | med | f) | \(map(.p99_ms) | med | f) | \(map(.status_429) | med) | \(map(.p99_429_ms) | med | f) | \(length) |")' \
        "$out/results.jsonl" | tee "$out/table.md"
    exit 0
fi

# shellcheck disable=SC2086
start_ours ${SERVER_FLAGS:-}
have_llama=0
if [ "$llama" != none ] && [ -x "$llama" ]; then
    # -c: a slot of 512 tokens (MiniLM's context) each; -b/-ub 8192 lets one ubatch hold every
    # slot's sequence, so concurrent requests are embedded together.
    "$llama" -m "$model" --embedding --pooling mean -t "$threads" -tb "$threads" \
        --parallel "$parallel" -c $((parallel * 512)) -b 8192 -ub 8192 \
        --host 127.0.0.1 --port "$lport" >"$out/llama-server.log" 2>&1 &
    lpid=$!
    pids+=("$lpid")
    wait_health "http://127.0.0.1:$lport" "$lpid"
    have_llama=1
else
    echo "SKIPPED llama-server: $llama not found" >&2
fi

offline_run
first=1
for n in $texts; do
    [ "$first" = 1 ] || offline_run
    first=0
    for c in $concurrency; do
        point ggufembed "http://127.0.0.1:$port" "$c" "$n" "$spid"
        [ "$have_llama" = 0 ] || point llama-server "http://127.0.0.1:$lport" "$c" "$n" "$lpid"
    done
done
offline_run
[ -z "$overcap" ] || point "ggufembed over the cap" "http://127.0.0.1:$port" "$overcap" 1 "$spid"
[ "$have_llama" = 0 ] || kill "$lpid"
load "after the points"

if [ "$soak" != 0 ]; then
    # RSS every 30 s while concurrency 16 runs for SOAK_SECONDS.
    rss_kib "$spid" >"$out/soak-rss.txt"
    (while sleep 30; do rss_kib "$spid" >>"$out/soak-rss.txt" || exit 0; done) &
    sampler=$!
    pids+=("$sampler")
    "$loadgen" --url "http://127.0.0.1:$port" --input "$input" --concurrency 16 --texts 1 \
        --seconds "$soak" --label "soak" | record
    kill "$sampler" 2>/dev/null || true
    rss_kib "$spid" >>"$out/soak-rss.txt"
    printf '{"label":"soak rss","seconds":%s,"rss_kib":[%s]}\n' \
        "$soak" "$(paste -sd, "$out/soak-rss.txt")" | record
    load "after the soak"
fi
stop_ours

median() { sort -g | awk '{v[NR] = $1} END {print (NR ? v[int((NR + 1) / 2)] : 0)}'; }
offline_tps=0 offline_cpu_ms=0
if [ ${#offline[@]} -gt 0 ]; then
    offline_tps=$(printf '%s\n' "${offline[@]}" | median)
    offline_cpu_ms=$(printf '%s\n' "${offline_cpu[@]}" | median)
fi
printf '{"label":"offline ggufembed embed","runs":%s,"texts_per_s":%.1f,"cpu_ms_per_text":%.3f}\n' \
    "${#offline[@]}" "$offline_tps" "$offline_cpu_ms" | record

# The table: one row per (texts per request, concurrency), ours and llama-server's.
jq -rs --argjson off "$offline_tps" --argjson offcpu "$offline_cpu_ms" '
  def f: if . == null then "–" else (. * 10 | round / 10 | tostring) end;
  def cpu: if . == null then "–" else (. * 100 | round / 100 | tostring) end;
  def ratio(a; b): if a == null or b == null or b == 0 then "–" else (a / b * 100 | round / 100 | tostring) + "x" end;
  (map(select(.label == "ggufembed" or .label == "llama-server"))
   | group_by([.texts_per_request, .concurrency])) as $g
  | "offline `ggufembed embed`: \($off | f) texts/s, \($offcpu * 100 | round / 100) CPU ms/text (medians of its runs)\n",
    "| texts/req | conc | ours texts/s | ours p50 ms | ours p99 ms | p99/p50 | ours 429 | vs offline | ours CPU ms/text | offline CPU ÷ ours | llama texts/s | llama p50 ms | llama p99 ms | llama CPU ms/text | ours/llama |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ($g[] | (map(select(.label == "ggufembed"))[0]) as $o | (map(select(.label == "llama-server"))[0]) as $l
      | "| \($o.texts_per_request // $l.texts_per_request) | \($o.concurrency // $l.concurrency) | \($o.texts_per_s | f) | \($o.p50_ms | f) | \($o.p99_ms | f) | \(ratio($o.p99_ms; $o.p50_ms)) | \($o.status_429 // "–") | \(if $o and $off > 0 then ($o.texts_per_s / $off * 100 | round | tostring) + " %" else "–" end) | \($o.server_cpu_ms_per_text | cpu) | \(if $o.server_cpu_ms_per_text and $offcpu > 0 then ($offcpu / $o.server_cpu_ms_per_text * 100 | round | tostring) + " %" else "–" end) | \($l.texts_per_s | f) | \($l.p50_ms | f) | \($l.p99_ms | f) | \($l.server_cpu_ms_per_text | cpu) | \(ratio($o.texts_per_s; $l.texts_per_s)) |")
' "$out/results.jsonl" | tee "$out/table.md"
