#!/usr/bin/env bash
# llama-quantize the shared all-MiniLM-L6-v2 f32 GGUF into every weight type the hub publishes,
# then llama.cpp's own embeddings of the 261 dev texts for each file and its cosine vs the
# sentence-transformers references.
#
#   scripts/peers/make-quant-models.sh OUTDIR [TYPE ...]
#
# Default types: Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K IQ4_NL
# IQ4_XS (plus Q8_0 as the baseline). Writes, per type:
#   OUTDIR/all-MiniLM-L6-v2.TYPE.gguf                      (llama-quantize F32 → TYPE, 2 threads)
#   OUTDIR/all-MiniLM-L6-v2.TYPE.gguf.quantize.log         (its log: which rows fell back)
#   OUTDIR/all-MiniLM-L6-v2.TYPE.gguf.llama-embeddings.jsonl  ({"index", "embedding", "ids_agree"}:
#       llama-embedding --pooling mean on the 258 dev texts of at most 256 tokens, llama.cpp's own
#       tokenizer; scripts/peers/llama_cli_embed.py)
# and OUTDIR/accuracy.md: per file, the tensor types llama-quantize wrote and llama.cpp's
# min / p1 / mean cosine vs `embedding_256`. Idempotent (existing outputs are kept). Touches
# OUTDIR/READY at the end.
# Env: LLAMA_CPP_DIR (.tools/llama.cpp; built by scripts/peers/build-llama.sh if missing),
# THREADS (2).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 1 ] || { sed -n 2,18p "$0"; exit 2; }
out=$1
shift
types=("$@")
[ ${#types[@]} -gt 0 ] || types=(Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K IQ4_NL IQ4_XS)
shared=../shared
f32=$shared/models/all-MiniLM-L6-v2.f32.gguf
ref=$shared/fixtures/minilm-dev-reference.jsonl
threads=${THREADS:-2}
llama=${LLAMA_CPP_DIR:-.tools/llama.cpp}
[ -x "$llama/bin/llama-quantize" ] && [ -x "$llama/bin/llama-embedding" ] || LLAMA_CPP_DIR=$llama scripts/peers/build-llama.sh
mkdir -p "$out"

table=$out/accuracy.md
{
    echo "llama.cpp (llama-embedding --pooling mean --embd-normalize 2, its own tokenizer) vs sentence-transformers \`embedding_256\`;"
    echo "A: the 258 dev texts of at most 256 tokens; B: the 255 of those on which llama.cpp's ids equal Hugging Face's (the shared README's set)."
    echo
    echo "| file | tensor types written (count) | tensors that fell back | A min | A p1 | A mean | B min | B p1 | B mean |"
    echo "|---|---|---|---:|---:|---:|---:|---:|---:|"
} >"$table.tmp"
for t in "${types[@]}"; do
    f=$out/all-MiniLM-L6-v2.$t.gguf
    if [ ! -s "$f" ]; then
        echo "quantize: $t" >&2
        "$llama/bin/llama-quantize" "$f32" "$f.tmp" "$t" "$threads" >"$f.quantize.log" 2>&1 ||
            { tail -5 "$f.quantize.log" >&2; exit 1; }
        mv "$f.tmp" "$f"
    fi
    # "converting to q5_0" per tensor (llama-quantize's log), and the fallbacks it announced.
    written=$(grep -o 'converting to [A-Za-z0-9_]*\|type = *f32, size' "$f.quantize.log" |
        sed 's/converting to //; s/type = *f32, size/f32/' | sort | uniq -c |
        awk '{printf "%s%s ×%d", sep, toupper($2), $1; sep=", "}')
    fellback=$(grep -o '[0-9]* of [0-9]* tensor(s) required fallback' "$f.quantize.log" | cut -d' ' -f1 || true)
    fellback=${fellback:-0}
    emb=$f.llama-embeddings.jsonl
    if [ ! -s "$emb.stats.json" ]; then
        echo "llama.cpp embeddings: $t" >&2
        python3 scripts/peers/llama_cli_embed.py "$llama/bin/llama-embedding" "$f" "$ref" "$emb" "$threads" >"$emb.stats.json.tmp"
        mv "$emb.stats.json.tmp" "$emb.stats.json"
    fi
    python3 - "$emb.stats.json" "$(basename "$f")" "$written" "$fellback" >>"$table.tmp" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
a, b = s["all_le256"], s["tokens_agree_le256"]
print(f"| `{sys.argv[2]}` | {sys.argv[3]} | {sys.argv[4]} | {a['min']:.6f} | {a['p1']:.6f} | {a['mean']:.6f} "
      f"| {b['min']:.6f} | {b['p1']:.6f} | {b['mean']:.6f} |")
PY
done
mv "$table.tmp" "$table"
cat "$table"
touch "$out/READY"
