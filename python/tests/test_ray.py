"""Ray: map_batches with ggufembed.ray.GgufEmbedder, and Daft on the Ray runner, each on a local
cluster (ray.init(num_cpus=2)) in a child process bounded to 5 minutes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import MINILM, TINY_GEMMA, assert_bits_equal, bench_texts, cli_embed

pytest.importorskip("ray")

pytestmark = pytest.mark.ray

MODEL = MINILM or TINY_GEMMA
JOB = Path(__file__).with_name("ray_job.py")


@pytest.fixture(scope="module")
def inputs(session_tmp):
    texts = bench_texts()[:300]
    path = session_tmp / "ray-texts.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    return path, cli_embed(MODEL, texts, session_tmp)


@pytest.mark.parametrize("mode", ["ray-data", "daft-ray"])
def test_ray(mode, inputs, session_tmp):
    if mode == "daft-ray":
        pytest.importorskip("daft")
    texts_path, want = inputs
    out = session_tmp / f"{mode}.npy"
    r = subprocess.run(
        [sys.executable, str(JOB), mode, str(MODEL), str(texts_path), str(out)],
        capture_output=True, text=True, timeout=300,
        # Not python/: Ray's workers put the driver's directory on sys.path, where the source
        # tree (without the compiled module) would shadow the installed wheel.
        cwd=session_tmp,
    )
    assert r.returncode == 0, r.stderr[-4000:]
    got = np.load(out).astype(np.float32, copy=False)
    if mode == "daft-ray":  # GgufEmbedder, then the provider
        assert got.shape[0] == 2, got.shape
        assert_bits_equal(got[0], want)
        assert_bits_equal(got[1], want)
    else:
        assert_bits_equal(got, want)
