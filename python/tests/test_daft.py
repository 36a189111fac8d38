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
