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
        rows.append(f"{rank:>3}  {h['score']:.3f}  {source[:40]:<40} {label!s:<6} {str(what)[:70]}")
    return "\n".join(rows)


def progress_enabled() -> bool:
    return sys.stderr.isatty()


def emit_hits(hits: list[Any], as_json: bool) -> None:
    """``{"hits": [...]}`` as JSON, or a short table."""
    rows = [h if isinstance(h, dict) else h.model_dump(mode="json") for h in hits]
    emit({"hits": rows}, as_json, hits_table(rows))
