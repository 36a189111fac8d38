"""Type stubs of the Rust extension module (crates/python)."""

from os import PathLike
from typing import Any, Sequence, overload

import numpy as np
import numpy.typing as npt

__version__: str

def read_dim(path: str | PathLike[str]) -> int:
    """The embedding width of a GGUF file, from its header only (no weights read)."""

class Model:
    def __new__(
        cls,
        path: str | PathLike[str],
        threads: int | None = None,
        max_len: int | None = None,
        pooling: str | None = None,
        normalize: bool = True,
        prompt: str | None = None,
        prompt_name: str | None = None,
        dimensions: int | None = None,
    ) -> Model: ...
    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embeds texts: float32 array (len(texts), dim), rows in input order; the GIL is released."""
    def _embed_utf8(
        self, offsets: npt.NDArray[np.int64], data: npt.NDArray[np.uint8]
    ) -> npt.NDArray[np.float32]: ...
    @overload
    def tokenize(self, text: str) -> list[int]: ...
    @overload
    def tokenize(self, text: Sequence[str]) -> list[list[int]]: ...
    def rerank(
        self,
        query: str,
        documents: Sequence[str],
        top_n: int | None = None,
        sigmoid: bool = False,
    ) -> list[tuple[int, float]]:
        """Reranks documents against a query with a cross-encoder: (index, score) best first."""
    def score_pairs(
        self, pairs: Sequence[tuple[str, str]], sigmoid: bool = False
    ) -> npt.NDArray[np.float32]:
        """Scores (query, document) pairs with a cross-encoder: float32 (len(pairs),), input order."""
    @property
    def is_reranker(self) -> bool: ...
    @property
    def dim(self) -> int: ...
    @property
    def max_len(self) -> int: ...
    @property
    def threads(self) -> int: ...
    @property
    def path(self) -> str: ...
    def info(self) -> dict[str, Any]: ...
