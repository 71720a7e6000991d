"""The session-9 real XRD patterns (bench/annotations/xrd_real9.json) are well-formed: the split follows the fixed
hash rule on the sample, every entry names its PyPI source with a checksum and licence, accept rules are formula +
space group, and the eval's "added to the library" rule turns an absent phase into a present one only when the
built library holds it. Fast, no network."""

from __future__ import annotations

import json

import pytest

from bench.eval_xrd_real import SPLITS, _kind, with_added_phases
from bench.fetch_xrd_realdata9 import ANNOTATIONS9, SPLITS9, local_path, split_of

DOC = json.loads(ANNOTATIONS9.read_text())
PATTERNS = DOC["patterns"]
OLD_IDS = {
    p["id"]
    for name in ("xrd_real.json", "xrd_real6.json")
    for p in json.loads((ANNOTATIONS9.parent / name).read_text())["patterns"]
}


def test_split_is_the_hash_rule_and_fixed_before_use() -> None:
    assert split_of("pdiffutils/MIN5273_Sample_1") == "heldout9"  # sha256("s9:...") starts with 0
    assert set(SPLITS9) <= set(SPLITS)
    assert "before any identification run" in DOC["split_fixed"]
    ids = [p["id"] for p in PATTERNS]
    assert len(ids) == len(set(ids)) and not set(ids) & OLD_IDS
    for p in PATTERNS:
        assert p["split"] == split_of(p["unit"]) == DOC["units"][p["unit"]], p["id"]


@pytest.mark.parametrize("entry", PATTERNS, ids=[p["id"] for p in PATTERNS])
def test_entry_schema(entry: dict) -> None:
    for key in ("id", "split", "unit", "source", "licence", "wavelength", "phases", "annotation", "added"):
        assert key in entry, key
    src = entry["source"]
    assert src["kind"] == "pypi" and "==" in src["package"] and src["licence"] and len(src["sha256"]) == 64
    assert local_path(entry).name == src["member"].rsplit("/", 1)[-1]
    rules = entry["accept"]
    assert entry.get("mixture") and len(rules) == len(entry["phases"]) - len(entry.get("absent_phases", []))
    for rule in rules:
        assert rule and all(isinstance(f, str) and isinstance(sg, int) and 1 <= sg <= 230 for f, sg in rule)


def test_an_absent_phase_counts_as_present_only_once_the_library_holds_it() -> None:
    absent = {"id": "x", "phases": [], "absent": "PbSO4 anglesite", "accept_added": [["PbSO4", 62]]}
    assert with_added_phases(absent, set()) == absent and _kind(absent) == "absent"
    now = with_added_phases(absent, {("PbSO4", 62)})
    assert now["accept"] == [["PbSO4", 62]] and now["check"] == "top5" and _kind(now) == "absent, added to the library"
    mix = {
        "id": "m",
        "phases": ["LiF", "Mn2O3 (bixbyite)"],
        "mixture": True,
        "absent_phases": ["Mn2O3 (bixbyite)"],
        "absent_accept_added": {"Mn2O3 (bixbyite)": [["Mn2O3", 206]]},
        "accept": [[["LiF", 225]]],
    }
    assert _kind(with_added_phases(mix, set())) == "mixture of 2 with an absent phase"
    held = with_added_phases(mix, {("Mn2O3", 206)})
    assert held["accept"] == [[["LiF", 225]], [["Mn2O3", 206]]] and _kind(held) == "mixture of 2, all in library"
