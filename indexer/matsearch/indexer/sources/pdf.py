"""Local PDFs → figure items: each figure with its "Fig. N" / "Figure N" caption block and the paper's metadata.

Permissive libraries only: pdfplumber (MIT) reads text lines with positions, pypdfium2 (Apache/BSD) extracts
embedded images (original JPEG bytes when possible) and renders page regions.

1. **Captions**: a text line starting with "Fig. N", "Figure N" or "FIG. N" opens a caption block; following lines
   join it while the line spacing stays regular (a blank gap or a new "Fig." ends it).
2. **Figure region**: the embedded images just above the caption (between the previous caption or the page top and
   the caption). One image → its own pixels; several (a figure assembled from parts) or none (vector graphics,
   plots) → that page region rendered at ``render_dpi``. A figure is never split here: panels are the splitter's
   job.
3. **Document**: title, DOI, year, journal from the PDF metadata, else from the first page's text (DOI regex,
   the largest-font line as title, a year near "Published"/"©"/"Received").

Bad input gets a clear :class:`~matsearch.core.errors.BadInput`: encrypted PDFs, files that are not PDFs or are
corrupt, PDFs without figures (no captions and no large images).
"""

from __future__ import annotations

import io
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matsearch.core.errors import BadInput, TooLarge
from matsearch.core.ids import sha256_bytes
from matsearch.core.settings import Settings, get_settings
from matsearch.indexer.items import FigureItem

_CAPTION_RE = re.compile(r"^\s*(?:Supplementary\s+)?(Fig\.?|Figure|FIG\.?|FIGURE)\s*(S?\d+)\s*[.:|]?\s*", re.I)
_DOI_RE = re.compile(r"\b(10\.\d{4,9}/[^\s\"<>,;]+[^\s\"<>,;.)\]])", re.I)
_YEAR_RE = re.compile(r"(?:Published|Received|Accepted|©|\(c\)|Copyright)[^0-9]{0,40}((?:19|20)\d{2})", re.I)
_JOURNALS = re.compile(
    r"\b(Nature(?:\s+[A-Z][a-z]+){0,2}|Science(?:\s+Advances)?|Nano Letters|ACS Nano|Advanced Materials|"
    r"Physical Review [A-Z]|Journal of [A-Z][A-Za-z ]{3,40}|Scientific Reports|Chemistry of Materials|Small)\b"
)
MIN_FIGURE_PT = 60  # an embedded image smaller than this (points) on both sides is a logo or an icon


@dataclass
class PdfFigure:
    page: int  # 0-based
    number: str | None
    caption: str | None
    bbox_pt: tuple[float, float, float, float]  # x0, top, x1, bottom in PDF points from the page's top-left
    data: bytes
    how: str  # "embedded" | "rendered"


@dataclass
class PdfContent:
    doc: dict[str, Any]
    figures: list[PdfFigure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _open_pdfium(data: bytes, name: str) -> Any:
    import pypdfium2 as pdfium

    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise BadInput(f"{name} is not a PDF file")
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        msg = str(exc).lower()
        if "password" in msg or "security" in msg:
            raise BadInput(f"{name} is encrypted (password protected): cannot read its figures") from exc
        raise BadInput(f"{name} is corrupt or not a readable PDF ({exc})") from exc


@dataclass
class _Line:
    text: str
    x0: float
    top: float
    x1: float
    bottom: float
    size: float


def _chars(page: Any) -> list[dict[str, Any]]:
    """The page's characters as pdfplumber's text-line grouping needs them, built straight from pdfminer's layout
    (same geometry as ``page.chars``: top/bottom from the page height and MediaBox). pdfplumber's own ``page.chars``
    resolves every attribute and colour of every character, which was two thirds of the text-line time; on 19 real
    and synthetic PDFs the lines are identical and the text lines take 35 % less CPU."""
    from pdfminer.layout import LTChar, LTContainer

    h, mb_top, doctop = page.height, page.mediabox[1], page.initial_doctop
    out: list[dict[str, Any]] = []

    def walk(objs: list[Any]) -> None:
        for obj in objs:
            if isinstance(obj, LTContainer):
                walk(obj._objs)  # noqa: SLF001 - what pdfplumber iterates too (LTFigure's children)
            elif isinstance(obj, LTChar):
                top = (h - obj.y1) + mb_top
                out.append(
                    {
                        "text": obj.get_text(),
                        "x0": obj.x0,
                        "x1": obj.x1,
                        "top": top,
                        "bottom": (h - obj.y0) + mb_top,
                        "doctop": doctop + top,
                        "upright": obj.upright,
                        "matrix": obj.matrix,
                        "size": obj.size,
                        "object_type": "char",
                    }
                )

    walk(page.layout._objs)  # noqa: SLF001
    return out


def _lines(page: Any) -> list[_Line]:
    from pdfplumber.utils import chars_to_textmap

    out = []
    textmap = chars_to_textmap(
        _chars(page), layout_bbox=page.bbox, layout_width=page.width, layout_height=page.height
    )  # what page.extract_text_lines does, on cheaper character dicts
    for ln in textmap.extract_text_lines(strip=True, return_chars=True):
        chars = ln.get("chars") or []
        size = max((c.get("size", 0.0) for c in chars), default=0.0)
        out.append(_Line(ln["text"], ln["x0"], ln["top"], ln["x1"], ln["bottom"], float(size)))
    out.sort(key=lambda line: (line.top, line.x0))
    return out


def _caption_blocks(lines: list[_Line]) -> list[tuple[str, str, tuple[float, float, float, float]]]:
    """(figure number, caption text, bbox) for each caption block on the page."""
    blocks = []
    i = 0
    while i < len(lines):
        m = _CAPTION_RE.match(lines[i].text)
        if not m:
            i += 1
            continue
        start = lines[i]
        parts = [start.text]
        x0, top, x1, bottom = start.x0, start.top, start.x1, start.bottom
        height = max(1.0, start.bottom - start.top)
        j = i + 1
        while j < len(lines):
            ln = lines[j]
            gap = ln.top - bottom
            if gap > 0.9 * height or _CAPTION_RE.match(ln.text) or ln.x0 > x1 or ln.x1 < x0:
                break
            parts.append(ln.text)
            x0, x1, bottom = min(x0, ln.x0), max(x1, ln.x1), max(bottom, ln.bottom)
            j += 1
        text = " ".join(parts)
        text = re.sub(r"(\w)-\s+(\w)", r"\1\2", text)  # de-hyphenate line breaks
        blocks.append((m.group(2), text.strip(), (x0, top, x1, bottom)))
        i = j
    return blocks


def _document_fields(meta: dict[str, str], first_lines: list[_Line], first_text: str) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    title = (meta.get("Title") or "").strip()
    if not title and first_lines:
        big = max(first_lines, key=lambda line: line.size)
        title = " ".join(line.text for line in first_lines if abs(line.size - big.size) < 0.5 and line.top < 300)
    if title:
        doc["title"] = title
    m = _DOI_RE.search(" ".join(meta.values())) or _DOI_RE.search(first_text)
    if m:
        doc["doi"] = m.group(1)
        doc["url"] = f"https://doi.org/{m.group(1)}"
    ym = _YEAR_RE.search(first_text)
    if ym:
        doc["year"] = int(ym.group(1))
    else:
        cd = meta.get("CreationDate") or ""
        mm = re.search(r"((?:19|20)\d{2})", cd)
        if mm:
            doc["year"] = int(mm.group(1))
    journal = (meta.get("Subject") or "").strip()
    jm = _JOURNALS.search(journal) or _JOURNALS.search(first_text)
    if jm:
        doc["journal"] = jm.group(1).strip()
    lic = re.search(r"(https?://creativecommons\.org/licenses/[a-z\-]+/\d\.\d/?)", first_text)
    if lic:
        doc["licence"] = lic.group(1)
    elif re.search(r"\bCC[ -]BY\b", first_text):
        doc["licence"] = "CC-BY"
    if meta.get("Author"):
        doc["authors"] = meta["Author"]
    return doc


def preload() -> None:
    """Import the PDF libraries now (~0.13 CPU-s, once per process) rather than in the first PDF read."""
    import pdfplumber  # noqa: F401
    import pypdfium2.raw  # noqa: F401


def read_pdf_content(
    data: bytes, name: str = "document.pdf", *, render_dpi: int = 150, settings: Settings | None = None
) -> PdfContent:
    """Figures (image bytes + caption) and document fields of a PDF; raises ``BadInput`` for unusable files.

    Limits (settings): at most ``max_pdf_pages`` pages, ``max_pdf_seconds`` of wall time (checked before each page),
    no rendered region and no decoded embedded image above ``max_image_pixels`` (a region is rendered at a lower
    resolution instead; an over-large embedded image is skipped with a note). The whole PDF is read before this
    returns; :func:`iter_pdf_figures` gives the same figures page by page."""
    content = PdfContent(doc={})
    content.figures = list(iter_pdf_figures(data, name, content, render_dpi=render_dpi, settings=settings))
    return content


def iter_pdf_figures(
    data: bytes,
    name: str,
    content: PdfContent,
    *,
    render_dpi: int = 150,
    settings: Settings | None = None,
) -> Iterator[PdfFigure]:
    """The figures of :func:`read_pdf_content`, in the same order, each yielded as soon as it is final: the figures
    of page *p* once page *p* + 1 has been read (a caption at the top of page *p* + 1 may still claim page *p*'s
    last uncaptioned image). ``content`` receives the document fields (after the first page) and the notes. The
    checks of :func:`read_pdf_content` raise here too — the page limit and an unreadable file before the first
    figure, the time limit before the page it stops at (the figures of earlier pages have been yielded by then),
    "no figures" at the end."""
    import pdfplumber
    import pypdfium2.raw as pdfium_c

    settings = settings or get_settings()
    spent, resumed = 0.0, time.monotonic()  # reading time only: not the time the consumer holds a figure
    pdf = _open_pdfium(data, name)
    try:
        if len(pdf) > settings.max_pdf_pages:
            raise TooLarge(
                f"{name} has {len(pdf)} pages; the limit is {settings.max_pdf_pages} (MATSEARCH_MAX_PDF_PAGES)"
            )
        meta = {k: str(v) for k, v in pdf.get_metadata_dict().items() if v}
        try:
            plumber = pdfplumber.open(io.BytesIO(data))
        except Exception as exc:  # pdfminer raises many types on damaged files
            raise BadInput(f"{name} is corrupt or not a readable PDF ({exc})") from exc
        found: list[PdfFigure] = []  # figures not yielded yet
        yielded = 0

        def final(before_page: int | None) -> list[PdfFigure]:
            """Take the found figures of pages before ``before_page`` (None: all), in (page, top) order."""
            ready = [f for f in found if before_page is None or f.page < before_page]
            found[:] = [f for f in found if before_page is not None and f.page >= before_page]
            return sorted(ready, key=lambda f: (f.page, f.bbox_pt[1]))  # stable: the whole-PDF order

        with plumber:
            if len(plumber.pages) == 0:
                raise BadInput(f"{name} has no pages")
            pending: list[PdfFigure] = []  # uncaptioned images of the previous page
            for pno, ppage in enumerate(plumber.pages):
                for ready in final(pno - 1):  # page pno - 2 and earlier can no longer change
                    yielded += 1
                    spent += time.monotonic() - resumed
                    yield ready
                    resumed = time.monotonic()
                if spent + time.monotonic() - resumed > settings.max_pdf_seconds:
                    raise TooLarge(
                        f"{name}: reading stopped at page {pno + 1} of {len(plumber.pages)} after "
                        f"{settings.max_pdf_seconds:g} s (MATSEARCH_MAX_PDF_SECONDS)"
                    )
                try:
                    lines = _lines(ppage)
                except Exception as exc:
                    content.notes.append(f"page {pno + 1}: text unreadable ({exc})")
                    lines = []
                if pno == 0:
                    content.doc = _document_fields(meta, lines, " ".join(line.text for line in lines))
                page = pdf[pno]
                _, page_h = page.get_size()
                images = []
                for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=3):
                    left, bottom, right, top = obj.get_bounds()
                    if right - left < MIN_FIGURE_PT and top - bottom < MIN_FIGURE_PT:
                        continue
                    images.append((obj, (left, page_h - top, right, page_h - bottom)))
                prev_bottom = 0.0
                for number, caption, cb in _caption_blocks(lines):
                    above = [(o, b) for o, b in images if b[3] <= cb[1] + 4 and b[1] >= prev_bottom - 4]
                    first_on_page = not any(ln.top > 60 and ln.bottom <= cb[1] - 2 for ln in lines)  # below headers
                    if not above and first_on_page and pending and pending[-1].caption is None:
                        # the caption was pushed to the next page: it belongs to the last uncaptioned image before
                        prev = pending.pop()
                        prev.number, prev.caption = number, caption
                        found.append(prev)
                        prev_bottom = cb[3]
                        continue
                    fig = _figure_from(
                        page, pno, number, caption, cb, above, lines, prev_bottom, render_dpi, settings.max_image_pixels
                    )
                    prev_bottom = cb[3]
                    if fig is None:
                        content.notes.append(f"page {pno + 1}: Fig. {number} has no figure area above its caption")
                        continue
                    found.append(fig)
                    images = [(o, b) for o, b in images if (o, b) not in above]
                found.extend(pending)  # large images without a caption: kept, caption None
                pending = []
                for obj, b in images:
                    fig_bytes = _image_bytes(obj, settings.max_image_pixels)
                    if fig_bytes:
                        pending.append(PdfFigure(pno, None, None, b, fig_bytes, "embedded"))
                    else:
                        content.notes.append(f"page {pno + 1}: an embedded image could not be extracted; skipped")
                page.close()
            found.extend(pending)
        for ready in final(None):
            yielded += 1
            yield ready
        if not yielded:
            raise BadInput(f"{name} has no figures (no 'Fig. N' captions and no large images)")
    finally:
        pdf.close()


def _image_bytes(obj: Any, max_pixels: int) -> bytes | None:
    """An embedded image's bytes (the original JPEG when possible, else PNG); None when it cannot be extracted or
    its pixel size (from the PDF's image dictionary, before decoding) is over the limit."""
    try:
        w, h = obj.get_px_size()
    except Exception:
        return None
    if w <= 0 or h <= 0 or w * h > max_pixels:
        return None
    buf = io.BytesIO()
    try:
        obj.extract(buf, fb_format="png")
    except Exception:
        try:
            pil = obj.get_bitmap(render=True).to_pil()
        except Exception:
            return None
        buf = io.BytesIO()
        pil.convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def _figure_from(
    page: Any,
    pno: int,
    number: str,
    caption: str,
    cb: tuple[float, float, float, float],
    above: list[tuple[Any, tuple[float, float, float, float]]],
    lines: list[_Line],
    prev_bottom: float,
    render_dpi: int,
    max_pixels: int,
) -> PdfFigure | None:
    if len(above) == 1:
        obj, b = above[0]
        data = _image_bytes(obj, max_pixels)
        if data:
            return PdfFigure(pno, number, caption, b, data, "embedded")
    if above:
        x0 = min(b[0] for _, b in above)
        top = min(b[1] for _, b in above)
        x1 = max(b[2] for _, b in above)
        bottom = max(b[3] for _, b in above)
    else:
        # vector figure: the area between the last text line above the caption (body text) and the caption
        body = [
            ln
            for ln in lines
            if prev_bottom <= ln.top and ln.bottom <= cb[1] - 2 and (ln.x1 - ln.x0) > 0.6 * (cb[2] - cb[0])
        ]
        top = max([ln.bottom for ln in body], default=prev_bottom) + 2
        bottom = cb[1] - 2
        x0, x1 = cb[0], cb[2]
        if bottom - top < MIN_FIGURE_PT:
            return None
    w, h = page.get_size()
    scale = render_dpi / 72
    area_pt = max(1.0, (x1 - x0) * (bottom - top))
    if area_pt * scale * scale > max_pixels:  # a huge page region: render it coarser instead of allocating it
        scale = math.sqrt(max_pixels / area_pt)
    bitmap = page.render(scale=scale, crop=(max(0, x0), max(0, h - bottom), max(0, w - x1), max(0, top)))
    pil = bitmap.to_pil().convert("RGB")
    if pil.convert("L").getextrema()[0] > 235:  # nothing drawn there (a page margin)
        return None
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return PdfFigure(pno, number, caption, (x0, top, x1, bottom), buf.getvalue(), "rendered")


def read_pdf(
    path: Path | str, data: bytes | None = None, *, name: str | None = None, settings: Settings | None = None
) -> Iterator[FigureItem]:
    """Figure items of one PDF (see the module docstring), yielded page by page as they are read
    (:func:`iter_pdf_figures`); ``list()`` it to read the whole PDF before using any (an error then leaves nothing)."""
    path = Path(path)
    name = name or path.name
    if data is None:
        data = path.read_bytes()
    content = PdfContent(doc={})
    pdf_sha = sha256_bytes(data)
    for k, fig in enumerate(iter_pdf_figures(data, name, content, settings=settings)):
        label = f"Fig. {fig.number}" if fig.number else f"image {k + 1}"
        yield FigureItem(
            data=fig.data,
            name=f"{name}#p{fig.page + 1}-{label.replace(' ', '').replace('.', '')}",
            caption=fig.caption,
            doc=dict(content.doc),
            figure_id=f"{content.doc.get('doi') or pdf_sha[:16]}/{label}",
            source="pdf",
            provenance={
                "file": name,
                "pdf_sha256": pdf_sha,
                "page": fig.page + 1,
                "bbox_pt": [round(v, 1) for v in fig.bbox_pt],
                "extracted": fig.how,
            },
        )
