"""Daft integration: a ready ``@daft.cls`` embedder and a Daft AI provider.

>>> import daft, ggufembed.daft
>>> emb = ggufembed.daft.GgufEmbedder("all-MiniLM-L6-v2.q8_0.gguf", threads=2)  # doctest: +SKIP
>>> df = daft.from_pydict({"text": ["a cat", "a dog"]})                          # doctest: +SKIP
>>> df.with_column("e", emb.embed(df["text"])).collect()                        # doctest: +SKIP

or through Daft's own function:

>>> from daft.functions import embed_text
>>> df.with_column("e", embed_text(df["text"], provider=ggufembed.daft.provider(),
...                                model="all-MiniLM-L6-v2.q8_0.gguf"))         # doctest: +SKIP

Either way the model is opened once per Daft worker (in ``__init__`` of the class instance) and
its file is memory-mapped, so worker processes share the weights' pages. ``GgufEmbedder`` reads
the strings' Arrow buffers directly (no Python object per row); the provider goes through
Daft's ``embed_text``, which hands over a Python list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    """The per-worker state of :func:`GgufEmbedder`: one opened model."""

    def __init__(self, path: str, threads: int | None, model_kwargs: dict[str, Any]):
        self.model = ggufembed.Model(path, threads=threads, **model_kwargs)

    def _embed(self, texts: Series) -> Any:
        return _embed_series(self.model, texts)


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
    here, without loading weights; the model itself is opened once per Daft worker.

    - ``threads``: worker threads per model instance; use ``cores / max_concurrency``.
    - ``max_concurrency``: Daft instances (workers) of the class; ``use_process``: whether each
      runs in its own process (``None``: Daft decides). Both are ``@daft.cls`` arguments.
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
        self.model = ggufembed.Model(path, dimensions=dimensions, **model_kwargs)

    def embed_text(self, text: list[str]) -> list[Any]:
        # Daft's embed_text expects a list with one vector per text; rows of one matrix.
        return list(self.model.embed(text))


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
