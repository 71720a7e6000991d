"""Figure sources: PDFs (built from the dev figures), EXSCLAIM JSON, the open-access fetcher (local HTTP server with
recorded-format pages, no network), and the pipeline end to end (split, sketch vectors, idempotent re-ingest)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from matsearch.core.errors import BadInput
from matsearch.core.settings import Settings
from matsearch.indexer.sources.exsclaim import read_exsclaim
from matsearch.indexer.sources.fetch import Fetcher, fetch_articles
from matsearch.indexer.sources.pdf import read_pdf
from matsearch.search.figures import search_text
from training.figures_synth import build_figures_pdf

from .conftest import DEV_FIGURES

META = json.loads((DEV_FIGURES / "figures.json").read_text())
DATA = Path(__file__).resolve().parent / "fixtures" / "europepmc"


@pytest.fixture(scope="module")
def dev_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pdf") / "dev.pdf"
    m = META[0]
    build_figures_pdf(
        [(str(DEV_FIGURES / e["file"]), e["caption"]) for e in META],
        str(out),
        title=m["title"],
        doi=m["doi"],
        journal=m["journal"],
        year=m["year"],
        licence=m["license"],
    )
    return out


def test_pdf_figures_captions_and_metadata(dev_pdf: Path) -> None:
    items = list(read_pdf(dev_pdf))
    assert len(items) == 5
    for k, item in enumerate(items, 1):
        assert item.caption is not None and item.caption.startswith(f"Fig. {k} ")
        assert META[k - 1]["caption"][:40] in item.caption
        assert item.source == "pdf" and item.provenance["page"] >= 1
    doc = items[0].doc
    assert doc["doi"] == "10.1038/s41467-018-06211-3"
    assert doc["year"] == 2018
    assert doc["journal"] == "Nature Communications"
    assert doc["title"].startswith("Seed-mediated")


def test_pdf_text_lines_are_pdfplumbers(dev_pdf: Path) -> None:
    """The PDF source groups pdfminer's characters into lines itself (cheaper character dicts, pdfplumber's own
    grouping): the lines must be exactly what pdfplumber's ``extract_text_lines`` gives."""
    import pdfplumber

    from matsearch.indexer.sources.pdf import _lines

    with pdfplumber.open(dev_pdf) as pdf:
        for page in pdf.pages:
            want = [
                (ln["text"], ln["x0"], ln["top"], ln["x1"], ln["bottom"], max(c["size"] for c in ln["chars"]))
                for ln in page.extract_text_lines(return_chars=True, strip=True)
            ]
            got = [(ln.text, ln.x0, ln.top, ln.x1, ln.bottom, ln.size) for ln in _lines(page)]
            assert got and sorted(got, key=lambda t: (t[2], t[1])) == sorted(want, key=lambda t: (t[2], t[1]))


def test_pdf_bad_inputs(tmp_path: Path, dev_pdf: Path) -> None:
    from reportlab.pdfgen import canvas

    with pytest.raises(BadInput, match="not a PDF"):
        list(read_pdf(tmp_path / "x.pdf", b"hello"))
    with pytest.raises(BadInput, match="corrupt"):
        list(read_pdf(tmp_path / "x.pdf", dev_pdf.read_bytes()[:3000]))
    text_only = tmp_path / "text.pdf"
    c = canvas.Canvas(str(text_only))
    c.drawString(72, 720, "A paper without any figure.")
    c.save()
    with pytest.raises(BadInput, match="no figures"):
        list(read_pdf(text_only))
    locked = tmp_path / "locked.pdf"
    c = canvas.Canvas(str(locked), encrypt="secret")
    c.drawString(72, 720, "Encrypted.")
    c.save()
    with pytest.raises(BadInput, match="encrypted"):
        list(read_pdf(locked))


def _exsclaim_results(name: str) -> dict[str, object]:
    pt = lambda x0, y0, x1, y1: [{"x": x0, "y": y0}, {"x": x0, "y": y1}, {"x": x1, "y": y1}, {"x": x1, "y": y0}]  # noqa: E731
    return {
        name: {
            "title": META[0]["title"],
            "article_url": META[0]["article_url"],
            "article_name": META[0]["doi"],
            "full_caption": META[0]["caption"],
            "license": META[0]["license"],
            "open": True,
            "figure_path": f"figures/{name}",
            "master_images": [
                {
                    "classification": "Microscopy",
                    "confidence": 0.93,
                    "geometry": pt(0, 290, 220, 380),
                    "subfigure_label": {"text": "(c)", "geometry": pt(0, 290, 10, 300)},
                    "caption": ["SEM image of BM"],
                    "scale_bars": [
                        {"label": {"text": "5 µm", "nm": 5000}, "length": 40, "geometry": pt(170, 365, 210, 368)}
                    ],
                },
                {"classification": "Unclear", "geometry": pt(0, 0, 440, 260), "subfigure_label": {"text": "a"}},
            ],
        },
        "missing.jpg": {"title": "x", "master_images": []},
    }


def test_exsclaim_import(tmp_path: Path) -> None:
    name = META[0]["file"]
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / name).write_bytes((DEV_FIGURES / name).read_bytes())
    path = tmp_path / "exsclaim.json"
    path.write_text(json.dumps(_exsclaim_results(name)))
    skipped: list[str] = []
    items = list(read_exsclaim(path, skipped=skipped))
    assert len(items) == 1 and skipped == ["missing.jpg: figure image not found"]
    item = items[0]
    assert item.source == "exsclaim" and item.doc["doi"] == META[0]["doi"]
    assert item.panels is not None and len(item.panels) == 2
    c = item.panels[0]
    assert (c.label, c.bbox, c.type, c.caption) == ("c", (0, 290, 220, 380), "microscopy", "SEM image of BM")
    assert c.scale is not None and c.scale["nm_per_px"] == pytest.approx(125.0)
    assert item.panels[1].type == "other"
    with pytest.raises(BadInput):
        list(read_exsclaim(tmp_path / "figures" / name))  # not JSON


class _Recorded(BaseHTTPRequestHandler):
    hits: list[str] = []
    fail_first: set[str] = set()

    def do_GET(self) -> None:  # noqa: N802
        self.hits.append(self.path)
        if self.path in self.fail_first:
            self.fail_first.discard(self.path)
            self.send_response(503)
            self.send_header("Retry-After", "0")
            self.end_headers()
            return
        body: bytes | None = None
        if self.path.startswith("/rest/search"):
            body = (DATA / ("search_doi.json" if "DOI" in self.path else "search_query.json")).read_bytes()
        elif self.path.endswith("/fullTextXML"):
            p = DATA / f"{self.path.split('/')[2]}_fullTextXML.xml"
            body = p.read_bytes() if p.exists() else None
        elif "/bin/41467_2018_6211_Fig" in self.path:
            k = int(self.path.split("_Fig")[1].split("_")[0])
            body = (DEV_FIGURES / META[k - 1]["file"]).read_bytes()
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorded_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorded)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Recorded.hits = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_fetcher_open_access_only_with_retries_and_cache(recorded_server: str, tmp_path: Path) -> None:
    fetcher = Fetcher(
        api=f"{recorded_server}/rest",
        files=f"{recorded_server}/articles",
        cache_dir=tmp_path,
        rate_limit_s=0.0,
        backoff_s=0.01,
    )
    _Recorded.fail_first = {"/rest/PMC6143606/fullTextXML"}
    skipped: list[str] = []
    items = list(fetch_articles(fetcher, query="silver manganate", skipped=skipped))
    assert [i.caption[:30] for i in items if i.caption] == [m["caption"][:30] for m in META[:2]]
    assert items[0].doc["licence"] == "http://creativecommons.org/licenses/by/4.0/"
    assert items[0].doc["doi"] == META[0]["doi"] and items[0].doc["year"] == 2018
    assert any("not an open licence" in s for s in skipped)  # the closed article is not stored
    assert _Recorded.hits.count("/rest/PMC6143606/fullTextXML") == 2  # one 503, one retry
    assert "python-requests" not in fetcher.user_agent
    before = len(_Recorded.hits)
    again = list(fetch_articles(fetcher, dois=[META[0]["doi"]]))
    assert len(again) == 2
    assert len(_Recorded.hits) == before + 1  # only the new DOI search; article and figures come from the cache


def test_pipeline_ingest_pdf_split_sketch_idempotent(dev_pdf: Path, tmp_path: Path) -> None:
    from matsearch.search.figures import search_sketch
    from matsearch.server.service import Service
    from training import figures_synth as synth

    service = Service(Settings(data_dir=tmp_path / "data"))
    try:
        items = list(read_pdf(dev_pdf))[2:4]  # Fig. 3 (4 graphs) and Fig. 4 (schematic + 3 graphs)
        report = service.ingest_figures(items)
        assert report.points == 8 and not report.skipped
        again = service.ingest_figures(list(read_pdf(dev_pdf))[2:4])
        assert again.new_points == 0 and sorted(again.ids) == sorted(report.ids)
        hits = search_text(service.store, service.settings, "Tafel plots", limit=3)
        assert hits[0].payload["panel_label"] in ("b", "c")
        assert hits[0].payload["type"] == "graph"
        import io

        buf = io.BytesIO()
        synth.hand_sketch("sphere", __import__("numpy").random.default_rng(0)).save(buf, format="PNG")
        sk = search_sketch(service.store, service.settings, buf.getvalue(), limit=3)
        # graph panels get no sketch vector (pipeline.NO_SKETCH_TYPES): Fig. 4's schematic is the one sketch hit
        assert len(sk) == 1 and sk[0].payload["type"] != "graph" and sk[0].payload.get("panel_label")
    finally:
        service.close()


def test_http_pdf_ingest_split_and_sketch(dev_pdf: Path, tmp_path: Path) -> None:
    import io

    import numpy as np
    from fastapi.testclient import TestClient

    from matsearch.server.app import create_app
    from training import figures_synth as synth

    settings = Settings(data_dir=tmp_path / "data", api_key="k")
    with TestClient(create_app(settings)) as client:
        one = build_one_figure_pdf(tmp_path)
        files: list[tuple[str, tuple[str, bytes] | tuple[str, bytes, str]]] = [
            ("files", ("one.pdf", one.read_bytes(), "application/pdf")),
            ("files", ("bad.pdf", b"nope")),
        ]
        assert client.post("/v1/ingest/pdf", files=files).status_code == 401
        r = client.post("/v1/ingest/pdf", files=files, headers={"X-API-Key": "k"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["points"] == 4 and [s["item"] for s in body["skipped"]] == ["bad.pdf"]
        buf = io.BytesIO()
        synth.hand_sketch("rod", np.random.default_rng(1)).save(buf, format="PNG")
        r = client.post("/v1/search/sketch", params={"limit": 2}, files={"file": ("s.png", buf.getvalue())})
        # the figure's four panels are graphs, and graph panels get no sketch vector (pipeline.NO_SKETCH_TYPES)
        assert r.status_code == 200 and r.json()["hits"] == []
        fig = (DEV_FIGURES / META[2]["file"]).read_bytes()
        r = client.post("/v1/figures/split", files={"file": ("f.jpg", fig)}, data={"caption": META[2]["caption"]})
        assert [p["label"] for p in r.json()["panels"]] == ["a", "b", "c", "d"]


def build_one_figure_pdf(tmp_path: Path) -> Path:
    out = tmp_path / "one.pdf"
    m = META[2]
    build_figures_pdf([(str(DEV_FIGURES / m["file"]), m["caption"])], str(out), title=m["title"], doi=m["doi"])
    return out


def test_http_exsclaim_ingest_keeps_its_panels(tmp_path: Path) -> None:
    """POST /v1/ingest/exsclaim: EXSCLAIM's own panels land as they are (no re-splitting), behind the API key."""
    from fastapi.testclient import TestClient

    from matsearch.server.app import create_app

    name = META[0]["file"]
    files: list[tuple[str, tuple[str, bytes, str]]] = [
        ("results", ("exsclaim.json", json.dumps(_exsclaim_results(name)).encode(), "application/json")),
        ("files", (name, (DEV_FIGURES / name).read_bytes(), "image/jpeg")),
    ]
    settings = Settings(data_dir=tmp_path / "data", api_key="k")
    with TestClient(create_app(settings)) as client:
        assert client.post("/v1/ingest/exsclaim", files=files).status_code == 401
        r = client.post("/v1/ingest/exsclaim", files=files, headers={"X-API-Key": "k"})
        assert r.status_code == 200, r.text
        report = r.json()
        assert report["points"] == 2 and report["count"] == 2
        assert [s["item"] for s in report["skipped"]] == ["missing.jpg"]
        hits = client.post("/v1/search/text", json={"q": "SEM image of BM", "limit": 5}).json()["hits"]
        by_label = {h["payload"]["panel_label"]: h["payload"] for h in hits}
        assert set(by_label) == {"c", "a"}
        c = by_label["c"]
        assert c["bbox"] == [0, 290, 220, 380] and c["type"] == "microscopy" and c["source"] == "exsclaim"
        assert c["nm_per_px"] == pytest.approx(125.0)
        assert c["provenance"]["exsclaim_json"] == "exsclaim.json"
        assert c["exsclaim"]["label"] == "(c)"
        # re-sending rewrites the same points
        again = client.post("/v1/ingest/exsclaim", files=files, headers={"X-API-Key": "k"}).json()
        assert again["new_points"] == 0 and again["count"] == 2
