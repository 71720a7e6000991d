"""EXSCLAIM! output (``exsclaim.json``) imported as-is: its panels (master images), labels, captions, types and scale
bars become our panels, with provenance, so results users already have are searchable without re-running anything.

The JSON maps figure names to figure objects (``title``, ``article_url``, ``article_name`` (DOI), ``full_caption``,
``license``, ``open``, ``figure_path``, ``master_images``). Each master image has ``geometry`` (four corner points),
``classification``, optional ``subfigure_label`` {``text``, ``geometry``}, ``caption``, ``keywords``,
``scale_bars`` [{``label`` {``text``, ``nm``, ...}, ``length``, ``confidence``, ``geometry``}], ``nm_width``.
From a local file (the CLI), figure images are looked up at ``figure_path`` (absolute or relative to the JSON),
then ``figures/<name>`` beside the JSON, then in ``images_dir``. From uploaded bytes (the HTTP API), nothing is
looked up on disk: an image is found only among the uploaded files, by the figure's key or the last component of
its ``figure_path``, both normalised (``matsearch.core.names``) — a ``figure_path`` of ``/etc/passwd`` or
``../../x.png`` can only ever name an uploaded file called ``passwd`` or ``x.png``. Figures whose image is missing
are reported and skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from matsearch.core.errors import BadInput, NotFound
from matsearch.core.names import plain_name
from matsearch.indexer.items import FigureItem, PanelDraft

_TYPES = {
    "microscopy": "microscopy",
    "diffraction": "diffraction",
    "graph": "graph",
    "illustration": "illustration",
    "photo": "photo",
    "unclear": "other",
    "parent": "other",
}
_DOI_RE = re.compile(r"(10\.\d{4,9}/[^\s\"<>]+)")


def _box(geometry: Any) -> tuple[int, int, int, int] | None:
    try:
        xs = [float(p["x"]) for p in geometry]
        ys = [float(p["y"]) for p in geometry]
    except (TypeError, KeyError, ValueError):
        return None
    if not xs:
        return None
    return (int(min(xs)), int(min(ys)), int(round(max(xs))), int(round(max(ys))))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        value = " ".join(str(v) for v in value if v)
    text = str(value).strip()
    return text or None


def _scale(master: dict[str, Any]) -> dict[str, Any] | None:
    bars = master.get("scale_bars") or []
    best: dict[str, Any] | None = None
    for bar in bars:
        label = bar.get("label") or {}
        nm = label.get("nm")
        length = bar.get("length")
        box = _box(bar.get("geometry"))
        if length is None and box is not None:
            length = box[2] - box[0]
        reading = {
            "bbox": list(box) if box else None,
            "length_px": length,
            "text": label.get("text"),
            "value": None,
            "unit": "nm" if nm is not None else None,
            "nm_per_px": None,
            "source": "exsclaim",
            "confidence": float(bar.get("confidence") or 0.0),
        }
        if nm is not None:
            reading["value"] = float(nm)
            if length:
                reading["nm_per_px"] = float(nm) / float(length)
        if best is None or (reading["nm_per_px"] is not None and best["nm_per_px"] is None):
            best = reading
    if best is None and master.get("nm_width") and master.get("width"):
        try:
            nm_per_px = float(master["nm_width"]) / float(master["width"])
        except (TypeError, ValueError, ZeroDivisionError):
            return None
        best = {"nm_per_px": nm_per_px, "source": "exsclaim", "confidence": 0.5, "notes": ["from nm_width"]}
    return best


def _find_image(entry: dict[str, Any], name: str, base: Path, images_dir: Path | None) -> Path | None:
    candidates = []
    if entry.get("figure_path"):
        p = Path(str(entry["figure_path"]))
        candidates += [p, base / p, base / "figures" / p.name]
    candidates.append(base / "figures" / name)
    candidates.append(base / name)
    if images_dir is not None:
        candidates.append(images_dir / name)
        if entry.get("figure_path"):
            candidates.append(images_dir / Path(str(entry["figure_path"])).name)
    return next((c for c in candidates if c.is_file()), None)


def _find_upload(entry: dict[str, Any], name: str, uploads: Mapping[str, bytes]) -> bytes | None:
    candidates = [plain_name(name)]
    if entry.get("figure_path"):
        candidates.append(plain_name(str(entry["figure_path"])))
    for candidate in candidates:
        if candidate is not None and candidate in uploads:
            return uploads[candidate]
    return None


def parse_exsclaim(raw: bytes, json_name: str) -> dict[str, Any]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BadInput(f"{json_name} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise BadInput(f"{json_name} is not an EXSCLAIM results file (expected an object of figure objects)")
    return data


def load_exsclaim(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise NotFound(f"file not found: {path}")
    return parse_exsclaim(path.read_bytes(), path.name)


def read_exsclaim(
    path: Path | str, images_dir: Path | None = None, *, skipped: list[str] | None = None
) -> Iterator[FigureItem]:
    """Figure items (with their panels) from a local EXSCLAIM JSON; images from the local disk (CLI)."""
    path = Path(path)
    data = load_exsclaim(path)

    def find(entry: dict[str, Any], name: str) -> bytes | None:
        found = _find_image(entry, name, path.parent, images_dir)
        return found.read_bytes() if found is not None else None

    return _items(data, path.name, find, skipped, where="beside the JSON")


def read_exsclaim_uploads(
    raw: bytes, json_name: str, uploads: Mapping[str, bytes], *, skipped: list[str] | None = None
) -> Iterator[FigureItem]:
    """Figure items from uploaded bytes (HTTP): images only among ``uploads`` (keys: normalised file names)."""
    data = parse_exsclaim(raw, json_name)
    return _items(data, json_name, lambda entry, name: _find_upload(entry, name, uploads), skipped, "among the uploads")


def _items(
    data: dict[str, Any],
    json_name: str,
    find: Any,
    skipped: list[str] | None,
    where: str,
) -> Iterator[FigureItem]:
    found = 0
    for name, entry in data.items():
        image = find(entry, name)
        if image is None:
            if skipped is not None:
                skipped.append(f"{name}: figure image not found")
            continue
        found += 1
        doi = None
        for key in ("article_name", "doi", "article_url"):
            m = _DOI_RE.search(str(entry.get(key) or ""))
            if m:
                doi = m.group(1)
                break
        doc = {
            "title": entry.get("title") or entry.get("article title"),
            "doi": doi,
            "url": entry.get("article_url") or entry.get("article url"),
            "journal": entry.get("journal"),
            "licence": entry.get("license") or entry.get("licence"),
            "authors": entry.get("authors"),
        }
        panels: list[PanelDraft] = []
        for k, master in enumerate(entry.get("master_images") or []):
            box = _box(master.get("geometry"))
            if box is None:
                continue
            label_json = master.get("subfigure_label") or {}
            raw_label = _text(label_json.get("text"))
            label = raw_label.strip("()[]. ").lower() if raw_label else None
            cls = str(master.get("classification") or "").strip().lower()
            panels.append(
                PanelDraft(
                    bbox=box,
                    label=label or None,
                    caption=_text(master.get("caption")),
                    type=_TYPES.get(cls),
                    type_confidence=master.get("confidence") if _TYPES.get(cls) else None,
                    scale=_scale(master),
                    extra={
                        "exsclaim": {
                            "index": k,
                            "classification": master.get("classification"),
                            "label": raw_label,
                            "keywords": master.get("keywords"),
                            "general": master.get("general"),
                            "inset_images": len(master.get("inset_images") or []),
                        }
                    },
                )
            )
        yield FigureItem(
            data=image,
            name=name,
            caption=_text(entry.get("full_caption") or entry.get("full caption")),
            doc={k: v for k, v in doc.items() if v not in (None, "")},
            figure_id=str(entry.get("figure_name") or name),
            source="exsclaim",
            provenance={
                "exsclaim_json": json_name,
                "figure_name": name,
                "image_url": entry.get("image_url") or entry.get("url"),
                "open": entry.get("open"),
                "caption_delimiter": entry.get("caption_delimiter"),
            },
            panels=panels or None,
        )
    if found == 0:
        raise BadInput(f"{json_name}: none of its {len(data)} figure images was found (looked {where})")
