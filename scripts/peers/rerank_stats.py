#!/usr/bin/env python3
"""Helpers for scripts/bench-rerank.sh (standard library only).

  rerank_stats.py dev-tsv DEV.jsonl OUT.tsv OUT.idx
      llama-embedding's input for the dev pairs: one "query<TAB>document" line per pair that
      fits (not `truncated` in the reference, i.e. at most 512 tokens; llama.cpp refuses longer
      pairs instead of truncating them); OUT.idx holds the dev index of each line.
  rerank_stats.py bench-pairs SENTENCES.jsonl PASSAGES.jsonl OUT.jsonl OUT.tsv [QUERIES] [DOCS]
      The throughput workload: QUERIES (30) queries, sentence i*(n_sent//QUERIES) of
      bench-sentences, each with DOCS (10) passages, passage (i*DOCS + j) mod n_pass of
      bench-passages: deterministic, every pair distinct.
  rerank_stats.py ours-scores OUT.jsonl > SCORES      ggufembed rerank's output, one score a line
  rerank_stats.py llama-scores LLAMA.json > SCORES    llama-embedding --embd-output-format json:
      the score is element 0 of each "embedding" (this build prints n_embd values for rank
      pooling; only the first is the classifier's output, the rest is unrelated memory, -nan included)
  rerank_stats.py row LABEL DEV.jsonl SCORES [IDX]
      One markdown row: pairs scored, refused, max and mean |score - score_f64|, query groups
      ordered exactly as the reference, worst-group Spearman. With IDX, SCORES line k is dev
      pair IDX[k] and groups are compared on the pairs scored.
"""
import json
import re
import sys


def load_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def clean(s):
    return s.replace("\t", " ").replace("\n", " ").replace("\r", " ")


def ranks(xs):
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    r = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2.0
        i = j + 1
    return r


def spearman(a, b):
    if len(a) < 2:
        return 1.0
    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    num = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    da = sum((x - ma) ** 2 for x in ra) ** 0.5
    db = sum((y - mb) ** 2 for y in rb) ** 0.5
    return num / (da * db) if da > 0 and db > 0 else 0.0


def main():
    cmd = sys.argv[1]
    if cmd == "dev-tsv":
        dev = load_jsonl(sys.argv[2])
        with open(sys.argv[3], "w", encoding="utf-8") as t, open(sys.argv[4], "w") as ix:
            for i, r in enumerate(dev):
                if r["truncated"]:
                    continue
                t.write(clean(r["query"]) + "\t" + clean(r["document"]) + "\n")
                ix.write(f"{i}\n")
    elif cmd == "bench-pairs":
        sents = [r["text"] for r in load_jsonl(sys.argv[2])]
        pas = [r["text"] for r in load_jsonl(sys.argv[3])]
        nq = int(sys.argv[6]) if len(sys.argv) > 6 else 30
        nd = int(sys.argv[7]) if len(sys.argv) > 7 else 10
        step = len(sents) // nq
        with open(sys.argv[4], "w", encoding="utf-8") as j, open(sys.argv[5], "w", encoding="utf-8") as t:
            for i in range(nq):
                q = clean(sents[i * step])
                for k in range(nd):
                    d = clean(pas[(i * nd + k) % len(pas)])
                    j.write(json.dumps({"query": q, "document": d}, ensure_ascii=False) + "\n")
                    t.write(q + "\t" + d + "\n")
    elif cmd == "ours-scores":
        for r in load_jsonl(sys.argv[2]):
            print(repr(float(r["score"])))
    elif cmd == "llama-scores":
        # not json.load: the unrelated values include -nan
        with open(sys.argv[2], encoding="utf-8") as f:
            text = f.read()
        found = re.findall(r'"index"\s*:\s*(\d+)\s*,\s*"embedding"\s*:\s*\[\s*([^,\]\s]+)', text)
        for _, v in sorted(found, key=lambda e: int(e[0])):
            print(repr(float(v)))
    elif cmd == "row":
        label, dev = sys.argv[2], load_jsonl(sys.argv[3])
        with open(sys.argv[4]) as f:
            scores = [float(l) for l in f if l.strip()]
        if len(sys.argv) > 5:
            with open(sys.argv[5]) as f:
                idx = [int(l) for l in f if l.strip()]
        else:
            idx = list(range(len(dev)))
        if len(idx) != len(scores):
            sys.exit(f"{label}: {len(scores)} scores for {len(idx)} pairs")
        got = dict(zip(idx, scores))
        errs = [abs(got[i] - dev[i]["score_f64"]) for i in idx]
        groups = {}
        for i in idx:
            groups.setdefault(dev[i]["group"], []).append(i)
        all_groups = {r["group"] for r in dev}
        exact, worst = 0, 1.0
        for g, members in groups.items():
            ref = [dev[i]["score_f64"] for i in members]
            ours = [got[i] for i in members]
            if sorted(members, key=lambda i: -got[i]) == sorted(members, key=lambda i: -dev[i]["score_f64"]):
                exact += 1
            worst = min(worst, spearman(ref, ours))
        refused = len(dev) - len(idx)
        print(f"| {label} | {len(idx)} | {refused} | {max(errs):.6f} | {sum(errs) / len(errs):.6f} "
              f"| {exact} / {len(groups)}{'' if len(groups) == len(all_groups) else f' (of {len(all_groups)})'} | {worst:.3f} |")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
