"""Runs one Ray job in its own process (a Ray cluster, and Daft's runner choice, are per
process): `python ray_job.py ray-data|daft-ray MODEL TEXTS.jsonl OUT.npy`.

ray-data: Dataset.map_batches(ggufembed.ray.GgufEmbedder, concurrency=2, num_cpus=1,
batch_format="pyarrow"); daft-ray: ggufembed.daft.GgufEmbedder and the AI provider
(daft.functions.embed_text) on daft.set_runner_ray(), stacked (2, n, dim).
Both on a local cluster of 2 CPUs; the embeddings are written in input order.
"""

import json
import sys

import numpy as np
import ray

mode, model, texts_path, out_path = sys.argv[1:]
with open(texts_path, encoding="utf-8") as f:
    texts = [json.loads(line)["text"] for line in f]

ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
if mode == "ray-data":
    import pyarrow as pa

    import ggufembed.ray

    table = pa.table({"id": list(range(len(texts))), "text": texts})
    # Two blocks, one per actor, made on the driver: a repartition task would need a CPU that
    # the two actors already hold.
    half = len(texts) // 2
    ds = ray.data.from_arrow([table.slice(0, half), table.slice(half)])
    ds = ds.map_batches(
        ggufembed.ray.GgufEmbedder,
        fn_constructor_args=(model,),
        fn_constructor_kwargs={"threads": 1},
        concurrency=2,
        num_cpus=1,
        batch_size=256,
        batch_format="pyarrow",
    )
    table = pa.concat_tables(ray.get(ds.to_arrow_refs())).sort_by("id")
    column = table.column("embedding").combine_chunks()
    if pa.types.is_fixed_size_list(column.type):
        out = column.flatten().to_numpy().reshape(len(texts), -1)
    else:  # Ray's own tensor extension type
        out = np.stack(column.to_numpy())
    np.save(out_path, out.astype(np.float32, copy=False))
elif mode == "daft-ray":
    import daft
    from daft.functions import embed_text

    import ggufembed.daft

    daft.set_runner_ray(noop_if_initialized=True)
    # Both entry points on the one cluster: the @daft.cls class (2 workers x 1 thread) and the
    # AI provider through daft.functions.embed_text; saved stacked, (2, n, dim).
    emb = ggufembed.daft.GgufEmbedder(model, threads=1, max_concurrency=2, batch_size=256)
    df = daft.from_pydict({"id": list(range(len(texts))), "text": texts}).into_partitions(4)
    df = df.with_column("e", emb.embed(df["text"]))
    df = df.with_column(
        "p", embed_text(df["text"], provider=ggufembed.daft.provider(threads=1), model=model)
    )
    table = df.sort("id").collect().to_arrow()
    outs = []
    for name in ("e", "p"):
        arr = table.column(name).combine_chunks()
        arr = arr.storage if hasattr(arr, "storage") else arr
        outs.append(arr.flatten().to_numpy().reshape(len(texts), -1))
    np.save(out_path, np.stack(outs))
else:
    sys.exit(f"unknown mode {mode}")
ray.shutdown()
