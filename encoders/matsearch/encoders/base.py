"""One small protocol for every encoder, and lazy loading (``matsearch.encoders`` maps names to them).

An encoder takes plain inputs (PIL images, strings, 1-D arrays on a known grid) and returns float32 vectors of a
declared size; for ``cosine`` encoders the rows are L2-normalised.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np

Distance = Literal["cosine", "dot", "euclid"]


class Encoder(ABC):
    """Subclasses set ``name``, ``dim``, ``modality`` and implement ``_load`` and ``_encode``."""

    name: ClassVar[str]
    dim: ClassVar[int]
    modality: ClassVar[str]  # "image", "text", "sketch", "stem", "xrd", ...
    distance: ClassVar[Distance] = "cosine"
    batch_size: ClassVar[int] = 32

    def __init__(self) -> None:
        self._loaded = False
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()

    def load(self) -> None:
        """Load weights once (thread-safe); called on first use."""
        if self._loaded:
            return
        with self._load_lock:
            if not self._loaded:
                self._load()
                self._loaded = True

    @abstractmethod
    def _load(self) -> None: ...

    @abstractmethod
    def _encode(self, items: Sequence[Any]) -> np.ndarray:
        """Encode one batch: return an array of shape (len(items), dim)."""

    def encode(self, items: Sequence[Any]) -> np.ndarray:
        """Encode any number of items in batches; float32 rows, L2-normalised when the distance is cosine."""
        self.load()
        if len(items) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = []
        for start in range(0, len(items), self.batch_size):
            with self._run_lock:  # torch/onnx sessions: one batch at a time per encoder instance
                out = np.asarray(self._encode(items[start : start + self.batch_size]), dtype=np.float32)
            if out.shape != (min(self.batch_size, len(items) - start), self.dim):
                raise RuntimeError(f"encoder {self.name} returned shape {out.shape}, expected (*, {self.dim})")
            parts.append(out)
        vectors = np.concatenate(parts, axis=0)
        if self.distance == "cosine":
            vectors = l2_normalize(vectors)
        return vectors

    def encode_one(self, item: Any) -> np.ndarray:
        return self.encode([item])[0]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "dim": self.dim, "distance": self.distance, "modality": self.modality}


def l2_normalize(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)
