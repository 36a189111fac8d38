"""Daft integration: a ready ``@daft.cls`` embedder and a Daft AI provider.

>>> import daft, ggufembed.daft
>>> emb = ggufembed.daft.GgufEmbedder("all-MiniLM-L6-v2.q8_0.gguf", threads=2)  # doctest: +SKIP
>>> df = daft.from_pydict({"text": ["a cat", "a dog"]})                          # doctest: +SKIP
>>> df.with_column("e", emb.embed(df["text"])).collect()                        # doctest: +SKIP

or through Daft's own function:

>>> from daft.functions import embed_text
>>> df.with_column("e", embed_text(df["text"], provider=ggufembed.daft.provider(),
...                                model="all-MiniLM-L6-v2.q8_0.gguf"))         # doctest: +SKIP

Either way the model is opened when a Daft worker starts (in ``__init__`` of the class
instance), and once more for each further call that runs at the same time: Daft (0.7) runs a
UDF returning embeddings in the calling process whatever ``use_process`` says, with its
``max_concurrency`` threads sharing one instance, so ``max_concurrency=2, threads=1`` gets two
one-thread models (see ``_ModelPool``). The file is memory-mapped, so models and processes
share the weights' pages. ``GgufEmbedder`` reads
the strings' Arrow buffers directly (no Python object per row); the provider goes through
Daft's ``embed_text``, which hands over a Python list.
"""

from __future__ import annotations

import json
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import daft
from daft import DataType, Series
from daft.ai.protocols import TextEmbedder, TextEmbedderDescriptor
from daft.ai.provider import Provider
from daft.ai.typing import EmbeddingDimensions, UDFOptions

import ggufembed

__all__ = ["GgufEmbedder", "GgufProvider", "provider"]


def _embedding_width(path: str, dimensions: int | None) -> int:
    """The output width, from the GGUF header alone (no weights read)."""
    full = ggufembed.read_dim(path)
    if dimensions is None:
        return full
    if not 1 <= dimensions <= full:
        raise ValueError(
            f"invalid option dimensions: {dimensions} is outside 1..={full} "
            "(the model's embedding width)"
        )
    return dimensions


def _schedstat() -> tuple[float, float]:
    """This thread's seconds on a CPU and waiting in the run queue (Linux schedstat; zeros
    elsewhere): a call's wall time minus both is time blocked (a lock, the GIL, I/O)."""
    try:
        with open("/proc/thread-self/schedstat", encoding="ascii") as f:
            on_cpu, waiting = f.read().split()[:2]
        return int(on_cpu) / 1e9, int(waiting) / 1e9
    except (OSError, ValueError):
        return 0.0, 0.0


@contextmanager
def _trace_call(entry: str, model: object, rows: int) -> Iterator[None]:
    """With ``GGUFEMBED_DAFT_TRACE=FILE`` set, appends one JSON line per UDF call to FILE: entry
    point, pid, thread, model (``id``), start and end (wall clock, s), the calling thread's
    seconds on a CPU and in the run queue (with one thread the model works on the caller) and
    rows: how Daft feeds its workers (scripts/daft_trace.py reads it). Unset, it costs one
    environment lookup per call."""
    path = os.environ.get("GGUFEMBED_DAFT_TRACE")
    if not path:
        yield
        return
    t0, s0 = time.time(), _schedstat()
    yield
    t1, s1 = time.time(), _schedstat()
    line = {"entry": entry, "pid": os.getpid(), "thread": threading.get_ident(),
            "model": id(model), "t0": t0, "t1": t1, "cpu": s1[0] - s0[0],
            "runq": s1[1] - s0[1], "rows": rows}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")


class _ModelPool:
    """The models of one Daft class instance: one per call running at the same time.

    Daft runs a class whose method returns an embedding in the calling process whatever
    ``use_process`` says, and there all ``max_concurrency`` worker threads share the one
    instance that ``_daft_get_instance`` creates (daft/udf/udf_v2.py, ``wrap_cls``; measured
    with Daft 0.7.26, docs/PERFORMANCE.md). One model would serialise them: a one-thread model
    runs one call at a time. So each call takes a free model, and a new one is opened only
    when every model is busy; the file is memory-mapped, so the weights are not read twice.
    """

    def __init__(self, open_model: Callable[[], ggufembed.Model]):
        self._open = open_model
        self._lock = threading.Lock()
        # The first is opened here, so a bad path or option fails when the worker starts.
        self._free = [open_model()]
        self.opened = 1

    @contextmanager
    def model(self) -> Iterator[ggufembed.Model]:
        with self._lock:
            model = self._free.pop() if self._free else None
        if model is None:
            model = self._open()
            with self._lock:
                self.opened += 1
        try:
            yield model
        finally:
            with self._lock:
                self._free.append(model)


def _embed_series(model: ggufembed.Model, texts: Series) -> Any:
    """Embeds a Daft string Series into a pyarrow FixedSizeList array; null rows stay null."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = texts.to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not arr.null_count:
        return model.embed_arrow(arr)
    nulls = pc.is_null(arr)
    dense = model.embed_arrow(pc.fill_null(arr, ""))
    return pa.FixedSizeListArray.from_arrays(dense.values, model.dim, mask=nulls)


class _GgufEmbedderBase:
    """The per-worker state of :func:`GgufEmbedder`: the opened models (see :class:`_ModelPool`)."""

    def __init__(self, path: str, threads: int | None, model_kwargs: dict[str, Any]):
        self.models = _ModelPool(lambda: ggufembed.Model(path, threads=threads, **model_kwargs))

    def _embed(self, texts: Series) -> Any:
        with self.models.model() as model, _trace_call("GgufEmbedder", model, len(texts)):
            return _embed_series(model, texts)


def GgufEmbedder(  # noqa: N802 (a class factory, used like a class)
    path: str,
    threads: int | None = None,
    *,
    max_concurrency: int | None = None,
    use_process: bool | None = None,
    batch_size: int | None = None,
    **model_kwargs: Any,
) -> Any:
    """A Daft class instance embedding string columns with the GGUF model at ``path``.

    ``emb.embed(col)`` (or ``emb(col)``) is an expression of type
    ``DataType.embedding(DataType.float32(), dim)``. The dimension is read from the GGUF header
    here, without loading weights; the model itself is opened by each Daft worker, one per
    call running at the same time (``_ModelPool``).

    - ``threads``: worker threads per model instance; use ``cores / max_concurrency``.
    - ``max_concurrency``: Daft workers (calls at once); ``use_process``: whether each runs in
      its own process (``None``: Daft decides). Both are ``@daft.cls`` arguments; Daft 0.7's
      native runner keeps a UDF returning embeddings in-process even with ``use_process=True``.
    - ``batch_size``: rows per call (``None``: Daft's morsel size).
    - ``model_kwargs``: the other :class:`ggufembed.Model` arguments (``max_len``, ``pooling``,
      ``normalize``, ``prompt``, ``prompt_name``, ``dimensions``).
    """
    dim = _embedding_width(path, model_kwargs.get("dimensions"))
    method = daft.method.batch(
        return_dtype=DataType.embedding(DataType.float32(), dim), batch_size=batch_size
    )(_GgufEmbedderBase._embed)
    cls = type(
        "GgufEmbedder",
        (_GgufEmbedderBase,),
        {"embed": method, "__call__": method, "__module__": __name__},
    )
    wrapped = daft.cls(
        cls, max_concurrency=max_concurrency, use_process=use_process, name_override="ggufembed"
    )
    return wrapped(path, threads, dict(model_kwargs))


class GgufTextEmbedder(TextEmbedder):
    """The instantiated model behind the provider's descriptor."""

    def __init__(self, path: str, dimensions: int | None, model_kwargs: dict[str, Any]):
        self.models = _ModelPool(
            lambda: ggufembed.Model(path, dimensions=dimensions, **model_kwargs)
        )

    def embed_text(self, text: list[str]) -> list[Any]:
        # Daft's embed_text expects a list with one vector per text; rows of one matrix.
        with self.models.model() as model, _trace_call("provider", model, len(text)):
            return list(model.embed(text))


# Options that configure the Daft UDF rather than the model.
_UDF_KEYS = ("batch_size", "concurrency", "max_retries", "on_error")


@dataclass
class GgufTextEmbedderDescriptor(TextEmbedderDescriptor):
    """Serializable description of a ggufembed text embedder (``model`` is a GGUF path)."""

    model: str
    dimensions: int | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Checked on the driver: a bad path or width fails at plan time, with the CLI's message.
        self._dim = _embedding_width(self.model, self.dimensions)

    def get_provider(self) -> str:
        return "ggufembed"

    def get_model(self) -> str:
        return self.model

    def get_options(self) -> dict[str, Any]:
        return dict(self.options)

    def get_dimensions(self) -> EmbeddingDimensions:
        return EmbeddingDimensions(size=self._dim, dtype=DataType.float32())

    def get_udf_options(self) -> UDFOptions:
        udf = UDFOptions()
        for key in _UDF_KEYS:
            if key in self.options:
                setattr(udf, key, self.options[key])
        return udf

    def instantiate(self) -> TextEmbedder:
        model_kwargs = {k: v for k, v in self.options.items() if k not in _UDF_KEYS}
        return GgufTextEmbedder(self.model, self.dimensions, model_kwargs)


class GgufProvider(Provider):
    """Daft AI provider for ggufembed: ``embed_text(..., provider=GgufProvider(), model=PATH)``.

    Options given to ``embed_text`` go to :class:`ggufembed.Model` (``threads``, ``max_len``,
    ``pooling``, ``normalize``, ``prompt``, ``prompt_name``) or to the Daft UDF
    (``batch_size``, ``concurrency``, ``max_retries``, ``on_error``).
    """

    def __init__(self, name: str | None = None, **options: Any):
        self._name = name or "ggufembed"
        self._options = options

    @property
    def name(self) -> str:
        return self._name

    def get_text_embedder(
        self, model: str | None = None, dimensions: int | None = None, **options: Any
    ) -> TextEmbedderDescriptor:
        if model is None:
            raise ValueError("the ggufembed provider needs model=PATH (a GGUF file)")
        return GgufTextEmbedderDescriptor(str(model), dimensions, {**self._options, **options})


def provider(**options: Any) -> GgufProvider:
    """A :class:`GgufProvider`; ``options`` are defaults for every ``embed_text`` call."""
    return GgufProvider(**options)
