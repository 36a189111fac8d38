#!/usr/bin/env python3
"""llama.cpp's own embeddings of the dev texts with its CLI, and their cosine vs sentence-transformers.

Usage: llama_cli_embed.py LLAMA_EMBEDDING MODEL.gguf REFERENCE.jsonl OUT.jsonl [THREADS]

Runs `llama-embedding -f TEXTS --embd-separator SEP --pooling mean --embd-normalize 2 -c 512 -b 512
-ub 512 --embd-output-format array --verbose-prompt` once on the dev texts of at most 256 Hugging
Face tokens (258 of the 261: llama.cpp does not truncate, and the reference was truncated at 256),
llama.cpp's own tokenizer on the text, as `llama-embedding` users get it. --verbose-prompt prints
the ids llama.cpp used for each text; a text whose ids differ from Hugging Face's (`ids`) is
embedded all the same but left out of the second statistic, which is then the shared README's
255-text method (`llama-embedding --pooling mean --embd-normalize 2`).

Writes OUT.jsonl ({"index", "embedding", "ids_agree"}, the reference's index, only the embedded
texts) and prints one JSON line: {"all_le256": {n, min, p1, mean}, "tokens_agree_le256": {...},
"ids_differ": [indices]}. Standard library only.
"""
import json
import math
import re
import subprocess
import sys
import tempfile

SEP = "\u241e<ggufembed-sep>\u241e"


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def stats(vals):
    s = sorted(vals)
    pos = (len(s) - 1) / 100
    lo = math.floor(pos)
    p1 = s[lo] + (s[min(lo + 1, len(s) - 1)] - s[lo]) * (pos - lo)
    return {"n": len(s), "min": s[0], "p1": p1, "mean": sum(s) / len(s)}


def main():
    binary, model, ref, out = sys.argv[1:5]
    threads = sys.argv[5] if len(sys.argv) > 5 else "2"
    rows = [json.loads(line) for line in open(ref, encoding="utf-8") if line.strip()]
    keep = [i for i, r in enumerate(rows) if len(r["ids"]) <= 256]
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False) as f:
        # -f drops one trailing newline of the file: end with one more (dummy) prompt, whose
        # vector and ids are dropped below.
        f.write(SEP.join([rows[i]["text"] for i in keep] + ["."]))
        texts = f.name
    proc = subprocess.run([binary, "-m", model, "-f", texts, "--embd-separator", SEP, "--pooling", "mean",
                           "--embd-normalize", "2", "-c", "512", "-b", "512", "-ub", "512", "-t", threads,
                           "-tb", threads, "--embd-output-format", "array", "--verbose-prompt", "--no-escape"],
                          capture_output=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr.decode("utf-8", "replace")[-3000:])
        sys.exit(f"llama-embedding failed ({proc.returncode})")
    stdout = proc.stdout.decode("utf-8", "replace")
    # Token lines ("%6d -> 'piece'") come first, one block per prompt, blocks separated by blank
    # lines; then the array of vectors.
    start = stdout.index("[[") if "[[" in stdout else stdout.index("[")
    vectors = json.loads(stdout[start:].strip())
    token_part = stdout[:start]
    blocks, cur = [], []
    for line in token_part.split("\n"):
        m = re.match(r"^\s*(\d+) -> '", line)
        if m:
            cur.append(int(m.group(1)))
        elif line.strip() == "" and cur:
            blocks.append(cur)
            cur = []
    if cur:
        blocks.append(cur)
    vectors, blocks = vectors[:-1], blocks[:-1]
    if len(vectors) != len(keep):
        sys.exit(f"llama-embedding gave {len(vectors)} vectors for {len(keep)} texts")
    if len(blocks) != len(keep):
        sys.exit(f"could not read llama.cpp's ids back ({len(blocks)} blocks for {len(keep)} texts)")
    cos_all, cos_agree, differ = [], [], []
    with open(out, "w") as f:
        for i, v, ids in zip(keep, vectors, blocks):
            agree = ids == rows[i]["ids"]
            f.write(json.dumps({"index": i, "embedding": v, "ids_agree": agree}) + "\n")
            c = cosine(v, rows[i]["embedding_256"])
            cos_all.append(c)
            if agree:
                cos_agree.append(c)
            else:
                differ.append(i)
    print(json.dumps({"model": model, "all_le256": stats(cos_all), "tokens_agree_le256": stats(cos_agree),
                      "ids_differ": differ}))


if __name__ == "__main__":
    main()
