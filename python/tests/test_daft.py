"""Daft (native runner): GgufEmbedder and the AI provider over bench-sentences, against the CLI."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import MINILM, TINY_GEMMA, assert_bits_equal, bench_texts, cli_embed

daft = pytest.importorskip("daft")
import ggufembed.daft  # noqa: E402

pytestmark = pytest.mark.daft

MODEL = MINILM or TINY_GEMMA


@pytest.fixture(scope="module")
def texts() -> list[str]:
    # A slice keeps the debug-built suite to seconds per DataFrame in CI; the whole set runs
    # in scripts/bench-python.sh.
    return bench_texts()[:400]


@pytest.fixture(scope="module")
def want(texts, session_tmp) -> np.ndarray:
    return cli_embed(MODEL, texts, session_tmp)


def column(df, name: str, dim: int) -> np.ndarray:
    arr = df.to_arrow().column(name).combine_chunks()
    return arr.storage.flatten().to_numpy().reshape(-1, dim) if hasattr(arr, "storage") else (
        arr.flatten().to_numpy().reshape(-1, dim)
    )


@pytest.mark.parametrize(
    "max_concurrency,use_process", [(1, False), (2, False), (2, True)], ids=str
)
def test_gguf_embedder(texts, want, max_concurrency, use_process):
    emb = ggufembed.daft.GgufEmbedder(
        str(MODEL), threads=1, max_concurrency=max_concurrency, use_process=use_process,
        batch_size=256,
    )
    df = daft.from_pydict({"id": list(range(len(texts))), "text": texts})
    df = df.with_column("e", emb.embed(df["text"])).sort("id").collect()
    dim = ggufembed.read_dim(str(MODEL))
    assert df.schema()["e"].dtype == daft.DataType.embedding(daft.DataType.float32(), dim)
    assert_bits_equal(column(df, "e", dim), want)


def test_model_pool_gives_concurrent_calls_their_own_model():
    """Daft calls one class instance from all its worker threads (in-process); a one-thread
    model runs one call at a time, so each running call must hold a model of its own."""
    import threading

    pool = ggufembed.daft._ModelPool(lambda: ggufembed.Model(str(TINY_GEMMA), threads=1))
    held, release, seen = threading.Barrier(3), threading.Event(), []

    def call() -> None:
        with pool.model() as m:
            seen.append(m)
            held.wait(timeout=30)  # both calls (and the test) hold here at once
            release.wait(timeout=30)

    workers = [threading.Thread(target=call) for _ in range(2)]
    for w in workers:
        w.start()
    held.wait(timeout=30)
    release.set()
    for w in workers:
        w.join()
    assert seen[0] is not seen[1]
    assert pool.opened == 2
    with pool.model() as again:  # a free model is reused, none opened
        assert again in seen
    assert pool.opened == 2


def test_concurrent_daft_calls_never_share_a_model(texts, want, tmp_path, monkeypatch):
    """2 workers x 1 thread, through the trace log: calls that overlap in time ran on
    different models (they were serialised on one before), and the bits are the CLI's."""
    import json

    trace = tmp_path / "trace.jsonl"
    monkeypatch.setenv("GGUFEMBED_DAFT_TRACE", str(trace))
    emb = ggufembed.daft.GgufEmbedder(str(MODEL), threads=1, max_concurrency=2, batch_size=64)
    df = daft.from_pydict({"id": list(range(len(texts))), "text": texts})
    df = df.with_column("e", emb.embed(df["text"])).sort("id").collect()
    assert_bits_equal(column(df, "e", ggufembed.read_dim(str(MODEL))), want)
    calls = [json.loads(line) for line in trace.read_text().splitlines()]
    assert sum(c["rows"] for c in calls) == len(texts)
    for i, a in enumerate(calls):
        for b in calls[i + 1 :]:
            if a["pid"] == b["pid"] and a["t0"] < b["t1"] and b["t0"] < a["t1"]:
                assert a["model"] != b["model"], (a, b)


def test_gguf_embedder_keeps_nulls(texts, want):
    emb = ggufembed.daft.GgufEmbedder(str(MODEL), threads=1, dimensions=None)
    rows = texts[:5] + [None] + texts[5:9]
    df = daft.from_pydict({"text": rows}).with_column("e", emb(daft.col("text"))).collect()
    values = df.to_pydict()["e"]
    assert values[5] is None
    got = np.stack([np.asarray(v, dtype=np.float32) for v in values if v is not None])
    assert_bits_equal(got, np.concatenate([want[:5], want[5:9]]))


def test_provider_through_embed_text(texts, want):
    from daft.functions import embed_text

    df = daft.from_pydict({"id": list(range(len(texts))), "text": texts})
    expr = embed_text(
        df["text"], provider=ggufembed.daft.provider(threads=2), model=str(MODEL)
    )
    df = df.with_column("e", expr).sort("id").collect()
    dim = ggufembed.read_dim(str(MODEL))
    assert df.schema()["e"].dtype == daft.DataType.embedding(daft.DataType.float32(), dim)
    assert_bits_equal(column(df, "e", dim), want)


def test_provider_dimensions_and_errors(texts):
    from daft.functions import embed_text

    dim = ggufembed.read_dim(str(MODEL))
    df = daft.from_pydict({"text": texts[:8]})
    out = df.with_column(
        "e", embed_text(df["text"], provider=ggufembed.daft.provider(), model=str(MODEL),
                        dimensions=dim // 2)
    ).collect()
    assert out.schema()["e"].dtype == daft.DataType.embedding(daft.DataType.float32(), dim // 2)
    with pytest.raises(ValueError, match="dimensions"):
        embed_text(df["text"], provider=ggufembed.daft.provider(), model=str(MODEL),
                   dimensions=dim + 1)
    with pytest.raises(FileNotFoundError, match="cannot read"):
        embed_text(df["text"], provider=ggufembed.daft.provider(), model="/no/such.gguf")


@pytest.mark.full
def test_all_bench_sentences_through_both_entry_points(session_tmp):
    """All of bench-sentences (opt-in: ``-m full``; the default suite runs a 400-text slice)."""
    from daft.functions import embed_text

    texts = bench_texts()
    want = cli_embed(MODEL, texts, session_tmp)
    dim = ggufembed.read_dim(str(MODEL))
    emb = ggufembed.daft.GgufEmbedder(str(MODEL), threads=2, batch_size=256)
    df = daft.from_pydict({"id": list(range(len(texts))), "text": texts})
    df = df.with_column("e", emb.embed(df["text"]))
    df = df.with_column(
        "p", embed_text(df["text"], provider=ggufembed.daft.provider(threads=2), model=str(MODEL))
    )
    df = df.sort("id").collect()
    assert_bits_equal(column(df, "e", dim), want)
    assert_bits_equal(column(df, "p", dim), want)
