#!/usr/bin/env python3
"""Embeds a JSONL workload with llama.cpp (through llama-cpp-python) the way `llama-embedding`
does: mean pooling, batches of up to N_BATCH tokens, N threads. Prints one JSON line:
{"texts", "tokens", "seconds_embed", "seconds_load"} and writes the embeddings as .npy if asked.

Usage: llama_embed.py MODEL.gguf WORKLOAD.jsonl THREADS [N_BATCH] [OUT.npy]
"""
import json
import sys
import time

import llama_cpp


def main() -> None:
    model, workload, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    n_batch = int(sys.argv[4]) if len(sys.argv) > 4 else 512
    out = sys.argv[5] if len(sys.argv) > 5 else None
    texts = [json.loads(line)["text"] for line in open(workload, encoding="utf-8") if line.strip()]
    t0 = time.perf_counter()
    llm = llama_cpp.Llama(
        model_path=model,
        embedding=True,
        n_ctx=n_batch,
        n_batch=n_batch,
        n_ubatch=n_batch,
        n_threads=threads,
        n_threads_batch=threads,
        pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
        verbose=False,
    )
    t1 = time.perf_counter()
    tokens = sum(len(llm.tokenize(t.encode("utf-8"), add_bos=True, special=False)) for t in texts)
    t2 = time.perf_counter()
    vectors = llm.embed(texts, normalize=True, truncate=True)
    t3 = time.perf_counter()
    if out:
        import numpy as np  # only when asked: the timing run does not need numpy

        np.save(out, np.asarray(vectors, dtype=np.float32))
    print(json.dumps({
        "texts": len(texts),
        "tokens": tokens,
        "seconds_load": t1 - t0,
        "seconds_embed": t3 - t2,
    }))


if __name__ == "__main__":
    main()
