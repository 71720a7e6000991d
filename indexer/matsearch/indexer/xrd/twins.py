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
from collections.abc import Callable
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


def twin_table(
    payloads: dict[str, dict[str, Any]], min_sim: float = TABLE_MIN
) -> tuple[dict[str, list[tuple[str, float]]], int]:
    """Per point id, its near-identical library patterns ``[(point id, similarity), ...]`` (≥ ``min_sim``, most
    similar first, at most ``TABLE_MAX``); and how many pairs were correlated exactly."""
    ids = list(payloads)
    if not ids:
        return {}, 0
    profiles = np.stack([stick_profile(*strongest_reflections(payloads[i])[:2]) for i in ids])
    ii, jj = candidate_pairs(profiles)
    table: dict[str, list[tuple[str, float]]] = {i: [] for i in ids}
    padded = np.pad(profiles, ((0, 0), (TWIN_MAX_SHIFT, TWIN_MAX_SHIFT)))
    for a, b in zip(ii.tolist(), jj.tolist(), strict=True):
        sim = float(np.correlate(padded[a], profiles[b], "valid").max())
        if sim >= min_sim:
            table[ids[a]].append((ids[b], sim))
            table[ids[b]].append((ids[a], sim))
    for k, v in table.items():
        table[k] = sorted(v, key=lambda t: -t[1])[:TABLE_MAX]
    return table, int(ii.size)


def _entry(pid: str, sim: float, payloads: dict[str, dict[str, Any]]) -> list[Any]:
    pl = payloads.get(pid, {})
    return [pid, str(pl.get("structure_id", "")), str(pl.get("formula", "")), str(pl.get("spacegroup_symbol", "")),
            round(sim, 4)]  # fmt: skip


def update_twins(store: Store, progress: Callable[[str], None] | None = None) -> TwinReport:
    """Recompute the twin table over every point of the ``xrd`` collection and write each point's
    ``twin_group`` payload where it changed (a phase added or removed changes its twins' entries too)."""
    t0 = time.perf_counter()
    report = TwinReport()
    if not store.has_collection(COLLECTION):
        return report
    payloads = all_payloads(store, COLLECTION)
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
            f"xrd twin table: {report.points} phases, {report.pairs_checked} pairs correlated, {report.pairs} twin "
            f"pairs ≥ {TABLE_MIN}, {report.updated} payloads written, {report.seconds} s"
        )
    return report
