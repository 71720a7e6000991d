"""dev8 / heldout8 (session 8): the committed Elemental Microscopy figures have the manifest's checksums, every paper
is on its side of the fixed split rule (sha256("s7:" + unit)), boxes lie inside their images, the fetch copies them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from bench.real_figures import fetch as F

ROOT = Path(__file__).resolve().parents[1]


def test_dev8_figures_committed_annotated_and_on_the_dev_side(tmp_path: Path) -> None:
    man = json.loads(F.MANIFEST8.read_text())["figures"]
    panels = json.loads((ROOT / "bench/real_figures/panels8.json").read_text())["figures"]
    assert {f["file"] for f in man} == set(panels)
    earlier = {f["file"] for path in (*F.MANIFESTS, F.MANIFEST7) for f in json.loads(path.read_text())["figures"]}
    assert not {f["file"] for f in man} & earlier
    for f in man:
        assert hashlib.sha256(("s7:" + f["unit"]).encode()).hexdigest()[0] not in "01234", f["file"]
        assert f["split"] == "dev8" and f["redistributable"] and f["caption"]
        data = (F.COMMITTED / f["fetch"]["member"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"]
        w, h = f["size"]
        labels = [p["label"] for p in panels[f["file"]]]
        assert len([lab for lab in labels if lab]) == len({lab for lab in labels if lab}), f["file"]
        for p in panels[f["file"]]:
            x0, y0, x1, y1 = p["bbox"]
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, (f["file"], p)
            assert p["type"] in ("microscopy", "diffraction", "graph", "illustration", "photo", "other")
    assert F.main(["--cache", str(tmp_path), "--manifest", str(F.MANIFEST8)]) == 0
    assert all((tmp_path / f["file"]).exists() for f in man)


def test_heldout8_figures_committed_annotated_and_on_the_held_out_side(tmp_path: Path) -> None:
    man = json.loads(F.MANIFEST8H.read_text())["figures"]
    panels = json.loads((ROOT / "bench/real_figures/panels8h.json").read_text())["figures"]
    assert {f["file"] for f in man} == set(panels)
    earlier = {
        f["file"] for path in (*F.MANIFESTS, F.MANIFEST7, F.MANIFEST8) for f in json.loads(path.read_text())["figures"]
    }
    sources = {(f["fetch"].get("repo"), f["fetch"].get("path")) for f in json.loads(F.MANIFEST7.read_text())["figures"]}
    assert not {f["file"] for f in man} & earlier
    for f in man:
        assert hashlib.sha256(("s7:" + f["unit"]).encode()).hexdigest()[0] in "01234", f["file"]
        assert f["split"] == "heldout8" and f["caption"] and (f["fetch"]["repo"], f["fetch"]["path"]) not in sources
        assert hashlib.sha256((F.COMMITTED / f["fetch"]["member"]).read_bytes()).hexdigest() == f["sha256"]
        w, h = f["size"]
        for p in panels[f["file"]]:
            x0, y0, x1, y1 = p["bbox"]
            assert p["label"] and 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, (f["file"], p)
    assert F.main(["--cache", str(tmp_path), "--manifest", str(F.MANIFEST8H)]) == 0
