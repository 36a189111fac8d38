"""Driver of scripts/bench-python.sh: one child process per configuration and run, so peak memory
and start-up are the configuration's own. Runs are interleaved (repeat-major: every
configuration once, then again), so drifting load on a shared machine hits all alike. Prints a
Markdown table of medians.

Per run, a child reports:
- start-up: importing the engine and the backend library (``import daft`` / ``import ray`` +
  ``ray.init``; ``import ggufembed`` / ``import sentence_transformers``) and the engine's first
  query (a one-row no-op: Daft's UDF machinery, Ray Data's executor): what a Python session
  pays once, not per job;
- the job: building the DataFrame / Dataset, the workers' start (processes, actors, each
  opening its model) and embedding every text, until the result is materialised. texts/s and
  tokens/s are over this time. For the CLI the job is the whole ``ggufembed embed`` process
  (its start and model load included);
- peak memory: the high-water mark of the summed PSS (proportional set size: a page mapped by
  several processes, like the model file, counts once in all) of the child and all its
  descendants (Daft's UDF processes, Ray's raylet, GCS and workers), sampled every 0.25 s.
Model load per worker is measured apart, once: ``Model(path)`` / ``SentenceTransformer(path)``
in a fresh process after its import.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

CORES = os.cpu_count() or 1


class TreePss:
    """Samples the summed PSS of this process and its descendants; keeps the maximum (MiB)."""

    def __init__(self, interval: float = 0.25):
        self.peak_kib = 0
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "TreePss":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def peak_mib(self) -> float:
        return self.peak_kib / 1024

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def _sample(self) -> None:
        children: dict[int, list[int]] = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            # The command may hold spaces and parentheses: the fields follow the last ')'.
            ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(name))
        total, todo = 0, [os.getpid()]
        while todo:
            pid = todo.pop()
            todo.extend(children.get(pid, ()))
            try:
                with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
                    for line in f:
                        if line.startswith(b"Pss:"):
                            total += int(line.split()[1])
                            break
            except OSError:
                continue
        self.peak_kib = max(self.peak_kib, total)


def read_texts(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def child(cfg: dict) -> dict:
    """Runs one configuration in this process: start-up and job seconds."""
    texts = read_texts(cfg["texts"])
    engine, backend = cfg["engine"], cfg["backend"]
    conc, threads = cfg["concurrency"], cfg["threads"]
    t_start = time.perf_counter()
    if engine == "cli":
        t0 = time.perf_counter()
        subprocess.run(
            [cfg["cli"], "embed", "-m", cfg["model"], "-i", cfg["texts"], "--format", "npy",
             "-o", os.devnull, "--threads", str(threads)], check=True)
        return {"startup": 0.0, "job": time.perf_counter() - t0}
    if backend == "ggufembed":
        import ggufembed  # noqa: F401
    else:
        import sentence_transformers  # noqa: F401
    if engine == "daft":
        import daft

        if backend == "ggufembed":
            import ggufembed.daft

            expr_fn = ggufembed.daft.GgufEmbedder(
                cfg["model"], threads=threads, max_concurrency=conc,
                use_process=cfg["use_process"], batch_size=cfg["batch_size"]).embed
        else:
            expr_fn = _daft_st(cfg, conc, threads)
        _daft_warm_up(cfg["use_process"])
        t0 = time.perf_counter()
        # No into_partitions: the native runner has no partitions (it warns that the call is a
        # no-op); it cuts the input into morsels of batch_size rows and hands them to
        # max_concurrency worker threads (scripts/daft_trace.py shows the schedule).
        df = daft.from_pydict({"text": texts})
        df.with_column("e", expr_fn(df["text"])).collect()
        return {"startup": t0 - t_start, "job": time.perf_counter() - t0}
    # ray
    import pyarrow as pa
    import ray

    ray.init(num_cpus=CORES, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    # Ray Data's first execution sets up its executor: a one-row task-based map, not timed.
    ray.data.from_items([{"x": 1}]).map_batches(lambda b: b).materialize()
    t0 = time.perf_counter()
    table = pa.table({"text": texts})
    # One block per actor, made on the driver (a repartition task would need a CPU that the
    # actors already hold).
    step = -(-len(texts) // conc)
    ds = ray.data.from_arrow([table.slice(i, step) for i in range(0, len(texts), step)])
    if backend == "ggufembed":
        import ggufembed.ray

        fn, args = ggufembed.ray.GgufEmbedder, (cfg["model"],)
    else:
        fn, args = _RaySt, (cfg["st_model"],)
    ds = ds.map_batches(fn, fn_constructor_args=args, fn_constructor_kwargs={"threads": threads},
                        concurrency=conc, num_cpus=threads, batch_size=cfg["batch_size"],
                        batch_format="pyarrow")
    ds.materialize()
    job = time.perf_counter() - t0
    ray.shutdown()
    return {"startup": t0 - t_start, "job": job}


def _daft_warm_up(use_process: bool | None) -> None:
    """Daft's first query with a class UDF sets up its UDF machinery (1.3-2.6 s measured under
    load, for a no-op class): a one-row query with a no-op class, not timed, so the job's time
    is what every later query costs. Worker start and model load stay in the job."""
    import daft
    from daft import DataType

    @daft.cls(max_concurrency=1, use_process=use_process)
    class Noop:
        def __init__(self) -> None:
            pass

        @daft.method.batch(return_dtype=DataType.int64())
        def f(self, s):
            return [0] * len(s)

    df = daft.from_pydict({"x": ["a"]})
    df.with_column("n", Noop().f(df["x"])).collect()


def _daft_st(cfg: dict, conc: int, threads: int):
    """The seed setup: sentence-transformers (fp32, torch) in a @daft.cls batch method."""
    import daft
    from daft import DataType

    @daft.cls(max_concurrency=conc, use_process=cfg["use_process"])
    class St:
        def __init__(self, path: str, threads: int):
            import torch
            from sentence_transformers import SentenceTransformer

            torch.set_num_threads(threads)
            self.m = SentenceTransformer(path, device="cpu")

        @daft.method.batch(return_dtype=DataType.embedding(DataType.float32(), 384),
                           batch_size=cfg["batch_size"])
        def embed(self, texts):
            return self.m.encode(texts.to_pylist(), batch_size=64, convert_to_numpy=True)

    return St(cfg["st_model"], threads).embed


class _RaySt:
    def __init__(self, path: str, threads: int):
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        self.m = SentenceTransformer(path, device="cpu")

    def __call__(self, batch):
        import pyarrow as pa

        e = self.m.encode(batch.column("text").to_pylist(), batch_size=64, convert_to_numpy=True)
        return batch.append_column("embedding", pa.FixedSizeListArray.from_arrays(
            pa.array(e.reshape(-1)), e.shape[1]))


def load_time(cfg: dict) -> dict:
    """One worker's model opening in a fresh process: import and construction seconds."""
    t = time.perf_counter()
    if cfg["backend"] == "ggufembed":
        import ggufembed

        t1 = time.perf_counter()
        ggufembed.Model(cfg["model"], threads=cfg["threads"])
    else:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(cfg["threads"])
        t1 = time.perf_counter()
        SentenceTransformer(cfg["st_model"], device="cpu")
    return {"import": t1 - t, "load": time.perf_counter() - t1}


def grid(with_st: bool, batch_size: int) -> list[dict]:
    rows = [dict(engine="cli", backend="ggufembed", concurrency=1, threads=CORES,
                 use_process=None)]
    for backend in ["ggufembed"] + (["sentence-transformers"] if with_st else []):
        for conc in (1, 2):
            for use_process in (False, True):
                rows.append(dict(engine="daft", backend=backend, concurrency=conc,
                                 threads=max(1, CORES // conc), use_process=use_process))
        for conc in (1, 2):
            rows.append(dict(engine="ray", backend=backend, concurrency=conc,
                             threads=max(1, CORES // conc), use_process=True))
    for r in rows:
        r["batch_size"] = batch_size
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--texts", required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--st-repeats", type=int, default=0,
                    help="runs of the sentence-transformers rows (0: --repeats)")
    ap.add_argument("--limit", type=int, default=0, help="first N texts only (0: all)")
    ap.add_argument("--batch-size", type=int, default=256, help="rows per UDF / map_batches call")
    ap.add_argument("--only", default="", help="comma-separated engines (cli,daft,ray)")
    ap.add_argument("--st-model")
    ap.add_argument("--child")
    a = ap.parse_args()
    if a.child:
        cfg = json.loads(a.child)
        with TreePss() as mem:
            out = load_time(cfg) if cfg.get("load") else child(cfg)
        print(json.dumps({"result": out, "peak_mib": mem.peak_mib}))
        return

    texts = read_texts(a.texts)
    if a.limit:
        texts = texts[: a.limit]
    tmp = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8")
    with tmp:
        tmp.writelines(json.dumps({"text": t}) + "\n" for t in texts)
    # Token count of the texts (what the model runs, truncation included), once.
    import ggufembed

    m = ggufembed.Model(a.model)
    tokens = sum(min(len(ids), m.max_len) for ids in m.tokenize(texts))
    del m
    base = {"cli": a.cli, "model": a.model, "texts": tmp.name, "st_model": a.st_model}
    rows = grid(bool(a.st_model), a.batch_size)
    st_repeats = a.st_repeats or a.repeats
    if a.only:
        rows = [g for g in rows if g["engine"] in a.only.split(",")]
    print(f"# {len(texts)} texts, {tokens:,} tokens; batch_size {a.batch_size}; runs: "
          f"{a.repeats} (ggufembed), {st_repeats} (sentence-transformers)", flush=True)

    runs: list[list[dict]] = [[] for _ in rows]
    loads: dict[tuple, list[dict]] = {}
    for rep in range(max(a.repeats, st_repeats)):
        for i, g in enumerate(rows):
            if rep >= (a.repeats if g["backend"] == "ggufembed" else st_repeats):
                continue
            r = _run_child({**base, **g})
            runs[i].append(r)
            print(f"#   run {rep + 1}: {_label(g)}: job {r['result']['job']:.2f} s, "
                  f"start-up {r['result']['startup']:.2f} s, peak {r['peak_mib']:.0f} MiB",
                  file=sys.stderr, flush=True)
        if rep == 0:  # model load: once per backend and thread count (it varies little)
            for key in sorted({(g["backend"], g["threads"]) for g in rows}):
                cfg = {**base, "backend": key[0], "threads": key[1], "load": True}
                loads.setdefault(key, []).append(_run_child(cfg)["result"])
    os.unlink(tmp.name)

    print("| engine | backend | workers × threads | use_process | texts/s | tokens/s | vs CLI "
          "| start-up (s) | model load / worker (s) | peak PSS (MiB) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    cli_rate = None
    for g, rs in zip(rows, runs):
        sec = statistics.median(r["result"]["job"] for r in rs)
        startup = statistics.median(r["result"]["startup"] for r in rs)
        load = statistics.median(x["load"] for x in loads[(g["backend"], g["threads"])])
        rate = len(texts) / sec
        if g["engine"] == "cli":
            cli_rate = rate
        vs = f"{rate / cli_rate:.2f}" if cli_rate else "—"
        up = "—" if g["engine"] in ("cli", "ray") else ("on" if g["use_process"] else "off")
        print(f"| {g['engine']} | {g['backend']} | {g['concurrency']} × {g['threads']} | {up} "
              f"| {rate:,.0f} | {tokens / sec:,.0f} | {vs} | {startup:.2f} | {load:.3f} "
              f"| {statistics.median(r['peak_mib'] for r in rs):,.0f} |", flush=True)
    for key, xs in sorted(loads.items()):
        print(f"# import {key[0]} (threads {key[1]}): "
              f"{statistics.median(x['import'] for x in xs):.2f} s (median)")


def _label(g: dict) -> str:
    up = "" if g["use_process"] is None else f", use_process={g['use_process']}"
    return f"{g['engine']}+{g['backend']} {g['concurrency']}x{g['threads']}{up}"


def _run_child(cfg: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--cli", cfg["cli"], "--model", cfg["model"],
                          "--texts", cfg["texts"], "--child", json.dumps(cfg)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"configuration {cfg} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
