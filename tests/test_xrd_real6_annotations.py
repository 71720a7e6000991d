"""The session-6 real XRD patterns (bench/annotations/xrd_real6.json) are well-formed: the split follows the fixed
hash rule, committed files are there with their checksums and licence notes, and each one reads as a pattern with
its annotated wavelength. Fast, no network (the Debian-cached entries are checked for form only)."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from bench.fetch_xrd_realdata6 import (
    ANNOTATIONS6,
    COMMITTED,
    SPLITS6,
    fox_pattern,
    local_path,
    split_of,
    wavelength_arg,
)
from matsearch.encoders.xrd_pattern import read_pattern_bytes

DOC = json.loads(ANNOTATIONS6.read_text())
PATTERNS = DOC["patterns"]
OLD = json.loads((ANNOTATIONS6.parent / "xrd_real.json").read_text())["patterns"]


def _rule_ok(rule: object) -> bool:
    return (
        isinstance(rule, list)
        and len(rule) == 2
        and isinstance(rule[0], str)
        and isinstance(rule[1], int)
        and 1 <= rule[1] <= 230
    )


def test_ids_unique_and_new() -> None:
    ids = [p["id"] for p in PATTERNS]
    assert len(ids) == len(set(ids))
    assert not set(ids) & {p["id"] for p in OLD}


def test_split_is_the_hash_rule() -> None:
    assert split_of("objcryst-fox") == "heldout6x"  # sha256("s6x:objcryst-fox") starts with 4
    assert split_of("fityk") == "dev6x"  # ... with 9
    for p in PATTERNS:
        assert p["split"] in SPLITS6
        assert p["split"] == split_of(p["unit"]), p["id"]
        assert DOC["units"][p["unit"]] == p["split"]


@pytest.mark.parametrize("entry", PATTERNS, ids=[p["id"] for p in PATTERNS])
def test_entry_schema(entry: dict) -> None:
    for key in ("id", "split", "unit", "source", "licence", "wavelength", "phases", "annotation", "added"):
        assert key in entry, key
    src = entry["source"]
    assert src["kind"] in ("repo", "deb")
    assert src.get("licence") and len(src.get("sha256", "")) == 64
    if not entry["phases"]:  # an absent check: nothing to accept
        assert entry.get("absent") and "accept" not in entry
        return
    rules = entry["accept"]
    if entry.get("mixture"):
        assert len(entry["phases"]) >= 2 and rules and all(rule and all(_rule_ok(r) for r in rule) for rule in rules)
        assert len(rules) == len(entry["phases"]) - len(entry.get("absent_phases", []))
    else:
        assert rules and all(_rule_ok(r) for r in rules)


@pytest.mark.parametrize("entry", [p for p in PATTERNS if p["source"]["kind"] == "repo"], ids=lambda p: p["id"])
def test_committed_file_reads(entry: dict) -> None:
    path = local_path(entry)
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["source"]["sha256"]
    assert path.name in (path.parent / "ATTRIBUTION.md").read_text()
    pattern = read_pattern_bytes(data, path.name, wavelength=wavelength_arg(entry))
    if entry["wavelength"] == "file":  # an instrument file: its own wavelength is read
        assert pattern.wavelength_source == "file"
    assert pattern.two_theta.size >= 2000
    # in d-spacing the scan covers at least 2-3 Å, where every phase here has lines
    d = pattern.wavelength / (2 * np.sin(np.radians(pattern.two_theta / 2)))
    assert d.min() < 2.0 and d.max() > 3.0


def test_committed_dirs_have_licence_notes() -> None:
    for sub in {local_path(p).parent for p in PATTERNS if p["source"]["kind"] == "repo"}:
        text = (sub / "ATTRIBUTION.md").read_text()
        assert "licence" in text.lower() or "license" in text.lower()
        assert sub.parent == COMMITTED


def test_fox_pattern_parser(tmp_path: Path) -> None:
    xml = (
        b'<ObjCryst><PowderPattern Name="other"><Radiation><Par Name="Wavelength">0.5</Par></Radiation>'
        b'<IobsSigmaWeightList TThetaMin="1" TThetaStep="1">1 1 1</IobsSigmaWeightList></PowderPattern>'
        b'<PowderPattern Name="p"><Radiation><Par Name="Wavelength">1.54056</Par></Radiation>'
        b'<IobsSigmaWeightList TThetaMin="5" TThetaStep="0.02">10 3.1 0.1 12 3.4 0.08 7 2.6 0.14</IobsSigmaWeightList>'
        b"</PowderPattern></ObjCryst>"
    )
    x, y, wl = fox_pattern(gzip.compress(xml), "p")
    assert wl == 1.54056 and y == [10.0, 12.0, 7.0]
    assert x == pytest.approx([5.0, 5.02, 5.04])
    listed = (
        b'<ObjCryst><PowderPattern Name="q"><Radiation><Par Name="Wavelength">1.2</Par></Radiation>'
        b"<XIobsSigmaWeightList>8.01 2707 52 0.0003 8.02 2648 51.4 0.0003</XIobsSigmaWeightList>"
        b"</PowderPattern></ObjCryst>"
    )
    assert fox_pattern(listed, "q") == ([8.01, 8.02], [2707.0, 2648.0], 1.2)
    with pytest.raises(ValueError, match="no powder pattern"):
        fox_pattern(listed, "missing")
