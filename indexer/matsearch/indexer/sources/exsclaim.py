"""EXSCLAIM! output (``exsclaim.json``) imported as-is: its panels (master images), labels, captions, types and scale
bars become our panels, with provenance, so results users already have are searchable without re-running anything.

The JSON maps figure names to figure objects (``title``, ``article_url``, ``article_name`` (DOI), ``full_caption``,
``license``, ``open``, ``figure_path``, ``master_images``). Each master image has ``geometry`` (four corner points),
``classification``, optional ``subfigure_label`` {``text``, ``geometry``}, ``caption``, ``keywords``,
``scale_bars`` [{``label`` {``text``, ``nm``, ...}, ``length``, ``confidence``, ``geometry``}], ``nm_width``.
Figure images are looked up at ``figure_path`` (absolute or relative to the JSON), then ``figures/<name>`` beside
the JSON, then in ``images_dir``. Figures whose image is missing are reported and skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from matsearch.core.errors import BadInput, NotFound
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


def load_exsclaim(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise NotFound(f"file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"{path.name} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise BadInput(f"{path.name} is not an EXSCLAIM results file (expected an object of figure objects)")
    return data


def read_exsclaim(
    path: Path | str, images_dir: Path | None = None, *, skipped: list[str] | None = None
) -> Iterator[FigureItem]:
    """Figure items (with their panels) from an EXSCLAIM JSON; ``skipped`` collects figures without an image."""
    path = Path(path)
    data = load_exsclaim(path)
    found = 0
    for name, entry in data.items():
        image_path = _find_image(entry, name, path.parent, images_dir)
        if image_path is None:
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
            data=image_path.read_bytes(),
            name=name,
            caption=_text(entry.get("full_caption") or entry.get("full caption")),
            doc={k: v for k, v in doc.items() if v not in (None, "")},
            figure_id=str(entry.get("figure_name") or name),
            source="exsclaim",
            provenance={
                "exsclaim_json": str(path.resolve()),
                "figure_name": name,
                "image_url": entry.get("image_url") or entry.get("url"),
                "open": entry.get("open"),
                "caption_delimiter": entry.get("caption_delimiter"),
            },
            panels=panels or None,
        )
    if found == 0:
        raise BadInput(f"{path.name}: none of its {len(data)} figure images was found (looked beside the JSON)")
