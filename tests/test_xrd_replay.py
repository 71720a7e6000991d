"""The offline replay of the XRD abstain decision (``bench.xrd_replay``, session 11)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bench import xrd_replay
from matsearch.search import xrd_phase as xp


def _hit(sid: str, phase: int, features: list[float], own: list[float] | None, tentative: int) -> dict[str, object]:
    fom: dict[str, object] = {"margin": 8.0, "tentative": tentative}
    if own is not None:
        fom["own"] = {"seen_raw": 0.5}
    return {"structure_id": sid, "phase": phase, "features": features, "own_features": own, "fom": fom}


def test_replay_sees_a_phase_accepted_on_its_own_peaks(tmp_path: Path) -> None:
    n = len(xp.CONF_FEATURES)
    low = [0.0] * n
    good = [0.0] * n
    good[xp.CONF_FEATURES.index("explained")] = 1.0
    good[xp.CONF_FEATURES.index("log_evidence")] = 4.0
    # an absent phase's look-alike: poor on the whole pattern, good on its own + the unexplained peaks beside a
    # second (not credible) tentative phase — the search accepts it, a top-hit-only calibration would not
    out = {"truth": "absent", "hits": [_hit("look", 1, low, good, 0), _hit("other", 2, low, low, 1)]}
    inside = {"truth": "a", "hits": [_hit("a", 1, good, None, 0)]}
    dump = tmp_path / "d.json"
    dump.write_text(json.dumps({"in": [inside], "out": [out]}))
    qs = xrd_replay.load([f"{dump}:g"])
    r = xrd_replay.rates(qs, 0.0)
    assert r["false_abstain"] == 0.0 and r["wrong_accepted"] == 0.0
    assert r["absent_abstained"] == 0.0  # accepted through its own-peak confidence
    whole_only = float(xp.final_probability(np.asarray(low)[None, :], np.array([8.0]))[0])
    assert whole_only < 0.271  # ... which the whole-pattern confidence alone would have rejected
    # the threshold rule: the most abstaining shift that keeps the in-library query answered
    s = xrd_replay.rule_shift(qs, 0.03, np.arange(-3.0, 3.01, 0.5))
    assert xrd_replay.rates(qs, s)["false_abstain"] == 0.0
    assert xrd_replay.rates(qs, s - 0.5)["false_abstain"] > 0.0 or s == -3.0
