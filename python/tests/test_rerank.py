"""Model.rerank / score_pairs with the shared tiny reranker: bit-identical to `ggufembed rerank`,
equal to sentence-transformers' CrossEncoder on the dev pairs, sorted, top_n, sigmoid, errors.
Skipped when ../shared is absent."""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pytest
from conftest import SHARED, TINY_GEMMA, cli_path

import ggufembed

RERANKER = SHARED / "models" / "tiny-reranker.f32.gguf"
PAIRS = SHARED / "fixtures" / "tiny-reranker-dev-pairs.jsonl"

pytestmark = pytest.mark.skipif(
    not (RERANKER.is_file() and PAIRS.is_file()), reason="../shared tiny-reranker not present"
)


def pairs() -> list[dict]:
    with open(PAIRS, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def test_scores_match_the_cli_bit_for_bit_and_sentence_transformers():
    rows = pairs()
    m = ggufembed.Model(RERANKER, threads=2)
    assert m.is_reranker and m.info()["pooling"] == "rank"
    got = m.score_pairs([(r["query"], r["document"]) for r in rows])
    assert got.dtype == np.float32 and got.shape == (len(rows),)
    cli = subprocess.run(
        [str(cli_path()), "rerank", "-m", str(RERANKER), "-i", str(PAIRS)],
        capture_output=True, text=True, timeout=600, check=True,
    )
    want = np.array([json.loads(l)["score"] for l in cli.stdout.splitlines()], dtype=np.float32)
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
    ref = np.array([r["score"] for r in rows])
    rel = np.abs(got - ref) / np.maximum(1.0, np.abs(ref))
    assert rel.max() <= 1e-3, rel.max()


def test_rerank_sorts_cuts_and_maps_through_the_sigmoid():
    rows = [r for r in pairs() if r["group"] == 1]
    m = ggufembed.Model(RERANKER)
    docs = [r["document"] for r in rows]
    ranked = m.rerank(rows[0]["query"], docs)
    want = sorted(range(len(rows)), key=lambda i: -rows[i]["score"])
    assert [i for i, _ in ranked] == want
    top = m.rerank(rows[0]["query"], docs, top_n=2, sigmoid=True)
    assert [i for i, _ in top] == want[:2]
    for (i, s), (_, raw) in zip(top, ranked):
        assert math.isclose(s, 1 / (1 + math.exp(-raw)), rel_tol=1e-6)


def test_wrong_kind_of_model_raises_value_error():
    m = ggufembed.Model(RERANKER)
    with pytest.raises(ValueError, match="reranker"):
        m.embed(["hello"])
    e = ggufembed.Model(TINY_GEMMA)
    assert not e.is_reranker
    with pytest.raises(ValueError, match="not a reranker"):
        e.rerank("q", ["d"])
