"""ggufembed: fast, faithful sentence embeddings from GGUF models on the CPU.

>>> import ggufembed
>>> m = ggufembed.Model("all-MiniLM-L6-v2.q8_0.gguf")            # doctest: +SKIP
>>> m.embed(["The cat sits outside", "A man is playing guitar"]).shape  # doctest: +SKIP
(2, 384)

The model file is memory-mapped (zero-copy: processes that open the same file share its pages),
checked, and run by a pool of worker threads owned by the ``Model``. Every call releases the GIL,
so one ``Model`` can be shared by many Python threads. Results are bit-identical to
``ggufembed embed`` (the CLI) on the same text, whatever the batch.

Errors carry the CLI's messages: ``OSError`` (``FileNotFoundError``, ``PermissionError``) when the
file cannot be read, ``ValueError`` for a malformed file, a bad option or bad input.

Integrations: :mod:`ggufembed.daft` (a ``@daft.cls`` embedder and a Daft AI provider) and
:mod:`ggufembed.ray` (a callable class for ``Dataset.map_batches``).
"""

from __future__ import annotations

from typing import Any

from ggufembed._native import Model as _NativeModel
from ggufembed._native import __version__, read_dim

__all__ = ["Model", "read_dim", "__version__"]


class Model(_NativeModel):
    """An opened GGUF embedding model.

    ``Model(path, threads=None, max_len=None, pooling=None, normalize=True, prompt=None,
    prompt_name=None, dimensions=None)``

    - ``threads``: worker threads of this model's pool (default: all cores). Within one process
      every call shares them.
    - ``max_len``: longest input in tokens, special tokens included (default: the model's context
      length); longer texts are truncated, the final special token kept.
    - ``pooling``: ``"mean"``, ``"cls"`` or ``"last"`` (default: what the file asks for).
    - ``normalize``: L2-normalise each embedding.
    - ``prompt`` / ``prompt_name``: text prepended to every input, or a preset of the
      architecture (EmbeddingGemma: ``"query"``, ``"document"``, ``"STS"``, …); not both.
    - ``dimensions``: Matryoshka width: keep the first ``dimensions`` values of each embedding,
      re-normalised when ``normalize`` (refused above the model's width).

    A reranker (cross-encoder) GGUF opens the same way (``is_reranker`` is then true):
    ``rerank(query, documents, top_n=None, sigmoid=False)`` returns ``(index, score)`` pairs best
    first, ``score_pairs([(query, document), ...], sigmoid=False)`` a float32 array in input
    order; raw logits as sentence-transformers' ``CrossEncoder.predict``, bit-identical to
    ``ggufembed rerank``. ``embed`` on a reranker (or ``rerank`` on an embedding model) raises
    ``ValueError``.
    """

    def embed_arrow(self, array: Any) -> Any:
        """Embed an Arrow string column: a ``pyarrow.FixedSizeListArray`` of float32, ``dim``
        wide, one row per input row.

        ``array`` is a pyarrow ``Array``/``ChunkedArray`` of ``string``, ``large_string`` or
        ``string_view``, or any object of the Arrow PyCapsule interface
        (``__arrow_c_array__`` / ``__arrow_c_stream__``: polars, arro3, nanoarrow, …). The
        strings' bytes are read from the Arrow buffers (no Python object per row) and the result
        wraps the embedding matrix without a copy. Null rows are refused (``ValueError`` naming
        the first).
        """
        import numpy as np
        import pyarrow as pa

        arr = _to_large_string(array)
        if arr.null_count:
            import pyarrow.compute as pc

            first = pc.index(pc.is_null(arr), True).as_py()
            raise ValueError(f"embed_arrow: row {first} is null (nulls have no embedding)")
        buffers = arr.buffers()
        offsets = np.frombuffer(buffers[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
        data = buffers[2]
        data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.empty(0, np.uint8)
        out = self._embed_utf8(offsets, data)
        return pa.FixedSizeListArray.from_arrays(pa.array(out.reshape(-1)), self.dim)


def _to_large_string(array: Any) -> Any:
    """One contiguous ``large_string`` pyarrow array from whatever Arrow ``array`` is."""
    import pyarrow as pa

    if isinstance(array, (pa.Array, pa.ChunkedArray)):
        arr = array
    elif hasattr(array, "__arrow_c_array__"):
        arr = pa.array(array)
    elif hasattr(array, "__arrow_c_stream__"):
        arr = pa.chunked_array(array)
    else:
        raise TypeError(
            f"embed_arrow expects an Arrow string array (pyarrow, or an object with "
            f"__arrow_c_array__ / __arrow_c_stream__), got {type(array).__name__}"
        )
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if not (
        pa.types.is_string(arr.type)
        or pa.types.is_large_string(arr.type)
        or pa.types.is_string_view(arr.type)
    ):
        raise TypeError(f"embed_arrow expects strings, got an Arrow array of {arr.type}")
    if not pa.types.is_large_string(arr.type):
        # int64 offsets for one code path; string_view has no offsets buffer at all.
        arr = arr.cast(pa.large_string())
    return arr
