#!/usr/bin/env bash
# Fuzzes with libFuzzer (cargo-fuzz). See docs/SECURITY.md.
#
#   scripts/fuzz.sh [SECONDS]            the GGUF reader (`parse`, crates/gguf-loader/fuzz), default 600 s
#   scripts/fuzz.sh TARGET [SECONDS]     one target: parse, or one of fuzz/'s (below)
#   scripts/fuzz.sh ci [SECONDS]         every target for SECONDS each (default 20) on the committed
#                                        seeds, one shared build without AddressSanitizer: the CI step
#
# fuzz/'s targets: open_model embed_tiny tokenize_wordpiece tokenize_sentencepiece tokenize_bpe
# jsonl_input server_request. A target's corpus grows in fuzz/corpus/TARGET (not committed),
# seeded read-only from fuzz/seeds/TARGET (committed; tiny models written by
# `cargo run -p ggufembed-testkit --example write_fuzz_seeds`). A crash leaves its input in
# fuzz/artifacts/TARGET/ and makes the script fail.
#
# FUZZ_ARGS: more libFuzzer flags, e.g. FUZZ_ARGS=-runs=1000000 to stop a long run at 1 M
# executions (-max_total_time=SECONDS still caps it).
# FUZZ_SANITIZER=address|none (default address for one target, none for `ci`). cargo-fuzz
# needs nightly-only flags; on a stable toolchain RUSTC_BOOTSTRAP=1 lets them through.
# FUZZ_TRACE_COMPARES=0 builds without comparison tracing (`cargo fuzz --no-trace-compares`,
# in its own fuzz/target/no-trace-compares/ so the default build stays warm): 2-3x the
# executions per second for the tokenizer targets, whose Unicode table searches are most of
# an execution's traced comparisons; less guidance for the mutator on value comparisons.
# FUZZ_TIMEOUT: seconds one execution may take before it counts as a hang (default 1, the
# issue's bound; docs/SECURITY.md has the slowest input measured per target).
# cargo-fuzz is installed (`cargo install cargo-fuzz --locked`) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(open_model embed_tiny tokenize_wordpiece tokenize_sentencepiece tokenize_bpe jsonl_input
    server_request)

if ! command -v cargo-fuzz >/dev/null; then
    echo "fuzz: installing cargo-fuzz (cargo install cargo-fuzz --locked)" >&2
    cargo install cargo-fuzz --locked
fi

# The parser's target, as before: its own crate and corpus.
fuzz_parse() {
    local seconds=$1 corpus=crates/gguf-loader/fuzz/corpus/parse
    mkdir -p "$corpus"
    if [ -f ../shared/models/all-MiniLM-L6-v2.q8_0.gguf ]; then
        # The first 640 KiB hold everything but tensor data.
        head -c 655360 ../shared/models/all-MiniLM-L6-v2.q8_0.gguf > "$corpus/minilm-head.gguf"
    fi
    cargo run -q -p gguf-loader --example write_seed_corpus -- "$corpus"
    (cd crates/gguf-loader &&
        RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer "${FUZZ_SANITIZER:-address}" parse \
            "fuzz/corpus/parse" -- -max_total_time="$seconds" -max_len=1048576 \
            -rss_limit_mb=2048 -print_final_stats=1)
}

# max_len per target: models need room for a few KB of tensors; texts and lines do not. The
# tokenizers' and embed_tiny's checks (truncation to < 32 ids, a 16-token context) are
# crossed by a few dozen bytes, and an execution's cost grows with the text (the tokenizer,
# run twice per text, with every comparison traced): 1 KB keeps the rate up.
max_len() {
    case $1 in
        open_model) echo 65536 ;;
        embed_tiny | tokenize_*) echo 1024 ;;
        *) echo 4096 ;;
    esac
}

# The build flags FUZZ_TRACE_COMPARES asks for (none by default).
build_flags=()
if [ "${FUZZ_TRACE_COMPARES:-1}" = 0 ]; then
    build_flags=(--no-trace-compares --target-dir target/no-trace-compares)
fi

# fuzz_one TARGET SECONDS SANITIZER CORPUS: runs one of fuzz/'s targets.
fuzz_one() {
    local target=$1 seconds=$2 sanitizer=$3 corpus=$4 extra
    read -ra extra <<< "${FUZZ_ARGS:-}"
    mkdir -p "fuzz/$corpus" "fuzz/artifacts/$target"
    (cd fuzz &&
        RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer "$sanitizer" "${build_flags[@]}" "$target" \
            "$corpus" "seeds/$target" -- -max_total_time="$seconds" \
            -max_len="$(max_len "$target")" -timeout="${FUZZ_TIMEOUT:-1}" -rss_limit_mb=2048 \
            -print_final_stats=1 -seed="${FUZZ_SEED:-0}" -artifact_prefix="artifacts/$target/" \
            "${extra[@]}")
}

case "${1:-600}" in
    [0-9]*) fuzz_parse "${1:-600}" ;;
    parse) fuzz_parse "${2:-600}" ;;
    ci)
        seconds=${2:-20}
        sanitizer=${FUZZ_SANITIZER:-none}
        # A fixed seed in CI: the same mutations in the same order on every run, so a landing
        # fails on a regression, not on the luck of the draw (a machine explores a prefix of the
        # same sequence, longer the faster it is). FUZZ_SEED=0 is libFuzzer's random seed.
        export FUZZ_SEED=${FUZZ_SEED:-1}
        t0=$(date +%s)
        (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build --sanitizer "$sanitizer" "${build_flags[@]}")
        echo "fuzz: built every target in $(($(date +%s) - t0)) s" >&2
        for t in "${targets[@]}"; do
            # A scratch corpus: the committed seeds are read, never written.
            scratch="corpus/ci-$t"
            rm -rf "fuzz/$scratch"
            echo "==> fuzz $t for $seconds s" >&2
            log="fuzz/artifacts/ci-$t.log"
            mkdir -p fuzz/artifacts
            if ! fuzz_one "$t" "$seconds" "$sanitizer" "$scratch" > "$log" 2>&1; then
                tail -n 40 "$log" >&2
                echo "fuzz: $t FAILED (log $log, input in fuzz/artifacts/$t/)" >&2
                exit 1
            fi
            grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ *DONE)' "$log" >&2 || true
            rm -rf "fuzz/$scratch"
        done
        echo "fuzz: every target ran $seconds s without a crash ($(($(date +%s) - t0)) s in all)" >&2
        ;;
    *)
        target=$1
        printf '%s\n' "${targets[@]}" | grep -qx "$target" ||
            { echo "fuzz: unknown target $target (parse, ci, ${targets[*]})" >&2; exit 2; }
        fuzz_one "$target" "${2:-600}" "${FUZZ_SANITIZER:-address}" "corpus/$target"
        ;;
esac
