#!/usr/bin/env python3
"""Cosine of embeddings vs the sentence-transformers references, on the dev texts of at most MAX_TOKENS
Hugging Face tokens (the shared README's method: a longer text is truncated differently by each peer).

Usage: cosine.py EMBEDDINGS.jsonl REFERENCE.jsonl [FIELD (embedding_256)] [MAX_TOKENS (256)]

EMBEDDINGS.jsonl: one {"index", "embedding"} line per reference line (ggufembed embed's output, or a
peer's). Prints one JSON line {"n", "min", "p1", "mean", "worst_index"}. Standard library only.
"""
import json
import math
import sys


def main():
    emb_path, ref_path = sys.argv[1], sys.argv[2]
    field = sys.argv[3] if len(sys.argv) > 3 else "embedding_256"
    max_tokens = int(sys.argv[4]) if len(sys.argv) > 4 else 256
    refs = [json.loads(line) for line in open(ref_path, encoding="utf-8") if line.strip()]
    embs = {}
    for line in open(emb_path, encoding="utf-8"):
        if line.strip():
            o = json.loads(line)
            embs[o["index"]] = o["embedding"]
    cos = []
    for i, r in enumerate(refs):
        if len(r["ids"]) > max_tokens:
            continue
        a, b = embs[i], r[field]
        dot = sum(x * y for x, y in zip(a, b))
        cos.append((dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))), i))
    s = sorted(cos)
    pos = (len(s) - 1) / 100
    lo = math.floor(pos)
    p1 = s[lo][0] + (s[lo + 1][0] - s[lo][0]) * (pos - lo)
    print(json.dumps({"n": len(s), "min": s[0][0], "p1": p1, "mean": sum(c for c, _ in s) / len(s),
                      "worst_index": s[0][1]}))


if __name__ == "__main__":
    main()
