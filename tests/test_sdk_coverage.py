"""The SDK against a live server (the session's ``matsearch serve`` with API key): every ingest kind (figures in
batches, PDF, EXSCLAIM, CIF), figure split, manual scale, gc, health limits — and what re-ingesting does to a
figure's panels (stale ones deleted) and documents (every paper kept)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from matsearch.core.ids import sha256_bytes
from matsearch_client import Client, FigureSplit, InvalidRequest, Unauthorized
from tests.conftest import LiveServer, png_bytes, synthetic_image

COD = Path(__file__).resolve().parents[1] / "indexer" / "matsearch" / "indexer" / "structures" / "data" / "cod"


def _pt(x0: int, y0: int, x1: int, y1: int) -> list[dict[str, int]]:
    return [{"x": x0, "y": y0}, {"x": x0, "y": y1}, {"x": x1, "y": y1}, {"x": x1, "y": y0}]


def _exsclaim(doi: str, boxes: list[tuple[int, int, int, int]]) -> dict[str, object]:
    return {
        "fig7.png": {
            "title": f"Paper {doi}",
            "article_name": doi,
            "full_caption": "(a) SEM of rods. (b) TEM of rods.",
            "figure_path": "/somewhere/on/the/client/fig7.png",
            "master_images": [
                {"classification": "Microscopy", "geometry": _pt(*box), "subfigure_label": {"text": "ab"[k]}}
                for k, box in enumerate(boxes)
            ],
        }
    }


@pytest.fixture(scope="module")
def ms(live_server: LiveServer) -> Iterator[Client]:
    with Client(live_server.url, api_key="sekret") as client:
        yield client


def test_health_reports_limits(ms: Client) -> None:
    limits = ms.health().limits
    assert limits is not None and limits.max_request_bytes >= limits.max_upload_bytes > 0


def test_ingest_figures_in_batches_with_progress(ms: Client) -> None:
    images = [png_bytes(synthetic_image(700 + i)) for i in range(3)]
    calls: list[tuple[int, int]] = []
    report = ms.ingest_figures(
        images,
        metadata={"image_1.png": {"caption": "HRTEM of ceria", "doi": "10.5555/sdk.1", "source": "sdk-test"}},
        progress=lambda done, total: calls.append((done, total)),
    )
    assert report.items == 3 and not report.skipped and calls[-1] == (3, 3)
    hit = ms.search_image(images[1], limit=1).hits[0]
    assert hit.payload["doi"] == "10.5555/sdk.1" and hit.payload["source"] == "sdk-test"
    assert hit.payload["documents"][0]["doi"] == "10.5555/sdk.1"


def test_exsclaim_reingest_replaces_panels_and_keeps_documents(ms: Client) -> None:
    figure = png_bytes(synthetic_image(710, size=300))
    first = ms.ingest_exsclaim(
        _exsclaim("10.5555/paper.A", [(0, 0, 150, 300), (150, 0, 300, 300)]), {"fig7.png": figure}
    )
    assert first.points == 2 and first.new_points == 2
    # another paper shows the same image, and its panels are cut differently: one panel now
    second = ms.ingest_exsclaim(_exsclaim("10.5555/paper.B", [(0, 0, 300, 300)]), {"fig7.png": figure})
    assert second.points == 1 and second.stale_deleted == 2
    assert second.count == first.count - 1
    point = ms.get("figures", second.ids[0])
    assert point.payload["image_sha256"] == sha256_bytes(figure)
    assert point.payload["dois"] == ["10.5555/paper.A", "10.5555/paper.B"]
    assert [d["doi"] for d in point.payload["documents"]] == ["10.5555/paper.A", "10.5555/paper.B"]
    assert point.payload["doi"] == "10.5555/paper.B"  # top-level fields: the latest ingest
    found = ms.search_text("SEM of rods", filter={"dois": "10.5555/paper.A"}, limit=5)
    assert [h.id for h in found.hits] == [point.id]


def test_ingest_pdf_and_cif(ms: Client, tmp_path: Path) -> None:
    from training.figures_synth import build_figures_pdf

    image = tmp_path / "fig.png"
    image.write_bytes(png_bytes(synthetic_image(720, size=400)))
    pdf = tmp_path / "paper.pdf"
    build_figures_pdf(
        [(str(image), "Fig. 1 | SEM of a test sample.")], str(pdf), title="SDK paper", doi="10.5555/pdf.1"
    )
    report = ms.ingest_pdf([pdf, b"not a pdf"])
    assert report.points >= 1 and [s.reason for s in report.skipped if "not a PDF" in s.reason]
    hit = ms.get("figures", report.ids[0])
    assert hit.payload["source"] == "pdf" and hit.payload["provenance"]["file"] == "paper.pdf"
    assert hit.payload["doi"] == "10.5555/pdf.1"
    cif = ms.ingest_cif([COD / "Al.cif", b"data_x\n_cell_length_a 4\n"])
    assert cif.collection == "xrd" and cif.points >= 1 and len(cif.skipped) == 1


def test_split_figure_and_set_scale(ms: Client) -> None:
    figure = png_bytes(synthetic_image(730, size=240))
    split = ms.split_figure(figure, caption="(a) SEM image.")
    assert isinstance(split, FigureSplit) and split.width == 240 and split.panels
    report = ms.ingest_figures([figure])
    point = ms.set_scale(report.ids[0], value=500, unit="nm", length_px=100)
    assert point.payload["scale"]["source"] == "manual" and point.payload["nm_per_px"] == pytest.approx(5.0)
    with pytest.raises(InvalidRequest):
        ms.set_scale(report.ids[0], nm_per_px=-1)


def test_gc_needs_the_key_and_reports(ms: Client, live_server: LiveServer) -> None:
    with Client(live_server.url) as anonymous, pytest.raises(Unauthorized):
        anonymous.gc(dry_run=True)
    report = ms.gc(dry_run=True)
    assert report.dry_run and report.referenced > 0 and report.images_removed == 0


def test_cli_ingest_exsclaim_and_pdf_through_the_server(live_server: LiveServer, tmp_path: Path) -> None:
    """The CLI's server mode: EXSCLAIM in batches (each with its part of the JSON), PDFs read by the server."""
    import json

    from training.figures_synth import build_figures_pdf

    (tmp_path / "figures").mkdir()
    results = {}
    for i in range(3):
        name = f"cli_fig{i}.png"
        (tmp_path / "figures" / name).write_bytes(png_bytes(synthetic_image(740 + i, size=200)))
        entry = cast(dict[str, Any], _exsclaim(f"10.5555/cli.{i}", [(0, 0, 100, 200), (100, 0, 200, 200)])["fig7.png"])
        results[name] = {**entry, "figure_path": f"figures/{name}"}
    (tmp_path / "exsclaim.json").write_text(json.dumps(results))
    out = live_server.cli("ingest", "exsclaim", str(tmp_path / "exsclaim.json"), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["items"] == 3 and report["points"] == 6 and not report["skipped"]
    with Client(live_server.url) as ms:
        payload = ms.get("figures", report["ids"][0]).payload
    assert payload["source"] == "exsclaim" and payload["provenance"]["exsclaim_json"] == "exsclaim.json"
    assert payload["bbox"] == [0, 0, 100, 200] and payload["doi"] == "10.5555/cli.0"
    pdf = tmp_path / "cli.pdf"
    build_figures_pdf([(str(tmp_path / "figures" / "cli_fig0.png"), "Fig. 1 | TEM.")], str(pdf), doi="10.5555/cli.pdf")
    out = live_server.cli("ingest", "pdf", str(pdf), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    with Client(live_server.url) as ms:
        payload = ms.get("figures", report["ids"][0]).payload
    assert payload["source"] == "pdf" and payload["provenance"]["file"] == "cli.pdf"
