"""A folder of figure images, with captions and document fields in a JSON or CSV file beside them.

Accepted caption files (any ``*.json`` / ``*.csv`` in the folder):
- JSON list of objects with ``file`` (or ``image``/``filename``) and ``caption`` plus optional ``doi``, ``title``,
  ``journal``, ``year``, ``url``, ``licence``/``license``, ``figure_id``;
- JSON object mapping file name → caption string or such an object;
- CSV with a header row containing ``file`` (or ``image``/``filename``) and ``caption`` (other columns as above).
Images without an entry are ingested without a caption.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from matsearch.core.errors import BadInput, NotFound
from matsearch.indexer.items import FigureItem

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp"}
_FILE_KEYS = ("file", "image", "filename", "path")


def _normalise(entry: dict[str, Any]) -> dict[str, Any]:
    out = {str(k).strip().lower(): v for k, v in entry.items() if v not in (None, "")}
    if "license" in out and "licence" not in out:
        out["licence"] = out.pop("license")
    if "year" in out:
        try:
            out["year"] = int(str(out["year"]).strip()[:4])
        except ValueError:
            out.pop("year")
    return out


def _entries_from_json(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"{path.name} is not valid JSON: {exc}") from exc
    entries: dict[str, dict[str, Any]] = {}
    if isinstance(data, dict):
        for name, value in data.items():
            entries[Path(name).name] = _normalise(value if isinstance(value, dict) else {"caption": value})
    elif isinstance(data, list):
        for value in data:
            if isinstance(value, dict):
                key = next((value[k] for k in _FILE_KEYS if value.get(k)), None)
                if key:
                    entries[Path(str(key)).name] = _normalise(value)
    return entries


def _entries_from_csv(path: Path) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            for row in csv.DictReader(fh):
                entry = _normalise({k: v for k, v in row.items() if k})
                key = next((entry[k] for k in _FILE_KEYS if entry.get(k)), None)
                if key:
                    entries[Path(str(key)).name] = entry
    except (UnicodeDecodeError, csv.Error) as exc:
        raise BadInput(f"{path.name} is not a readable CSV file: {exc}") from exc
    return entries


def read_captions(folder: Path) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() == ".json":
            entries.update(_entries_from_json(path))
        elif path.suffix.lower() == ".csv":
            entries.update(_entries_from_csv(path))
    return entries


def list_images(folder: Path) -> list[Path]:
    if not folder.exists():
        raise NotFound(f"folder not found: {folder}")
    if not folder.is_dir():
        raise BadInput(f"not a folder: {folder}")
    images = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise BadInput(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    return images


def read_folder(folder: Path, *, source: str = "folder") -> Iterator[FigureItem]:
    folder = Path(folder)
    images = list_images(folder)
    captions = read_captions(folder)
    for path in images:
        entry = captions.get(path.name, {})
        yield FigureItem(
            data=path.read_bytes(),
            name=path.name,
            caption=entry.get("caption"),
            doc={k: v for k, v in entry.items() if k not in ("caption", "figure_id", *_FILE_KEYS)},
            figure_id=entry.get("figure_id"),
            source=source,
            provenance={"path": str(path.resolve())},
        )
