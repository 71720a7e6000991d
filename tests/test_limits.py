"""Safe defaults and limits, in process: API-key parsing, an unreachable store (503), CORS only when configured,
``serve`` refusing an open non-loopback bind, PDF page/pixel limits, the fetcher's caps and XML defences, filter
keys."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from matsearch.core.errors import BadInput, InvalidFilter, MatsearchError, TooLarge
from matsearch.core.filters import parse_filter
from matsearch.core.settings import Settings
from matsearch.server.app import create_app
from tests.conftest import free_port, png_bytes, run_cli, synthetic_image


def test_malformed_api_keys_are_401(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", api_key="sekret")
    files = {"files": ("a.png", png_bytes(synthetic_image(1)))}
    with TestClient(create_app(settings)) as client:
        for key in (b"\xc3\xa9", b"sekret\xff", b"", b" sekret", b"sekret" * 100):
            r = client.post("/v1/ingest/figures", files=files, headers=[(b"X-API-Key", key)])
            assert r.status_code == 401, (key, r.text)
        r = client.request(
            "PATCH",
            "/v1/points/figures/00000000-0000-0000-0000-000000000000/scale",
            json={"nm_per_px": 1},
            headers={"X-API-Key": "wrong"},
        )
        assert r.status_code == 401


def test_unreachable_qdrant_is_503(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", qdrant_url=f"http://127.0.0.1:{free_port()}")
    with TestClient(create_app(settings)) as client:
        for path in (
            "/v1/collections",
            "/v1/points/figures/00000000-0000-0000-0000-000000000000",
            "/v1/search/text?q=gold",
        ):
            r = client.get(path)
            assert r.status_code == 503 and "cannot reach Qdrant" in r.json()["detail"], (path, r.text)


def test_cors_only_for_configured_origins(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", cors_origins="https://app.example, https://other.example")
    with TestClient(create_app(settings)) as client:
        pre = client.options(
            "/v1/search/text", headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
        )
        assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "https://app.example"
        ok = client.post("/v1/search/text", json={"q": "gold"}, headers={"Origin": "https://app.example"})
        assert ok.status_code != 403 and ok.headers["access-control-allow-origin"] == "https://app.example"
        bad = client.post("/v1/search/text", json={"q": "gold"}, headers={"Origin": "https://evil.example"})
        assert bad.status_code == 403 and "access-control-allow-origin" not in bad.headers


def test_serve_refuses_open_non_loopback_bind(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != "MATSEARCH_API_KEY"}
    env["MATSEARCH_DATA_DIR"] = str(tmp_path / "data")
    result = run_cli("serve", "--host", "0.0.0.0", "--port", str(free_port()), env=env)
    assert result.returncode != 0 and "--insecure" in result.stderr and "MATSEARCH_API_KEY" in result.stderr


def _pdf(pages: int, page_size: tuple[float, float] = (595, 842)) -> bytes:
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=page_size)
    for k in range(pages):
        w, h = page_size
        c.setLineWidth(3)
        for i in range(20):  # a vector drawing: rendered from the page, not an embedded image
            c.line(50 + i * (w - 100) / 20, h - 80, w - 50 - i * (w - 100) / 20, 220)
        c.setFont("Helvetica", 10)
        c.drawString(50, 200, f"Fig. {k + 1} | Lines drawn as vectors on page {k + 1}.")
        c.showPage()
    c.save()
    return buf.getvalue()


def test_pdf_page_limit_and_render_pixel_cap() -> None:
    from PIL import Image

    from matsearch.indexer.sources.pdf import read_pdf_content

    with pytest.raises(TooLarge, match="MATSEARCH_MAX_PDF_PAGES"):
        read_pdf_content(_pdf(3), "three.pdf", settings=Settings(max_pdf_pages=2))
    with pytest.raises(TooLarge, match="MATSEARCH_MAX_PDF_SECONDS"):
        read_pdf_content(_pdf(2), "slow.pdf", settings=Settings(max_pdf_seconds=1e-9))
    # a 5 m x 5 m page: at 150 dpi its figure region would be ~800 MP; it is rendered within the pixel limit
    big = _pdf(1, page_size=(14000, 14000))
    content = read_pdf_content(big, "huge.pdf", settings=Settings(max_image_pixels=2_000_000))
    (figure,) = content.figures
    w, h = Image.open(io.BytesIO(figure.data)).size
    assert figure.how == "rendered" and w * h <= 2_000_000


class _Hostile(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        if self.path.startswith("/big"):
            self.send_response(200)
            self.end_headers()  # no Content-Length: the cap must hold on the stream
            for _ in range(64):
                self.wfile.write(b"x" * 65536)
        elif self.path.startswith("/loop"):
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
        elif self.path.startswith("/scheme"):
            self.send_response(302)
            self.send_header("Location", "file:///etc/passwd")
            self.end_headers()
        else:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")


@pytest.fixture
def hostile() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_fetcher_caps_and_redirect_policy(hostile: str) -> None:
    from matsearch.indexer.sources.fetch import Fetcher, check_redirect, parse_jats

    fetcher = Fetcher(api=hostile, files=hostile, rate_limit_s=0, retries=0, max_bytes=1_000_000)
    assert fetcher.get(f"{hostile}/ok") == b"ok"
    with pytest.raises(TooLarge):
        fetcher.get(f"{hostile}/big")
    with pytest.raises(MatsearchError, match="redirects"):
        fetcher.get(f"{hostile}/loop")
    with pytest.raises(MatsearchError, match="http and https only"):
        fetcher.get(f"{hostile}/scheme")
    with pytest.raises(MatsearchError, match="local address"):
        check_redirect("https://www.ebi.ac.uk/x", "https://169.254.169.254/latest/meta-data")
    with pytest.raises(MatsearchError, match="https → http"):
        check_redirect("https://www.ebi.ac.uk/x", "http://www.ebi.ac.uk/x")
    check_redirect("https://www.ebi.ac.uk/x", "https://europepmc.org/y")  # allowed
    bomb = b'<!DOCTYPE a [<!ENTITY l "lol"><!ENTITY l2 "&l;&l;&l;&l;&l;">]><article>&l2;</article>'
    with pytest.raises(BadInput, match="EntitiesForbidden"):
        parse_jats(bomb, "PMC1")
    external = b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><article>&x;</article>'
    with pytest.raises(BadInput, match="EntitiesForbidden"):
        parse_jats(external, "PMC1")


@pytest.mark.parametrize("key", ["a[", "x y", "a..b", "$", "a'b", "l[*]", "a" * 300])
def test_filter_keys_are_checked(key: str) -> None:
    with pytest.raises(InvalidFilter, match="payload key"):
        parse_filter({key: 1})


def test_filter_keys_that_stores_accept() -> None:
    for key in ("type", "scale.nm_per_px", "documents[].doi", "exsclaim.keywords[0]", "c-d", "é"):
        assert parse_filter({key: 1}) is not None
