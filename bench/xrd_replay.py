"""Replay the XRD search's abstain decision offline on calibration dumps (session 11).

    .venv/bin/python -m bench.xrd_replay DUMP[:GROUP] ...      # DUMP: a ``bench.eval_xrd --dump-features`` file

``bench.eval_xrd --calib-only --threshold 0 … --dump-features D`` (and ``--calib-fold k`` for folds of further
indexed structures held out of their own index) keeps every listed hit of every calibration query with the inputs
of the search's accept rule (its whole-pattern features, its own-peak terms ``fom.own`` when it was judged beside
other phases, ``fom.tentative``, ``fom.residual_score``, ``fom.margin``). This script replays
``spectra.accept_phases`` — the very function the search calls — with the final confidence model
(``xrd_phase.FINAL_*``) moved by a bias shift, and reports, per calibration group (a dump and draw), the in-library
queries left without a hit (false abstain, as the test counts it: wrong top hits under the threshold too), wrong top
hits accepted (false accepts of in-library queries) and absent queries abstained (1 − false accepts of absent
phases). The threshold rule, fixed before any fit: the most negative shift (the most abstaining operating point)
that leaves ≤ ``--budget`` of the in-library queries without a hit on every group. Until session 10 the calibration
judged the top hit's whole-pattern confidence alone; the search also accepts a phase on its own + the unexplained
peaks beside further tentative phases, which let 4–7 points more absent phases through than the calibration saw.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from matsearch.search import spectra
from matsearch.search import xrd_phase as xp


def _sig(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))


@dataclass
class Phase:
    """One tentative phase of a replayed query (a hit with a phase number in a threshold-0 dump)."""

    whole: np.ndarray  # the confidence model's features on the whole pattern
    own: np.ndarray | None  # ... on its own + the unexplained peaks (beside other phases)
    margin: float
    tentative: int
    residual_score: float
    seen_own: float
    right: bool


@dataclass
class Query:
    group: str
    absent: bool
    elements: bool
    phases: list[Phase]


def _phase(h: dict[str, Any], truth: str) -> Phase:
    f = h.get("fom") or {}
    own = h.get("own_features")
    return Phase(
        whole=np.asarray(h["features"], dtype=np.float64),
        own=None if own is None else np.asarray(own, dtype=np.float64),
        margin=min(float(f.get("margin", xp.MARGIN_CAP)), xp.MARGIN_CAP),
        tentative=int(f.get("tentative", 0 if h.get("phase") == 1 else 1)),
        residual_score=float(f.get("residual_score", 0.0)),
        seen_own=float((f.get("own") or {}).get("seen_raw", 0.0)),
        right=h.get("structure_id") == truth,
    )


def load(specs: list[str]) -> list[Query]:
    out: list[Query] = []
    for spec in specs:
        path, _, name = spec.partition(":")
        d = json.loads(Path(path).read_text())
        group = name or Path(path).name
        for kind in ("in", "out", "elements"):
            for r in d.get(kind, []):
                phases = sorted(
                    (_phase(h, r["truth"]) for h in r["hits"] if h.get("phase") is not None), key=lambda p: p.tentative
                )
                draw = int(r.get("draw", 0) or 0)
                absent = kind == "out" or (kind == "elements" and not r.get("in_library"))
                out.append(Query(f"{group}/d{draw}" if draw else group, absent, kind == "elements", phases))
    return out


def decide(q: Query, shift: float, threshold: float = spectra.DEFAULT_THRESHOLD) -> list[tuple[int, float]]:
    """The phases ``spectra.accept_phases`` keeps for ``q`` with the final model's bias moved by ``shift``."""
    if not q.phases:
        return []
    el = xp.FINAL_ELEMENTS_PRIOR_LOGIT if q.elements else 0.0

    def final(x: np.ndarray, margin: float) -> float:
        return _sig(float(np.r_[x, margin] @ xp.FINAL_COEF) + xp.FINAL_BIAS + shift + el)

    def mix(x: np.ndarray) -> float:
        return float(xp.probability(x[None, :], q.elements, further=True)[0])

    whole = [final(p.whole, p.margin) for p in q.phases]
    conf = [max(w, final(p.own, p.margin)) if p.own is not None else w for w, p in zip(whole, q.phases, strict=True)]
    first = q.phases[0]
    first_mix = mix(first.own) if len(q.phases) > 1 and first.own is not None else None
    mixes = [mix(p.own) if (p.own is not None and p.tentative > 0) else 0.0 for p in q.phases]
    return spectra.accept_phases(
        conf,
        whole[0],
        first_mix,
        mixes,
        [p.residual_score for p in q.phases],
        [p.seen_own for p in q.phases],
        threshold,
    )


def rates(qs: list[Query], shift: float) -> dict[str, float]:
    ins = [q for q in qs if not q.absent and not q.elements]
    outs = [q for q in qs if q.absent and not q.elements]
    outs_el = [q for q in qs if q.absent and q.elements]
    kept_in = [decide(q, shift) for q in ins]

    def top_right(q: Query, kept: list[tuple[int, float]]) -> bool:
        return q.phases[max(kept, key=lambda k: k[1])[0]].right

    def mean(v: list[bool]) -> float:
        return float(np.mean(v)) if v else float("nan")

    return {
        "n_in": len(ins),
        "n_absent": len(outs),
        "false_abstain": mean([not k for k in kept_in]),
        "wrong_accepted": mean([bool(k) and not top_right(q, k) for q, k in zip(ins, kept_in, strict=True)]),
        "absent_abstained": mean([not decide(q, shift) for q in outs]),
        "absent_abstained_elements": mean([not decide(q, shift) for q in outs_el]),
    }


def rule_shift(qs: list[Query], budget: float, shifts: np.ndarray) -> float:
    """The most negative shift with ≤ ``budget`` in-library queries without a hit on every group."""
    groups = sorted({q.group for q in qs})
    for s in np.sort(shifts):
        if all(rates([q for q in qs if q.group == g], float(s))["false_abstain"] <= budget for g in groups):
            return float(s)
    return float(np.max(shifts))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dumps", nargs="+", help="DUMP[:GROUP] files written by bench.eval_xrd --dump-features")
    ap.add_argument("--budget", type=float, default=0.03)
    ap.add_argument("--shifts", default="-1.5:1.5:0.05", help="lo:hi:step of the bias shifts tried (logits)")
    ap.add_argument("--credible-phase", action="store_true", help="replay spectra.OWN_PEAKS_NEED_CREDIBLE_PHASE=True")
    args = ap.parse_args(argv)
    spectra.OWN_PEAKS_NEED_CREDIBLE_PHASE = bool(args.credible_phase)
    lo, hi, step = (float(x) for x in args.shifts.split(":"))
    shifts = np.round(np.arange(lo, hi + step / 2, step), 4)
    qs = load(args.dumps)
    # the replay is relative to the shipped model: undo its own rule shift
    base = -float(getattr(xp, "_RULE_SHIFT", 0.0))
    shift = rule_shift(qs, args.budget, shifts + base)
    print(f"rule shift (relative to the model before session 11's shift): {shift - base:+.2f} logits")
    for g in sorted({q.group for q in qs}) + ["pooled"]:
        sel = qs if g == "pooled" else [q for q in qs if q.group == g]
        print(f"{g:<12} {json.dumps({k: round(v, 3) for k, v in rates(sel, shift).items()})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
