"""Sketch queries: a drawing (PNG from a canvas, a photo of a pencil sketch) → the panels whose contours match."""

from __future__ import annotations

from typing import Any, Protocol

from matsearch.core.filters import Filter
from matsearch.core.images import load_image, to_rgb
from matsearch.core.settings import Settings
from matsearch.encoders.base import Encoder


class _SearchHost(Protocol):
    settings: Settings

    def encoder(self, name: str) -> Encoder: ...

    def search_vector(
        self,
        collection: str,
        using: str,
        vector: Any,
        flt: Filter | None = None,
        limit: int = 10,
        score_threshold: float | None = None,
    ) -> Any: ...


def search_sketch(
    host: _SearchHost,
    data: bytes,
    *,
    filename: str = "sketch",
    collection: str = "figures",
    flt: Filter | None = None,
    limit: int = 10,
    score_threshold: float | None = None,
) -> Any:
    """Hits for a drawing: the drawing goes through the same contour transform as the stored panels."""
    image = to_rgb(load_image(data, host.settings, what=filename))
    if image.mode == "RGBA":
        image = image.convert("RGB")
    vector = host.encoder("sketch").encode_one(image)
    return host.search_vector(collection, "sketch", vector, flt, limit, score_threshold)
