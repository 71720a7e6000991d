"""Printing results: JSON for machines (``--json``), a short table for people."""

from __future__ import annotations

import json
import sys
from typing import Any

import click


def emit(data: Any, as_json: bool, human: str | None = None) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=1, ensure_ascii=False, default=str))
    else:
        click.echo(human if human is not None else json.dumps(data, indent=1, ensure_ascii=False, default=str))


def hits_table(hits: list[dict[str, Any]]) -> str:
    if not hits:
        return "no confident match"
    rows = []
    for rank, h in enumerate(hits, 1):
        p = h.get("payload", {})
        what = p.get("formula") or p.get("caption") or p.get("figure_caption") or p.get("source_file") or ""
        label = p.get("panel_label") or p.get("spacegroup_symbol") or ""
        source = p.get("source_file") or p.get("structure_id") or p.get("doi") or ""
        zone = f" {p['zone_axis']}" if p.get("zone_axis") else ""  # STEM: the matched zone axis
        rows.append(f"{rank:>3}  {h['score']:.3f}  {source[:40]:<40} {label!s:<6} {str(what)[:70]}{zone}")
    if "pixel_size_source" in hits[0]:  # STEM: what was measured on the query, and from what pixel size
        lat = hits[0].get("payload", {}).get("measured_lattice") or {}
        frames = (hits[0].get("query_file") or {}).get("frames_used", "")
        rows.append(
            f"query: {hits[0].get('query_nm_per_px')} nm/px ({hits[0]['pixel_size_source']}); lattice "
            f"a={lat.get('a')} b={lat.get('b')} Å gamma={lat.get('gamma')}°" + (f"; {frames}" if frames else "")
        )
    return "\n".join(rows)


def progress_enabled() -> bool:
    return sys.stderr.isatty()


def emit_hits(hits: list[Any], as_json: bool) -> None:
    """``{"hits": [...]}`` as JSON, or a short table."""
    rows = [h if isinstance(h, dict) else h.model_dump(mode="json") for h in hits]
    emit({"hits": rows}, as_json, hits_table(rows))
