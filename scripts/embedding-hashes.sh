#!/usr/bin/env bash
# Fingerprints of the embeddings every supported shared model gives on the dev texts, per ISA
# tier this CPU has: a refactor that must not change a single bit is checked against the
# committed list (scripts/data/embedding-hashes.txt).
#
#   scripts/embedding-hashes.sh            print "MODEL OPTIONS ISA sha256" lines
#   scripts/embedding-hashes.sh --check    compare with scripts/data/embedding-hashes.txt
#   scripts/embedding-hashes.sh --write    rewrite that file (only when outputs change on purpose)
#
# Each line hashes `ggufembed embed` JSONL output (shortest round-trip floats, so equal hashes
# mean equal bits) over the 261 dev texts of ../shared/fixtures/minilm-dev-reference.jsonl.
# One line per model, options and ISA tier; `--check` compares the tiers this CPU runs. Where
# the tiers of one model disagree (every matmul, F32/F16 included, sums in one order on every
# tier, so they should not) it says so. Env: ISAS (default: every tier this CPU
# runs), MODELS.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=../shared
[ -d "$shared/models" ] || { echo "error: $shared/models not found" >&2; exit 1; }
mode=${1:-print}
list=scripts/data/embedding-hashes.txt

cargo build --release --locked -q -p ggufembed-cli --bin ggufembed
bin=${CARGO_TARGET_DIR:-target}/release/ggufembed
texts=$(mktemp)
trap 'rm -f "$texts"' EXIT
python3 -c '
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    print(json.dumps({"text": json.loads(line)["text"]}, ensure_ascii=False))
' "$shared/fixtures/minilm-dev-reference.jsonl" > "$texts"

if [ -z "${ISAS:-}" ]; then
    ISAS="scalar"
    grep -q ' avx2 ' /proc/cpuinfo && ISAS="$ISAS avx2"
    grep -q ' avx512_vnni ' /proc/cpuinfo && ISAS="$ISAS avx512"
    [ "$(uname -m)" = aarch64 ] && ISAS="$ISAS neon"
fi
models=${MODELS:-"all-MiniLM-L6-v2.f32 all-MiniLM-L6-v2.f16 all-MiniLM-L6-v2.q8_0 tiny-embeddinggemma.f32 tiny-embeddinggemma.q8_0 tiny-nomic-bert.f32 tiny-nomic-bert.q8_0 tiny-modernbert.f32 tiny-modernbert.q8_0 tiny-qwen3-embedding.f32 tiny-qwen3-embedding.q8_0"}
# Option sets: the defaults, max length 256, and per-token vectors (no pooling) at 64 tokens.
optsets=("default" "--max-len 256" "--pooling none --max-len 64")

out=$(mktemp)
for m in $models; do
    for o in "${optsets[@]}"; do
        args=()
        [ "$o" = default ] || read -r -a args <<< "$o"
        first=""
        for isa in $ISAS; do
            h=$(GGUFEMBED_ISA=$isa "$bin" embed -m "$shared/models/$m.gguf" -i "$texts" --threads 2 "${args[@]}" | sha256sum | cut -c1-16)
            echo "$m [$o] $isa $h" | tee -a "$out" >&2
            if [ -z "$first" ]; then first=$h
            elif [ "$h" != "$first" ]; then
                echo "note: $m [$o]: ISA $isa differs from ${ISAS%% *}" >&2
            fi
        done
    done
done
case "$mode" in
    --write) cp "$out" "$list"; echo "wrote $list" ;;
    --check)
        # Only the tiers run here: the recorded lines of other tiers are left out of the diff.
        if diff -u <(awk -v isas=" $ISAS " 'index(isas, " " $(NF-1) " ")' "$list") "$out"; then
            echo "embedding hashes: all equal to $list (ISAs: $ISAS)"
        else echo "error: embeddings differ from $list" >&2; exit 1; fi ;;
    *) cat "$out" ;;
esac
rm -f "$out"
