"""Compound-figure separation on real dev figures (hand-annotated) and synthetic ones; the `figure split` CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from matsearch.indexer.figures.layout import label_key
from matsearch.indexer.figures.panels import split_figure
from training import figures_synth as synth

from .conftest import DEV_FIGURES

REPO = Path(__file__).resolve().parents[1]
ANNOTATIONS = json.loads((REPO / "bench/annotations/dev_panels.json").read_text())["figures"]
META = {m["file"]: m for m in json.loads((DEV_FIGURES / "figures.json").read_text())}


def iou(a: list[int], b: list[int]) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def test_label_key() -> None:
    assert label_key("(a)") == "a"
    assert label_key("B.") == "b"
    assert label_key("à") == "a"  # the recogniser's accents are stripped
    assert label_key("d1") == "d1"
    assert label_key("ii") == "ii"
    assert label_key("SMNp") is None
    assert label_key("0.5") is None


@pytest.mark.parametrize("name", ["s41467-018-06211-3_fig1.jpg", "s41467-018-06211-3_fig2.jpg"])
def test_dev_figure_split_with_caption(name: str) -> None:
    image = Image.open(DEV_FIGURES / name).convert("RGB")
    result = split_figure(image, META[name]["caption"], scale=False, classify=False)
    truth = {t["label"]: t["bbox"] for t in ANNOTATIONS[name]}
    got = {p.label: list(p.bbox) for p in result.panels}
    assert set(got) == set(truth)
    for label, box in truth.items():
        assert iou(got[label], box) >= 0.5, (label, got[label], box)
    # every panel keeps the shared caption (title) and its own segment
    assert all(p.caption and p.caption.startswith(result.shared_caption or "") for p in result.panels)


def test_dev_figure_without_caption_reads_labels_from_image() -> None:
    name = "s41467-018-06211-3_fig3.jpg"
    result = split_figure(Image.open(DEV_FIGURES / name), None, scale=False, classify=False)
    assert [p.label for p in result.panels] == ["a", "b", "c", "d"]
    assert any("no caption" in n for n in result.notes)


def test_figure_without_labels_is_one_panel() -> None:
    rng = np.random.default_rng(7)
    image = synth.particle_micrograph("sphere", rng, size=300)
    result = split_figure(image, "A TEM image of nanoparticles.", scale=False, classify=False)
    assert len(result.panels) == 1
    assert result.panels[0].label is None


def test_synthetic_compound_with_caption() -> None:
    fig = synth.compound_figure(np.random.default_rng(20001), n_panels=4)
    result = split_figure(fig.image, fig.caption, scale=False, classify=False)
    got = {p.label: list(p.bbox) for p in result.panels}
    for t in fig.panels:
        assert t.label in got
        assert iou(got[t.label], list(t.bbox)) >= 0.5


def test_tiny_and_huge_images() -> None:
    tiny = split_figure(Image.new("RGB", (20, 12), "white"), None, classify=False, scale=False)
    assert len(tiny.panels) == 1 and any("tiny" in n for n in tiny.notes)
    big = Image.new("RGB", (5200, 600), "white")
    big.paste(synth.particle_micrograph("rod", np.random.default_rng(1), 500), (100, 50))
    huge = split_figure(big, None, classify=False, scale=False)
    assert huge.width == 5200 and len(huge.panels) == 1
    assert any("large image" in n for n in huge.notes)


def test_cli_figure_split_json(tmp_path: Path) -> None:
    from matsearch.cli.main import cli

    name = "s41467-018-06211-3_fig3.jpg"
    cap = tmp_path / "caption.txt"
    cap.write_text(META[name]["caption"])
    res = CliRunner().invoke(
        cli,
        [
            "--data-dir",
            str(tmp_path / "d"),
            "figure",
            "split",
            str(DEV_FIGURES / name),
            "--caption-file",
            str(cap),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert (data["width"], data["height"]) == Image.open(DEV_FIGURES / name).size
    assert [p["label"] for p in data["panels"]] == ["a", "b", "c", "d"]
    for p in data["panels"]:
        assert set(p) >= {"label", "bbox", "type", "type_confidence", "caption", "nm_per_px", "scale_bars"}
        assert p["type"] == "graph"
    bad = CliRunner().invoke(cli, ["figure", "split", str(cap)])
    assert bad.exit_code != 0 and "error" in (bad.output + str(bad.stderr_bytes or b""))
