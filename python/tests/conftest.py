"""Shared fixtures: the models, the dev texts, and what the CLI (`ggufembed embed`) makes of them.

The CLI is the reference: every embedding the package returns must be bit-identical to the CLI's
on the same text. Its path comes from GGUFEMBED_CLI (scripts/python-test.sh builds it), or
target/{debug,release}/ggufembed.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "crates" / "runtime" / "tests" / "data"
SHARED = ROOT.parent / "shared"

TINY_GEMMA = DATA / "tiny-embeddinggemma.q8_0.gguf"


def _minilm() -> Path | None:
    # ../shared when present; scripts/test.sh converts models/ from PyPI's copy otherwise.
    for p in (
        SHARED / "models" / "all-MiniLM-L6-v2.q8_0.gguf",
        ROOT / "models" / "all-MiniLM-L6-v2.q8_0.gguf",
    ):
        if p.is_file():
            return p
    return None


MINILM = _minilm()


def cli_path() -> Path:
    env = os.environ.get("GGUFEMBED_CLI")
    if env:
        return Path(env)
    for profile in ("debug", "release"):
        p = ROOT / "target" / profile / "ggufembed"
        if p.is_file():
            return p
    pytest.fail("the ggufembed CLI is not built (cargo build --bin ggufembed, or set GGUFEMBED_CLI)")


def read_texts(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def dev_texts() -> list[str]:
    return read_texts(DATA / "minilm-dev-ids.jsonl")


def bench_texts() -> list[str]:
    """bench-sentences (2,000) when ../shared is there, else the 261 dev texts."""
    p = SHARED / "fixtures" / "bench-sentences.jsonl"
    return read_texts(p) if p.is_file() else dev_texts()


def run_cli(args: list[str], texts: list[str] | None, tmp: Path) -> subprocess.CompletedProcess:
    """Runs the CLI with `texts` as JSONL on stdin."""
    stdin = None
    if texts is not None:
        stdin = "".join(json.dumps({"text": t}) + "\n" for t in texts)
    return subprocess.run(
        [str(cli_path()), *args], input=stdin, capture_output=True, text=True, timeout=600
    )


def cli_embed(model: Path, texts: list[str], tmp: Path, *extra: str) -> np.ndarray:
    """The CLI's embeddings of `texts` (float32 .npy), or a failure with its stderr."""
    out = tmp / f"cli-{len(texts)}-{abs(hash((str(model),) + extra))}.npy"
    r = run_cli(["embed", "-m", str(model), "--format", "npy", "-o", str(out), *extra], texts, tmp)
    assert r.returncode == 0, r.stderr
    return np.load(out)


def cli_error(args: list[str], tmp: Path) -> str:
    """The CLI's error message (stderr without `error: `) for a failing command."""
    r = run_cli(args, [], tmp)
    assert r.returncode == 1, (r.returncode, r.stderr)
    line = r.stderr.strip()
    assert line.startswith("error: "), line
    return line[len("error: ") :]


def assert_bits_equal(a: np.ndarray, b: np.ndarray) -> None:
    """Bit-for-bit equality of two float32 matrices (NaN-safe, -0.0 distinct from 0.0)."""
    assert a.dtype == np.float32 and b.dtype == np.float32, (a.dtype, b.dtype)
    assert a.shape == b.shape, (a.shape, b.shape)
    diff = np.nonzero(a.view(np.uint32) != b.view(np.uint32))
    assert diff[0].size == 0, f"{diff[0].size} values differ, first at {diff[0][0], diff[1][0]}"


MODELS = [pytest.param(TINY_GEMMA, id="tiny-embeddinggemma")]
if MINILM is not None:
    MODELS.append(pytest.param(MINILM, id="minilm-q8_0"))
else:
    print("SKIPPED: all-MiniLM-L6-v2.q8_0.gguf not found (../shared/models or models/)")


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ggufembed")


@pytest.fixture(scope="session", params=MODELS)
def model_path(request) -> Path:
    return request.param


@pytest.fixture(scope="session")
def cli_dev(model_path: Path, session_tmp: Path) -> np.ndarray:
    """The CLI's embeddings of the dev texts with `model_path`."""
    return cli_embed(model_path, dev_texts(), session_tmp)
