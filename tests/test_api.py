"""HTTP API in process (TestClient, real Edge store, real encoders): search, points, images, ingest, bad input."""

from __future__ import annotations

import io
import json
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from matsearch.core.ids import sha256_bytes
from matsearch.core.settings import Settings
from matsearch.server.app import create_app
from tests.conftest import png_bytes, synthetic_image


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, figure_dir: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("api") / "data", api_key="k1", max_upload_bytes=2_000_000)
    with TestClient(create_app(settings)) as c:
        files = [("files", (p.name, p.read_bytes())) for p in sorted(figure_dir.iterdir()) if p.suffix != ".json"]
        meta = {e["file"]: e for e in json.loads((figure_dir / "captions.json").read_text())}
        r = c.post("/v1/ingest/figures", files=files, data={"metadata": json.dumps(meta)}, headers={"X-API-Key": "k1"})
        assert r.status_code == 200, r.text
        report = r.json()
        # 4 unlabelled synthetic images → 1 panel each; the 2 dev figures are split into their labelled panels
        assert report["items"] == 6 and report["skipped"] == [] and report["points"] > 6
        c.app.state.ingested = report["points"]  # type: ignore[attr-defined]
        yield c


def counts(client: TestClient) -> dict[str, int]:
    return {c["name"]: c["count"] for c in client.get("/v1/collections").json()["collections"]}


def test_health_and_collections(client: TestClient) -> None:
    h = client.get("/healthz").json()
    assert h["status"] == "ok" and h["store"] == "qdrant-edge"
    assert h["collections"]["figures"] == client.app.state.ingested  # type: ignore[attr-defined]
    figures = client.get("/v1/collections").json()["collections"][0]
    assert figures["name"] == "figures"
    assert {v["name"]: v["size"] for v in figures["vectors"]} == {"image": 1280, "caption": 384, "sketch": 1280}
    assert figures["indexes"]["year"] == "integer"


def test_image_search_finds_the_same_image_first(client: TestClient) -> None:
    data = png_bytes(synthetic_image(2))
    r = client.post("/v1/search/image?limit=3", files={"file": ("q.png", data)})
    assert r.status_code == 200, r.text
    hits = r.json()["hits"]
    assert len(hits) == 3
    assert hits[0]["payload"]["image_sha256"] == sha256_bytes(data)
    # the same image is a verified copy: 1 + its keypoint/pixel match (≈ 1), above every cosine (docs/figures.md)
    assert hits[0]["score"] == pytest.approx(2.0, abs=1e-3) and hits[1]["score"] < hits[0]["score"]
    assert hits[0]["payload"]["caption"].startswith("Synthetic test image number 2")
    img = client.get(hits[0]["image_url"])
    assert img.status_code == 200 and img.content == data
    thumb = client.get(hits[0]["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"


def test_filters_and_threshold(client: TestClient) -> None:
    data = png_bytes(synthetic_image(2))
    flt = json.dumps({"year": {"gte": 2021, "lt": 2022}})
    hits = client.post("/v1/search/image", params={"filter": flt}, files={"file": ("q.png", data)}).json()["hits"]
    assert [h["payload"]["year"] for h in hits] == [2021]
    none = client.post("/v1/search/image", params={"score_threshold": 1.5}, files={"file": ("q.png", data)})
    assert none.status_code == 200 and none.json() == {"hits": []}


def test_text_search_get_and_post(client: TestClient) -> None:
    q = "silver manganate nanoplates atomic arrangement HAADF-STEM"
    get = client.get("/v1/search/text", params={"q": q, "limit": 2}).json()["hits"]
    post = client.post("/v1/search/text", json={"q": q, "limit": 2}).json()["hits"]
    assert [h["id"] for h in get] == [h["id"] for h in post]
    assert get[0]["payload"]["doi"] == "10.1038/s41467-018-06211-3"
    only_2022 = client.post("/v1/search/text", json={"q": q, "filter": {"year": 2022}}).json()["hits"]
    assert [h["payload"]["source_file"] for h in only_2022] == ["synthetic_2.png"]


def test_points_and_similar(client: TestClient) -> None:
    hits = client.get("/v1/search/text", params={"q": "synthetic shapes", "limit": 1}).json()["hits"]
    pid = hits[0]["id"]
    point = client.get(f"/v1/points/figures/{pid}").json()
    assert point["payload"] == hits[0]["payload"]
    similar = client.get(f"/v1/points/figures/{pid}/similar", params={"limit": 3}).json()["hits"]
    assert len(similar) == 3 and pid not in {h["id"] for h in similar}
    assert client.get("/v1/points/figures/00000000-0000-0000-0000-000000000000").status_code == 404


def _truncated_png() -> bytes:
    return png_bytes(synthetic_image(9))[:400]


def _bomb_png(side: int = 20000) -> bytes:
    """A valid 20000x20000 1-bit PNG of a few KB: decoding it would need 400 MP."""
    raw = zlib.compress(b"".join(b"\x00" + b"\x00" * ((side + 7) // 8) for _ in range(side)), 9)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


BAD_UPLOADS = [
    ("truncated.png", _truncated_png(), 400, "truncated or corrupt"),
    ("empty.png", b"", 400, "empty"),
    ("text.png", b"this is not an image at all\n" * 10, 415, "not a recognised image"),
    ("bomb.png", _bomb_png(), 413, "pixels"),
    ("huge.bin", b"\x00" * 2_100_000, 413, "limit"),
]


@pytest.mark.parametrize(("name", "data", "status", "message"), BAD_UPLOADS, ids=[b[0] for b in BAD_UPLOADS])
def test_bad_images_are_refused_and_nothing_is_written(
    client: TestClient, name: str, data: bytes, status: int, message: str
) -> None:
    before = counts(client)
    r = client.post("/v1/search/image", files={"file": (name, data)})
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]
    r = client.post("/v1/ingest/figures", files=[("files", (name, data))], headers={"X-API-Key": "k1"})
    if status == 413 and len(data) > 2_000_000:
        assert r.status_code == 413
    else:
        assert r.status_code == 200 and r.json()["points"] == 0 and message in r.json()["skipped"][0]["reason"]
    assert counts(client) == before
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"collection": "nope"}, 404, "unknown collection"),
        ({"filter": "{not json"}, 422, "not valid JSON"),
        ({"filter": '{"year": {"between": 3}}'}, 422, "unknown condition"),
        ({"filter": '{"must": [{"key": "x"}]}'}, 422, "exactly one of"),
        ({"limit": 0}, 422, "limit"),
    ],
)
def test_bad_parameters(client: TestClient, params: dict, status: int, message: str) -> None:
    r = client.post("/v1/search/image", params=params, files={"file": ("q.png", png_bytes(synthetic_image(1)))})
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]


def test_ingest_needs_the_api_key_and_is_idempotent(client: TestClient, figure_dir: Path) -> None:
    files = [("files", ("synthetic_0.png", (figure_dir / "synthetic_0.png").read_bytes()))]
    assert client.post("/v1/ingest/figures", files=files).status_code == 401
    assert client.post("/v1/ingest/figures", files=files, headers={"X-API-Key": "wrong"}).status_code == 401
    before = counts(client)
    r = client.post("/v1/ingest/figures", files=files, headers={"X-API-Key": "k1"})
    assert r.status_code == 200 and r.json()["new_points"] == 0 and r.json()["points"] == 1
    assert counts(client) == before


def test_sixteen_bit_and_rgba_images_are_searchable(client: TestClient) -> None:
    import numpy as np

    arr = (np.linspace(0, 65535, 128 * 128).reshape(128, 128)).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    assert client.post("/v1/search/image", files={"file": ("a.png", buf.getvalue())}).status_code == 200
    rgba = png_bytes(synthetic_image(3).convert("RGBA"))
    assert client.post("/v1/search/image", files={"file": ("b.png", rgba)}).status_code == 200


def test_openapi_documents_every_endpoint(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = set(spec["paths"])
    for p in [
        "/healthz",
        "/v1/collections",
        "/v1/search/image",
        "/v1/search/text",
        "/v1/points/{collection}/{point_id}",
        "/v1/points/{collection}/{point_id}/similar",
        "/v1/images/{sha256}",
        "/v1/ingest/figures",
    ]:
        assert p in paths
    assert "examples" in json.dumps(spec["components"]["schemas"]["SearchResponse"])
    assert client.get("/docs").status_code == 200
    assert "matsearch" in client.get("/").text
