"""Hits grouped by material: "which material looks like my sketch?" answered with materials, not only panels.

Each panel carries the materials/formulas its caption names (``payload["materials"]``, from
``indexer.figures.keywords``; the panel's own sub-caption first, the figure's caption otherwise). A panel that names
several materials counts for each. A group's score is its best panel's score; groups are ordered by that score,
then by how many of the candidates name the material. Each group keeps its best ``per_group`` panels and the papers
(DOI / title / journal / year) those panels come from, so a chemist sees "Ag2MnO4 — 3 panels, 1 paper".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matsearch.core.errors import BadInput
from matsearch.core.filters import Filter
from matsearch.core.schemas import Hit, MaterialGroup, PaperRef
from matsearch.core.settings import Settings
from matsearch.search.common import check_limit, require_collection, to_hits
from matsearch.store import Store
from matsearch.store.base import VectorQuery

PER_GROUP = 3
GROUP_DEPTH = 200  # candidates the groups are built from (ours, not the user-facing limit)


def _papers(hits: Sequence[Hit]) -> list[PaperRef]:
    seen: dict[str, PaperRef] = {}
    for h in hits:
        p = h.payload
        docs: list[dict[str, Any]] = [d for d in (p.get("documents") or []) if isinstance(d, dict)] or [p]
        for d in docs:
            key = str(d.get("doi") or d.get("title") or d.get("source_file") or "").lower()
            if key and key not in seen:
                year = str(d.get("year") or "")
                seen[key] = PaperRef(
                    doi=str(d["doi"]) if d.get("doi") else None,
                    title=str(d["title"]) if d.get("title") else None,
                    journal=str(d["journal"]) if d.get("journal") else None,
                    year=int(year) if year.isdigit() else None,
                )
    return list(seen.values())


def group_by_material(hits: Sequence[Hit], limit: int, per_group: int = PER_GROUP) -> tuple[list[MaterialGroup], int]:
    """(groups best first, at most ``limit``; number of candidates that name no material)."""
    members: dict[str, list[Hit]] = {}
    names: dict[str, str] = {}
    ungrouped = 0
    for h in hits:
        mats = [str(m) for m in (h.payload.get("materials") or []) if str(m).strip()]
        if not mats:
            ungrouped += 1
            continue
        for m in dict.fromkeys(mats):
            key = m.lower()
            names.setdefault(key, m)
            members.setdefault(key, []).append(h)
    groups = []
    for key, hs in members.items():
        best = sorted(hs, key=lambda h: -h.score)
        groups.append(
            MaterialGroup(
                material=names[key],
                score=round(float(best[0].score), 6),
                panels=len(hs),
                hits=best[:per_group],
                papers=_papers(best),
            )
        )
    groups.sort(key=lambda g: (-g.score, -g.panels, g.material))
    return groups[:limit], ungrouped


GROUP_BY = ("material",)


def search_sketch_grouped(
    store: Store,
    settings: Settings,
    data: bytes,
    *,
    group_by: str,
    filename: str = "sketch",
    collection: str = "figures",
    flt: Filter | None = None,
    limit: int = 10,
    score_threshold: float | None = None,
) -> tuple[list[Hit], list[MaterialGroup], int]:
    """Sketch search answered with materials: (best panels, up to ``limit`` material groups, ungrouped count).

    The groups are built from the sketch's top ``GROUP_DEPTH`` panels, so a material whose panels rank 11th to 30th
    still shows up."""
    from matsearch.search.figures import sketch_vector

    if group_by not in GROUP_BY:
        raise BadInput(f"group_by must be one of {list(GROUP_BY)}, got {group_by!r}")
    check_limit(settings, limit)
    require_collection(store, collection)
    vector = sketch_vector(settings, data, filename)
    depth = max(GROUP_DEPTH, limit)
    q = VectorQuery(vector=vector, using="sketch", filter=flt, limit=depth, score_threshold=score_threshold)
    hits = to_hits(collection, store.query(collection, q))
    groups, ungrouped = group_by_material(hits, limit)
    return hits[:limit], groups, ungrouped
