"""ggufembed.Model against the CLI: embeddings, tokens, errors, threads, the GIL."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pyarrow as pa
import pytest
from conftest import (
    MINILM,
    TINY_GEMMA,
    assert_bits_equal,
    cli_embed,
    cli_error,
    dev_texts,
    run_cli,
)

import ggufembed


def test_embed_is_bit_identical_to_cli(model_path, cli_dev):
    m = ggufembed.Model(model_path)
    got = m.embed(dev_texts())
    assert got.shape == (len(dev_texts()), m.dim)
    assert_bits_equal(got, cli_dev)


@pytest.mark.parametrize("threads", [1, 3])
def test_batching_and_threads_do_not_change_a_bit(model_path, cli_dev, threads):
    if threads == 1 and model_path != TINY_GEMMA:
        pytest.skip("one thread on MiniLM: covered by the tiny model, slow in a debug build")
    m = ggufembed.Model(model_path, threads=threads)
    texts = dev_texts()
    order = np.random.default_rng(7).permutation(len(texts))
    shuffled = m.embed([texts[i] for i in order])
    assert_bits_equal(shuffled, cli_dev[order])
    one_by_one = np.concatenate([m.embed([t]) for t in texts[:20]])
    assert_bits_equal(one_by_one, cli_dev[:20])


def test_options_match_the_cli(session_tmp):
    texts = dev_texts()
    want = cli_embed(TINY_GEMMA, texts, session_tmp, "--max-len", "16", "--no-normalize",
                     "--pooling", "cls", "--prompt-name", "query")
    m = ggufembed.Model(TINY_GEMMA, max_len=16, normalize=False, pooling="cls",
                        prompt_name="query")
    assert_bits_equal(m.embed(texts), want)
    want = cli_embed(TINY_GEMMA, texts, session_tmp, "--prompt", "task: x | query: ")
    assert_bits_equal(ggufembed.Model(TINY_GEMMA, prompt="task: x | query: ").embed(texts), want)


def test_embed_arrow_reads_the_buffers(model_path, cli_dev):
    m = ggufembed.Model(model_path)
    texts = dev_texts()
    out = m.embed_arrow(pa.array(texts))
    assert out.type == pa.list_(pa.float32(), m.dim)
    assert_bits_equal(out.values.to_numpy().reshape(-1, m.dim), cli_dev)
    for typ in (pa.large_string(), pa.string_view()):
        out = m.embed_arrow(pa.array(texts[:60], type=typ))
        assert_bits_equal(out.values.to_numpy().reshape(-1, m.dim), cli_dev[:60])
    # A slice (non-zero offset), a chunked array, and a PyCapsule-only producer.
    sliced = m.embed_arrow(pa.array(texts)[5:40])
    assert_bits_equal(sliced.values.to_numpy().reshape(-1, m.dim), cli_dev[5:40])
    chunked = pa.chunked_array([pa.array(texts[:30]), pa.array(texts[30:70])])
    got = m.embed_arrow(chunked).flatten().to_numpy().reshape(-1, m.dim)
    assert_bits_equal(got, cli_dev[:70])

    class Capsule:
        def __init__(self, arr):
            self.arr = arr

        def __arrow_c_array__(self, requested_schema=None):
            return self.arr.__arrow_c_array__(requested_schema)

    out = m.embed_arrow(Capsule(pa.array(texts[:10])))
    assert_bits_equal(out.values.to_numpy().reshape(-1, m.dim), cli_dev[:10])
    assert len(m.embed_arrow(pa.array([], type=pa.string()))) == 0


def test_embed_arrow_refuses_nulls_and_non_strings():
    m = ggufembed.Model(TINY_GEMMA)
    with pytest.raises(ValueError, match="row 2 is null"):
        m.embed_arrow(pa.array(["a", "b", None]))
    with pytest.raises(TypeError, match="expects strings"):
        m.embed_arrow(pa.array([1, 2]))
    with pytest.raises(TypeError, match="Arrow string array"):
        m.embed_arrow(["a list"])


def test_raw_utf8_entry_point_checks_its_input():
    m = ggufembed.Model(TINY_GEMMA)
    data = np.frombuffer(b"ab\xffcd", dtype=np.uint8)
    with pytest.raises(ValueError, match="row 1 is not valid UTF-8"):
        m._embed_utf8(np.array([0, 2, 5], dtype=np.int64), data)
    with pytest.raises(ValueError, match="row 0: offsets 0..9 are not within the 5 data bytes"):
        m._embed_utf8(np.array([0, 9], dtype=np.int64), data)
    with pytest.raises(ValueError, match="row 0: offsets 3..1"):
        m._embed_utf8(np.array([3, 1], dtype=np.int64), data)
    with pytest.raises(ValueError, match="offsets are empty"):
        m._embed_utf8(np.array([], dtype=np.int64), data)


def test_tokenize_matches_cli(model_path, session_tmp):
    m = ggufembed.Model(model_path)
    texts = dev_texts()
    r = run_cli(["tokenize", "-m", str(model_path)], texts, session_tmp)
    assert r.returncode == 0, r.stderr
    want = [json.loads(line)["ids"] for line in r.stdout.splitlines()]
    assert m.tokenize(texts) == want
    assert m.tokenize(texts[3]) == want[3]


def test_properties_and_info(model_path):
    m = ggufembed.Model(model_path, threads=2, max_len=64)
    assert (m.threads, m.max_len) == (2, 64)
    assert m.dim == ggufembed.read_dim(model_path)
    info = m.info()
    assert info["dim"] == m.dim and info["native_dim"] == m.dim
    assert info["architecture"] in ("bert", "gemma-embedding")
    assert info["pooling"] == "mean" and info["normalize"] is True
    assert info["threads"] == 2 and info["max_len"] == 64 and info["device"] == "cpu"
    assert str(model_path) in repr(m)


def test_dimensions_truncates_and_renormalises(model_path, cli_dev):
    full = ggufembed.Model(model_path).dim
    d = full // 2
    m = ggufembed.Model(model_path, dimensions=d)
    assert m.dim == d and m.info()["native_dim"] == full
    got = m.embed(dev_texts())
    head = cli_dev[:, :d].astype(np.float64)
    want = head / np.linalg.norm(head, axis=1, keepdims=True)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-7)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)
    raw = ggufembed.Model(model_path, dimensions=d, normalize=False).embed(dev_texts()[:5])
    assert raw.shape == (5, d)
    with pytest.raises(ValueError, match=f"dimensions: {full + 1} is outside 1..={full}"):
        ggufembed.Model(model_path, dimensions=full + 1)
    with pytest.raises(ValueError, match="dimensions: 0"):
        ggufembed.Model(model_path, dimensions=0)


def test_errors_carry_the_cli_messages(session_tmp):
    missing = session_tmp / "no-such-model.gguf"
    want = cli_error(["embed", "-m", str(missing)], session_tmp)
    with pytest.raises(FileNotFoundError) as e:
        ggufembed.Model(missing)
    assert str(e.value) == want
    assert isinstance(e.value, OSError)

    bad = session_tmp / "not-a-model.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 16)
    want = cli_error(["embed", "-m", str(bad)], session_tmp)
    with pytest.raises(ValueError) as e:
        ggufembed.Model(bad)
    assert str(e.value) == want and "offset" in want

    garbage = session_tmp / "garbage.gguf"
    garbage.write_bytes(b"PK\x03\x04 not a gguf at all")
    want = cli_error(["embed", "-m", str(garbage)], session_tmp)
    with pytest.raises(ValueError) as e:
        ggufembed.Model(garbage)
    assert str(e.value) == want

    want = cli_error(["embed", "-m", str(TINY_GEMMA), "--max-len", "100000"], session_tmp)
    with pytest.raises(ValueError) as e:
        ggufembed.Model(TINY_GEMMA, max_len=100000)
    assert str(e.value) == want

    want = cli_error(["embed", "-m", str(TINY_GEMMA), "--prompt-name", "nope"], session_tmp)
    with pytest.raises(ValueError) as e:
        ggufembed.Model(TINY_GEMMA, prompt_name="nope")
    assert str(e.value) == want

    with pytest.raises(ValueError, match="invalid option threads: must be at least 1"):
        ggufembed.Model(TINY_GEMMA, threads=0)
    with pytest.raises(ValueError, match="either a prompt or a prompt name"):
        ggufembed.Model(TINY_GEMMA, prompt="x", prompt_name="query")
    with pytest.raises(ValueError, match="unknown pooling 'max'"):
        ggufembed.Model(TINY_GEMMA, pooling="max")
    with pytest.raises(ValueError, match="pooling 'none' is not supported"):
        ggufembed.Model(TINY_GEMMA, pooling="none")
    with pytest.raises(OSError):
        ggufembed.read_dim(missing)


def test_bad_input_types_are_type_errors():
    m = ggufembed.Model(TINY_GEMMA)
    with pytest.raises(TypeError):
        m.embed("a bare string is not a list of texts")
    with pytest.raises(TypeError):
        m.embed(["ok", None])
    assert m.embed([]).shape == (0, m.dim)


def test_threads_share_one_model(model_path, cli_dev):
    m = ggufembed.Model(model_path, threads=2)
    texts = dev_texts()
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for _ in range(2):
                results[k] = m.embed(texts[k::4])
        except BaseException as e:  # reported below, not lost in the thread
            errors.append(e)

    workers = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=300)
    assert not errors, errors
    for k in range(4):
        assert_bits_equal(results[k], cli_dev[k::4])


def test_embed_releases_the_gil():
    # While a long embed runs in one thread, the main thread keeps executing Python: with the
    # GIL held it could not run a single bytecode between the call's start and end.
    m = ggufembed.Model(MINILM or TINY_GEMMA, threads=1)
    texts = dev_texts()[:120] if MINILM else dev_texts() * 4
    span: list[float] = []

    def work() -> None:
        span.append(time.perf_counter())
        m.embed(texts)
        span.append(time.perf_counter())

    t = threading.Thread(target=work)
    t.start()
    stamps = []
    while t.is_alive():
        stamps.append(time.perf_counter())
        time.sleep(0.001)
    t.join()
    start, end = span
    inside = sum(start < s < end for s in stamps)
    # About one stamp per millisecond of the call when the GIL is free; none when it is held.
    assert inside > 20, (inside, end - start)
