"""Driver of scripts/bench-python.sh: one child process per configuration and run, so peak RSS
and model-load time are the configuration's own. Prints a Markdown table of medians."""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

CORES = os.cpu_count() or 1


def child(cfg: dict) -> dict:
    """Runs one configuration in this process; returns seconds, tokens and load times."""
    with open(cfg["texts"], encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    engine, backend = cfg["engine"], cfg["backend"]
    conc, threads = cfg["concurrency"], cfg["threads"]
    t0 = time.perf_counter()
    if engine == "cli":
        subprocess.run(
            [cfg["cli"], "embed", "-m", cfg["model"], "-i", cfg["texts"], "--format", "npy",
             "-o", os.devnull, "--threads", str(threads)], check=True)
        return {"seconds": time.perf_counter() - t0, "n": len(texts)}
    if engine == "daft":
        import daft

        if backend == "ggufembed":
            import ggufembed.daft

            emb = ggufembed.daft.GgufEmbedder(
                cfg["model"], threads=threads, max_concurrency=conc,
                use_process=cfg["use_process"], batch_size=256)
            expr_fn = emb.embed
        else:
            expr_fn = _daft_st(cfg, conc, threads)
        df = daft.from_pydict({"text": texts}).into_partitions(max(conc, 1))
        df.with_column("e", expr_fn(df["text"])).collect()
    else:  # ray
        import pyarrow as pa
        import ray

        ray.init(num_cpus=CORES, include_dashboard=False, log_to_driver=False)
        table = pa.table({"text": texts})
        step = -(-len(texts) // conc)
        ds = ray.data.from_arrow([table.slice(i, step) for i in range(0, len(texts), step)])
        if backend == "ggufembed":
            import ggufembed.ray

            fn, args = ggufembed.ray.GgufEmbedder, (cfg["model"],)
            kwargs = {"threads": threads}
        else:
            fn, args, kwargs = _RaySt, (cfg["st_model"],), {"threads": threads}
        ds = ds.map_batches(fn, fn_constructor_args=args, fn_constructor_kwargs=kwargs,
                            concurrency=conc, num_cpus=threads, batch_size=256,
                            batch_format="pyarrow")
        ds.materialize()
        ray.shutdown()
    return {"seconds": time.perf_counter() - t0, "n": len(texts)}


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
                           batch_size=256)
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


def load_time(cfg: dict) -> float:
    """Seconds to open one worker's model, in a fresh process."""
    t = time.perf_counter()
    if cfg["backend"] == "ggufembed" or cfg["engine"] == "cli":
        import ggufembed

        ggufembed.Model(cfg["model"], threads=cfg["threads"])
    else:
        from sentence_transformers import SentenceTransformer

        SentenceTransformer(cfg["st_model"], device="cpu")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--texts", required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--st-model")
    ap.add_argument("--child")
    a = ap.parse_args()
    if a.child:
        cfg = json.loads(a.child)
        out = load_time(cfg) if cfg.get("load") else child(cfg)
        peak_kib = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                       resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        print(json.dumps({"result": out, "peak_mib": peak_kib / 1024}))
        return
    # Token count of the texts (what the model runs, truncation included), once.
    import ggufembed

    with open(a.texts, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    m = ggufembed.Model(a.model)
    tokens = sum(min(len(ids), m.max_len) for ids in m.tokenize(texts))
    base = {"cli": a.cli, "model": a.model, "texts": a.texts, "st_model": a.st_model}
    grid = [dict(engine="cli", backend="ggufembed", concurrency=1, threads=CORES,
                 use_process=None)]
    backends = ["ggufembed"] + (["sentence-transformers"] if a.st_model else [])
    for backend in backends:
        for conc in (1, 2):
            for use_process in (False, True):
                grid.append(dict(engine="daft", backend=backend, concurrency=conc,
                                 threads=max(1, CORES // conc), use_process=use_process))
        for conc in (1, 2):
            grid.append(dict(engine="ray", backend=backend, concurrency=conc,
                             threads=max(1, CORES // conc), use_process=True))
    print("| engine | backend | max_concurrency × threads | use_process | texts/s | tokens/s "
          "| vs CLI | model load / worker (s) | peak RSS (MiB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    cli_rate = None
    for g in grid:
        cfg = {**base, **g}
        runs, peaks = [], []
        for _ in range(a.repeats):
            r = _run_child(cfg)
            runs.append(r["result"]["seconds"])
            peaks.append(r["peak_mib"])
        load = _run_child({**cfg, "load": True})["result"]
        sec = statistics.median(runs)
        rate = len(texts) / sec
        cli_rate = cli_rate or rate
        up = "—" if g["engine"] in ("cli", "ray") else ("on" if g["use_process"] else "off")
        print(f"| {g['engine']} | {g['backend']} | {g['concurrency']} × {g['threads']} | {up} "
              f"| {rate:,.0f} | {tokens / sec:,.0f} | {rate / cli_rate:.2f} | {load:.3f} "
              f"| {max(peaks):,.0f} |", flush=True)


def _run_child(cfg: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--cli", cfg["cli"], "--model", cfg["model"],
                          "--texts", cfg["texts"], "--child", json.dumps(cfg)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"configuration {cfg} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
