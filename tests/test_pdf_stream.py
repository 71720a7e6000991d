"""PDF figures are streamed page by page (ingest starts on the first figures while later pages are still being
read); the stream gives exactly the whole-PDF result, and the reading time limit counts reading only."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pytest

from matsearch.core.errors import TooLarge
from matsearch.core.settings import Settings
from matsearch.indexer.sources import pdf as pdf_source


def _pdf(pages: int) -> bytes:
    """One vector figure with a "Fig. k" caption per page, and on page 2 a second figure below the first."""
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(595, 842))
    for k in range(pages):
        c.setLineWidth(3)
        for i in range(12):
            c.line(60 + i * 30, 780, 500 - i * 20, 520)
        c.circle(80 + 25 * k, 640, 15)  # each page's figure differs (a figure's identity is its bytes)
        c.setFont("Helvetica", 10)
        c.drawString(50, 500, f"Fig. {k + 1} | Lines drawn as vectors on page {k + 1}.")
        if k == 1:
            for i in range(8):
                c.circle(300, 330, 20 + 12 * i)
            c.drawString(50, 200, "Fig. 9 | Circles below the first figure of the page.")
        c.showPage()
    c.save()
    return buf.getvalue()


def test_pdf_figures_stream_page_by_page(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data = _pdf(5)
    whole = pdf_source.read_pdf_content(data, "five.pdf")
    assert [f.number for f in whole.figures] == ["1", "2", "9", "3", "4", "5"]
    pages_read: list[int] = []
    real_lines = pdf_source._lines

    def lines(page: Any) -> list[Any]:  # the real line reader, counting the pages it was asked for
        pages_read.append(1)
        return real_lines(page)

    monkeypatch.setattr(pdf_source, "_lines", lines)
    stream = pdf_source.read_pdf(tmp_path / "five.pdf", data)
    first = next(stream)
    assert len(pages_read) == 2  # page 1's figure is final once page 2 has been read (a caption there may claim it)
    items = [first, *stream]
    assert len(pages_read) == 5
    assert [i.data for i in items] == [f.data for f in whole.figures]
    assert [i.caption for i in items] == [f.caption for f in whole.figures]
    assert [i.provenance["bbox_pt"] for i in items] == [[round(v, 1) for v in f.bbox_pt] for f in whole.figures]


def test_pdf_time_limit_counts_reading_not_the_consumer(tmp_path: Path) -> None:
    data = _pdf(4)
    with pytest.raises(TooLarge, match="MATSEARCH_MAX_PDF_SECONDS"):
        list(pdf_source.read_pdf(tmp_path / "x.pdf", data, settings=Settings(max_pdf_seconds=1e-9)))
    limit = 4.0  # far above the reading time of four small pages, below the time the consumer holds a figure
    stream = pdf_source.read_pdf(tmp_path / "x.pdf", data, settings=Settings(max_pdf_seconds=limit))
    first = next(stream)
    time.sleep(limit + 0.5)  # an ingest busy with the first figures: not reading time
    assert len([first, *stream]) == 5


def test_cli_ingest_pdf_streams_and_skips_unreadable_pdfs_whole(tmp_path: Path) -> None:
    import json
    import os

    from .conftest import run_cli

    env = {**os.environ, "MATSEARCH_DATA_DIR": str(tmp_path / "data")}
    good, bad = tmp_path / "two.pdf", tmp_path / "bad.pdf"
    good.write_bytes(_pdf(2))  # page 2 has two figures: 3 in all
    bad.write_bytes(b"%PDF-1.4 not really")
    result = run_cli("ingest", "pdf", str(bad), str(good), "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["items"] == 3 and report["points"] >= 3 and report["count"] == report["points"]
    assert [s["item"] for s in report["skipped"]] == ["bad.pdf"]
    only_bad = run_cli("ingest", "pdf", str(bad), "--json", env=env)
    assert only_bad.returncode != 0 and only_bad.stderr.strip().startswith("error: bad.pdf")
