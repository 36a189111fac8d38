"""Ray Data integration: a callable class for ``Dataset.map_batches``.

>>> import ray, ggufembed.ray
>>> ds = ray.data.read_json("texts.jsonl")                                       # doctest: +SKIP
>>> ds = ds.map_batches(ggufembed.ray.GgufEmbedder, fn_constructor_args=("model.gguf",),
...                     fn_constructor_kwargs={"threads": 1}, concurrency=2, num_cpus=1,
...                     batch_format="pyarrow")                                  # doctest: +SKIP

Ray creates the class once per actor, so the model is opened once per worker; the file is
memory-mapped, so actors on one node share its pages.
"""

from __future__ import annotations

from typing import Any

import ggufembed

__all__ = ["GgufEmbedder"]


class GgufEmbedder:
    """Adds an embedding column to each batch.

    ``GgufEmbedder(path, threads=None, *, text_column="text", output_column="embedding",
    **model_kwargs)``: ``model_kwargs`` are the other :class:`ggufembed.Model` arguments. With
    ``batch_format="pyarrow"`` the column is a ``FixedSizeList<float32, dim>`` read from and
    written to Arrow buffers directly; with ``"numpy"`` (a dict of arrays) it is a float32
    ``(rows, dim)`` array. Null texts are refused.
    """

    def __init__(
        self,
        path: str,
        threads: int | None = None,
        *,
        text_column: str = "text",
        output_column: str = "embedding",
        **model_kwargs: Any,
    ):
        self.model = ggufembed.Model(path, threads=threads, **model_kwargs)
        self.text_column = text_column
        self.output_column = output_column

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        if isinstance(batch, pa.Table):
            column = batch.column(self.text_column)
            embeddings = self.model.embed_arrow(column)
            return batch.append_column(self.output_column, embeddings)
        if isinstance(batch, dict):
            texts = batch[self.text_column]
            out = dict(batch)
            out[self.output_column] = self.model.embed(list(texts))
            return out
        # pandas
        out = batch.copy()
        out[self.output_column] = list(self.model.embed(batch[self.text_column].tolist()))
        return out
