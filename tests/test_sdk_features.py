"""The SDK's feature methods against real servers: spectrum (XRD), sketch, STEM routing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw

from matsearch.core.settings import Settings
from matsearch.indexer.library import BuildOptions, build_libraries
from matsearch.indexer.structures import load_library
from matsearch.indexer.xrd.build import simulate_entries
from matsearch.server.service import Service
from matsearch_client import Client, NotFound
from tests.conftest import LiveServer
from tests.test_xrd_search import _xy

SOURCES = ("ase", "materials_project")
LIMIT = 40


@pytest.fixture(scope="module")
def xrd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict]]:
    data = tmp_path_factory.mktemp("sdkxrd") / "data"
    lib = load_library(SOURCES, limit=LIMIT, cache_dir=data / "cache")
    service = Service(Settings(data_dir=data))
    try:
        build_libraries(service, ["xrd"], BuildOptions(workers=2, progress=False, limit=LIMIT, sources=SOURCES))
        peaks, _ = simulate_entries(list(lib), data, workers=1, progress=False)
    finally:
        service.close()
    server = LiveServer(data)
    try:
        yield server, peaks
    finally:
        server.stop()


def test_search_spectrum_by_file_and_by_arrays(xrd_server: tuple[LiveServer, dict]) -> None:
    server, peaks = xrd_server
    target = sorted(k for k in peaks if k.startswith("mbd-"))[3]
    pattern = _xy([(peaks[target], 1.0)], seed=7)
    with Client(server.url) as ms:
        by_file = ms.search_spectrum(pattern, wavelength="CuKa1", limit=5)
        assert by_file.top is not None and by_file.top.payload["structure_id"] == target
        assert by_file.top.model_extra and "explained_peaks" in by_file.top.model_extra
        rows = [line.split("\t") for line in pattern.decode().splitlines()[1:]]
        arr = np.array([[float(a), float(b)] for a, b in rows])
        by_array = ms.search_spectrum(arr, wavelength="CuKa1", limit=5)
        assert by_array.top is not None and by_array.top.payload["structure_id"] == target


class _Recording(httpx.HTTPTransport):
    """The real HTTP transport, keeping each request it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return super().handle_request(request)


def test_search_spectrum_leaves_max_phases_to_the_server_unless_set(xrd_server: tuple[LiveServer, dict]) -> None:
    server, peaks = xrd_server
    pattern = _xy([(peaks[sorted(k for k in peaks if k.startswith("mbd-"))[3]], 1.0)], seed=7)
    rows = [line.split("\t") for line in pattern.decode().splitlines()[1:]]
    arr = [[float(a), float(b)] for a, b in rows]
    transport = _Recording()
    with Client(server.url, transport=transport) as ms:
        ms.search_spectrum(pattern, wavelength="CuKa1", limit=3)
        ms.search_spectrum(arr, wavelength="CuKa1", limit=3)
        ms.search_spectrum(pattern, wavelength="CuKa1", limit=3, max_phases=1)
        one = ms.search_spectrum(arr, wavelength="CuKa1", limit=3, max_phases=1)
    by_file, by_array, file_one, array_one = transport.sent
    assert "max_phases" not in by_file.url.params and "max_phases" not in json.loads(by_array.content)
    assert file_one.url.params["max_phases"] == "1" and json.loads(array_one.content)["max_phases"] == 1
    assert one.hits and all((h.model_extra or {}).get("phase") == 1 for h in one.hits)


def test_search_sketch_and_stem_routing(live_server: LiveServer) -> None:
    drawing = Image.new("RGB", (256, 256), "white")
    draw = ImageDraw.Draw(drawing)
    for x, y, r in [(60, 60, 30), (170, 80, 25), (110, 180, 35)]:
        draw.ellipse([x - r, y - r, x + r, y + r], outline="black", width=3)
    with Client(live_server.url) as ms:
        result = ms.search_sketch(drawing, limit=3)
        assert len(result.hits) == 3, "a drawing over a non-empty figures collection returns the requested hits"
        assert all(h.collection == "figures" and h.payload.get("image_sha256") for h in result.hits)
        with pytest.raises(NotFound, match="stem"):
            ms.search_image(drawing, collection="stem")


def test_spectrum_answer_carries_the_measured_pattern_for_plotting(xrd_server: tuple[LiveServer, dict]) -> None:
    """An instrument file's pattern comes back with the answer (2θ at the file's wavelength, ≤ 4,000 points with
    peak heights kept), so the web page can plot formats it cannot parse itself."""
    import httpx

    server, _ = xrd_server
    path = Path(__file__).parent / "fixtures" / "xrd_real" / "quartz_XRD-918-16_10.xrdml"
    r = httpx.post(
        f"{server.url}/v1/search/spectrum",
        params={"limit": 3},
        files={"file": (path.name, path.read_bytes())},
        timeout=300,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["format"] == "xrdml" and body["wavelength_source"] == "file"
    tt, inten = body["pattern"]["two_theta"], body["pattern"]["intensity"]
    assert 100 < len(tt) <= 4000 and len(tt) == len(inten)
    assert tt == sorted(tt) and 0 < tt[0] < tt[-1] < 180
    assert max(inten) > 0
