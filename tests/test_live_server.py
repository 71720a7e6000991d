"""A real server process: the SDK against it, the CLI switching to HTTP while it owns the store, `curl`-style calls."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from matsearch.core.ids import sha256_bytes
from matsearch_client import BadRequest, Client, InvalidRequest, NotFound, PayloadTooLarge, Unauthorized
from tests.conftest import LiveServer, png_bytes, synthetic_image


def test_curl_image_search(live_server: LiveServer, figure_dir: Path) -> None:
    x = figure_dir / "synthetic_0.png"
    out = subprocess.run(
        ["curl", "-s", "-F", f"file=@{x}", f"{live_server.url}/v1/search/image?limit=3"],
        capture_output=True,
        text=True,
        check=True,
    )
    hits = json.loads(out.stdout)["hits"]
    assert len(hits) == 3 and hits[0]["payload"]["image_sha256"] == sha256_bytes(x.read_bytes())
    assert all({"id", "score", "collection", "payload", "image_url"} <= set(h) for h in hits)


def test_sdk_matches_http_and_accepts_paths_bytes_pil_numpy(live_server: LiveServer, figure_dir: Path) -> None:
    x = figure_dir / "synthetic_1.png"
    with Client(live_server.url) as ms:
        by_path = ms.search_image(x, limit=3)
        assert by_path.top is not None and by_path.top.payload["image_sha256"] == sha256_bytes(x.read_bytes())
        raw = httpx.post(f"{live_server.url}/v1/search/image?limit=3", files={"file": (x.name, x.read_bytes())}).json()
        assert [h.id for h in by_path.hits] == [h["id"] for h in raw["hits"]]
        image = Image.open(x)
        assert ms.search_image(x.read_bytes(), limit=3).hits[0].id == by_path.hits[0].id
        assert ms.search_image(image, limit=1).hits[0].id == by_path.hits[0].id
        assert ms.search_image(np.asarray(image.convert("RGB")), limit=1).hits[0].id == by_path.hits[0].id
        text = ms.search_text("silver manganate", limit=2, filter={"journal": "Nature Communications"})
        assert text.hits and all(h.payload["journal"] == "Nature Communications" for h in text.hits)
        point = ms.get("figures", by_path.hits[0].id)
        assert point.payload == by_path.hits[0].payload
        assert by_path.hits[0].id not in {h.id for h in ms.similar("figures", point.id, limit=3).hits}
        assert {c.name: c.count for c in ms.collections()}["figures"] == ms.health().collections["figures"] > 6
        assert ms.image(by_path.hits[0].image_url or "") == x.read_bytes()
        assert ms.health().status == "ok"


def test_sdk_errors_are_typed(live_server: LiveServer) -> None:
    with Client(live_server.url) as ms:
        with pytest.raises(BadRequest, match="truncated"):
            ms.search_image(png_bytes(synthetic_image(1))[:300])
        with pytest.raises(NotFound, match="unknown collection"):
            ms.search_image(png_bytes(synthetic_image(1)), collection="nope")
        with pytest.raises(InvalidRequest, match="not valid JSON"):
            ms.search_text("x", filter="{bad")
        with pytest.raises(Unauthorized):
            ms.ingest_figures([png_bytes(synthetic_image(50))])
        big = Image.fromarray(np.zeros((9000, 9000), dtype=np.uint8))
        buf = io.BytesIO()
        big.save(buf, format="PNG")
        with pytest.raises(PayloadTooLarge):
            ms.search_image(buf.getvalue())
    assert httpx.get(f"{live_server.url}/healthz").status_code == 200


def test_sdk_ingest_with_key_is_idempotent(live_server: LiveServer) -> None:
    data = png_bytes(synthetic_image(77))
    with Client(live_server.url, api_key="sekret") as ms:
        first = ms.ingest_figures([data], metadata={"image_0.png": {"caption": "A new one", "year": 2024}})
        assert first.points == 1 and first.new_points == 1
        again = ms.ingest_figures([data], metadata={"image_0.png": {"caption": "A new one", "year": 2024}})
        assert again.new_points == 0 and again.count == first.count
        hit = ms.search_image(data, limit=1).hits[0]
        assert hit.payload["caption"] == "A new one" and hit.payload["year"] == 2024


def test_cli_talks_to_the_running_server(live_server: LiveServer, figure_dir: Path) -> None:
    # The server holds the Edge store; a CLI that opened it would fail on the lock. It must go over HTTP.
    result = live_server.cli("search", "image", str(figure_dir / "synthetic_2.png"), "--json")
    assert result.returncode == 0, result.stderr
    via_cli = json.loads(result.stdout)["hits"]
    via_http = httpx.post(
        f"{live_server.url}/v1/search/image",
        files={"file": ("q.png", (figure_dir / "synthetic_2.png").read_bytes())},
    ).json()["hits"]
    assert [h["id"] for h in via_cli] == [h["id"] for h in via_http]
    collections = json.loads(live_server.cli("collections", "--json", check=True).stdout)
    assert collections == httpx.get(f"{live_server.url}/v1/collections").json()
