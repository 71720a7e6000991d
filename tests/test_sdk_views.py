"""SDK methods for the page's views, against a live server: one collection, a figure with all its panels, and a
simulated STEM image of a library structure."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from matsearch_client import Client, FigureView, NotFound
from tests.conftest import LiveServer


def test_collection_figure_view_and_stem_simulation(live_server: LiveServer) -> None:
    with Client(live_server.url) as ms:
        figures = ms.collection("figures")
        assert figures.name == "figures" and figures.count > 0
        with pytest.raises(NotFound):
            ms.collection("no_such_collection")
        hit = ms.search_text("synthetic shapes", limit=1).hits[0]
        view = ms.figure(hit.payload["image_sha256"])
        assert isinstance(view, FigureView) and view.image_sha256 == hit.payload["image_sha256"]
        assert hit.id in {p.id for p in view.panels}
        assert ms.image(view.image_url)  # the whole figure is served
        png = ms.simulate_stem("ase-Cu", zone=(1, 1, 0), source="ase", nm_per_px=0.02, width=96, height=64)
        img = Image.open(io.BytesIO(png))
        assert img.format == "PNG" and img.size == (96, 64)
        with pytest.raises(NotFound):
            ms.simulate_stem("no-such-structure", source="ase")
