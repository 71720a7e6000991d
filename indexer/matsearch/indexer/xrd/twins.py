"""The library's twin table: for every ``xrd`` point, the indexed phases whose simulated patterns are near-identical
to its own (isostructural twins such as Si / AlP, LaB6 / CaB6, Cu / c-BN), computed over the whole collection at
build time and stored in each point's payload (``twin_group``; not part of its ``build_key``).

The similarity is the search's own (``encoders.xrd_sticks.profile_similarity``, which
``search.xrd_phase.pattern_similarity`` compares with: the best cosine of √intensity stick profiles on a ln d axis
over a common shift of ±3 % in d, what the strain refinement can absorb). All pairs of a 5,000-phase library would
be 25 M exact correlations, so a coarse pass first (profiles summed over ``COARSE`` bins and smoothed, shifts in
coarse steps, one matrix product per block of rows) keeps the pairs that could reach ``TABLE_MIN``, and only those
are correlated exactly. A pattern cannot tell a phase from its twins, so the search treats them as one
group (docs/xrd.md, session 10): they do not lower each other's confidence, and a hit with twins is reported as one
of an isostructural group.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from matsearch.encoders.xrd_sticks import TWIN_MAX_SHIFT, stick_profile, strongest_reflections
from matsearch.store.base import Store, all_payloads

COLLECTION = "xrd"
TABLE_MIN = 0.85  # pairs at least this similar are stored (the search chooses its own group line above it)
TABLE_MAX = 40  # twins stored per phase (most similar first)
COARSE = 10  # profile bins per coarse bin (1 % in d)
COARSE_MIN = 0.70  # coarse similarity a pair needs to be correlated exactly
BLOCK = 256
PAYLOAD_KEY = "twin_group"
TABLE_VERSION = 1


@dataclass
class TwinReport:
    points: int = 0
    pairs_checked: int = 0
    pairs: int = 0
    updated: int = 0
    seconds: float = 0.0
    incremental: bool = False


def _coarse(profiles: np.ndarray) -> np.ndarray:
    n, length = profiles.shape
    nc = length // COARSE + 1
    padded = np.zeros((n, nc * COARSE), np.float32)
    padded[:, :length] = profiles
    c = padded.reshape(n, nc, COARSE).sum(axis=2)
    c = c + 0.5 * (np.pad(c, ((0, 0), (1, 0)))[:, :-1] + np.pad(c, ((0, 0), (0, 1)))[:, 1:])  # shifts across edges
    norm = np.linalg.norm(c, axis=1, keepdims=True)
    return np.asarray(c / np.maximum(norm, 1e-12), dtype=np.float32)


def _shifted(c: np.ndarray, k: int) -> np.ndarray:
    if k == 0:
        return c
    out = np.zeros_like(c)
    if k > 0:
        out[:, k:] = c[:, :-k]
    else:
        out[:, :k] = c[:, -k:]
    return out


def candidate_pairs(profiles: np.ndarray, min_sim: float = COARSE_MIN) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) with i < j whose coarse profiles reach ``min_sim`` at some shift within ±3 % in d."""
    c = _coarse(profiles)
    steps = int(np.ceil(TWIN_MAX_SHIFT / COARSE))
    shifted = [_shifted(c, k) for k in range(-steps, steps + 1)]
    rows_i: list[np.ndarray] = []
    rows_j: list[np.ndarray] = []
    n = c.shape[0]
    for start in range(0, n, BLOCK):
        stop = min(start + BLOCK, n)
        best = np.zeros((stop - start, n), np.float32)
        for s in shifted:
            np.maximum(best, s[start:stop] @ c.T, out=best)
        ii, jj = np.nonzero(best >= min_sim)
        ii = ii + start
        keep = jj > ii
        rows_i.append(ii[keep])
        rows_j.append(jj[keep])
    return (np.concatenate(rows_i) if rows_i else np.zeros(0, int)), (
        np.concatenate(rows_j) if rows_j else np.zeros(0, int)
    )


def candidate_pairs_of(profiles: np.ndarray, rows: np.ndarray, min_sim: float = COARSE_MIN) -> tuple[np.ndarray, ...]:
    """``candidate_pairs`` restricted to the pairs that involve one of ``rows`` (i < j as there): the coarse
    profiles are normalised row by row, so each pair's coarse similarity is the one the whole pass computes."""
    c = _coarse(profiles)
    steps = int(np.ceil(TWIN_MAX_SHIFT / COARSE))
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 0:
        return np.zeros(0, int), np.zeros(0, int)
    best = np.zeros((rows.size, c.shape[0]), np.float32)
    for k in range(-steps, steps + 1):
        # row r shifted by k against every row, and every row shifted by k against r: both orders of a pair
        np.maximum(best, _shifted(c[rows], k) @ c.T, out=best)
        np.maximum(best, (_shifted(c, k) @ c[rows].T).T, out=best)
    ii, jj = np.nonzero(best >= min_sim)
    a, b = rows[ii], jj
    keep = a != b
    a, b = a[keep], b[keep]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    pairs = np.unique(np.stack([lo, hi], axis=1), axis=0) if lo.size else np.zeros((0, 2), int)
    return pairs[:, 0], pairs[:, 1]


def _exact(
    ids: list[str], profiles: np.ndarray, ii: np.ndarray, jj: np.ndarray, min_sim: float
) -> list[tuple[str, str, float]]:
    padded = np.pad(profiles, ((0, 0), (TWIN_MAX_SHIFT, TWIN_MAX_SHIFT)))
    out = []
    for a, b in zip(ii.tolist(), jj.tolist(), strict=True):
        sim = float(np.correlate(padded[a], profiles[b], "valid").max())
        if sim >= min_sim:
            out.append((ids[a], ids[b], sim))
    return out


def _profiles(payloads: dict[str, dict[str, Any]], ids: list[str]) -> np.ndarray:
    return np.stack([stick_profile(*strongest_reflections(payloads[i])[:2]) for i in ids])


def twin_table(
    payloads: dict[str, dict[str, Any]], min_sim: float = TABLE_MIN
) -> tuple[dict[str, list[tuple[str, float]]], int]:
    """Per point id, its near-identical library patterns ``[(point id, similarity), ...]`` (≥ ``min_sim``, most
    similar first, at most ``TABLE_MAX``); and how many pairs were correlated exactly."""
    ids = list(payloads)
    if not ids:
        return {}, 0
    profiles = _profiles(payloads, ids)
    ii, jj = candidate_pairs(profiles)
    table: dict[str, list[tuple[str, float]]] = {i: [] for i in ids}
    _add_pairs(table, _exact(ids, profiles, ii, jj, min_sim))
    return table, int(ii.size)


def _add_pairs(table: dict[str, list[tuple[str, float]]], pairs: Iterable[tuple[str, str, float]]) -> None:
    """Enter each twin pair in both points' lists, then keep each list's ``TABLE_MAX`` most similar."""
    for a, b, sim in pairs:
        table[a].append((b, sim))
        table[b].append((a, sim))
    for k, v in table.items():
        table[k] = sorted(v, key=lambda t: -t[1])[:TABLE_MAX]


def _stored(payload: dict[str, Any]) -> list[tuple[str, float]] | None:
    """A point's stored twin list, None when it has none of this table's version and line."""
    tg = payload.get(PAYLOAD_KEY)
    if not isinstance(tg, dict) or tg.get("version") != TABLE_VERSION or tg.get("min") != TABLE_MIN:
        return None
    return [(str(t[0]), float(t[4])) for t in tg.get("twins", [])]


def twin_table_added(
    payloads: dict[str, dict[str, Any]], added: set[str], min_sim: float = TABLE_MIN
) -> tuple[dict[str, list[tuple[str, float]]], int] | None:
    """The twin table after the points ``added`` joined a collection whose other points carry an up-to-date table
    (``twin_group``): only the pairs that involve an added point are searched and correlated, and the others'
    stored lists are merged with them — the same table as ``twin_table`` over everything (a stored list holds its
    TABLE_MAX best, and a pair of two old points cannot change). None when some old point has no current table
    (then the whole table must be computed)."""
    ids = list(payloads)
    if 2 * len(added) > len(ids):
        return None  # mostly new: the blocked whole pass is cheaper
    old: dict[str, list[tuple[str, float]]] = {}
    for pid in ids:
        if pid in added:
            continue
        stored = _stored(payloads[pid])
        if stored is None:
            return None
        # entries pointing at a re-added or vanished point are recomputed below / dropped
        old[pid] = [(t, s) for t, s in stored if t in payloads and t not in added]
    if not added:
        return old, 0
    profiles = _profiles(payloads, ids)
    rows = np.array([k for k, pid in enumerate(ids) if pid in added], dtype=np.int64)
    ii, jj = candidate_pairs_of(profiles, rows)
    table: dict[str, list[tuple[str, float]]] = {pid: list(old.get(pid, [])) for pid in ids}
    _add_pairs(table, _exact(ids, profiles, ii, jj, min_sim))
    return table, int(ii.size)


def _entry(pid: str, sim: float, payloads: dict[str, dict[str, Any]]) -> list[Any]:
    pl = payloads.get(pid, {})
    return [pid, str(pl.get("structure_id", "")), str(pl.get("formula", "")), str(pl.get("spacegroup_symbol", "")),
            round(sim, 4)]  # fmt: skip


def update_twins(
    store: Store, progress: Callable[[str], None] | None = None, added: set[str] | None = None
) -> TwinReport:
    """Bring the twin table of the ``xrd`` collection up to date and write each point's ``twin_group`` payload where
    it changed (a phase added or removed changes its twins' entries too). ``added``: the ids written since the table
    was last brought up to date, nothing removed (``matsearch ingest cif``): only their pairs are searched
    (``twin_table_added``; session 11) when every other point carries a current table, else everything."""
    t0 = time.perf_counter()
    report = TwinReport()
    if not store.has_collection(COLLECTION):
        return report
    payloads = all_payloads(store, COLLECTION)
    inc = twin_table_added(payloads, added) if added is not None else None
    if inc is not None:
        table, report.pairs_checked = inc
        report.incremental = True
    else:
        table, report.pairs_checked = twin_table(payloads)
    report.points = len(payloads)
    report.pairs = sum(len(v) for v in table.values()) // 2
    empty: list[str] = []
    for pid, twins in table.items():
        value = {"version": TABLE_VERSION, "min": TABLE_MIN, "twins": [_entry(t, s, payloads) for t, s in twins]}
        if payloads[pid].get(PAYLOAD_KEY) == value:
            continue
        report.updated += 1
        if not twins:
            empty.append(pid)
        else:
            store.set_payload(COLLECTION, [pid], {PAYLOAD_KEY: value})
    for start in range(0, len(empty), 1000):
        store.set_payload(
            COLLECTION, empty[start : start + 1000], {PAYLOAD_KEY: {"version": TABLE_VERSION, "min": TABLE_MIN,
                                                                    "twins": []}}
        )  # fmt: skip
    report.seconds = round(time.perf_counter() - t0, 2)
    if progress is not None:
        progress(
            f"xrd twin table{' (added points only)' if report.incremental else ''}: {report.points} phases, "
            f"{report.pairs_checked} pairs correlated, {report.pairs} twin pairs ≥ {TABLE_MIN}, {report.updated} "
            f"payloads written, {report.seconds} s"
        )
    return report
