"""Panel type classifier: shipped weights (checksummed), held-out synthetic panels, real dev panels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from matsearch.core.settings import Settings
from matsearch.encoders.weights import WEIGHTS, locate
from matsearch.indexer.figures.panel_type import (
    INNER_MIN_FILL,
    INNER_MIN_SHARE,
    PANEL_TYPES,
    caption_cue,
    caption_type,
    classes,
    classify_panels,
    fuse,
    image_stats,
    image_vectors_of,
    inner_picture,
    plot_frame,
    scale_cue,
)
from training import figures_synth as synth
from training.panel_type_synth import EXTRA, IN_AXES

from .conftest import DEV_FIGURES

REPO = Path(__file__).resolve().parents[1]


def test_weights_registered_and_verified() -> None:
    assert WEIGHTS["panel-type"].sha256 is not None
    assert locate("panel-type").stat().st_size < 200_000
    assert classes() == list(PANEL_TYPES)


def test_image_stats_shape() -> None:
    s = image_stats(Image.new("RGB", (50, 40), "white"))
    assert s.shape == (11,) and s[0] == 1.0


def test_heldout_synthetic_panels() -> None:
    rng = np.random.default_rng(31337)  # not a training seed
    images, truth = [], []
    for kind in PANEL_TYPES:
        for _ in range(4):
            images.append(synth.panel(kind, rng))
            truth.append(kind)
    pred = classify_panels(images, image_vectors_of(images, Settings()))
    acc = np.mean([p == t for (p, _), t in zip(pred, truth, strict=True)])
    assert acc >= 0.8
    assert all(0.0 < conf <= 1.0 for _, conf in pred)


def test_dev_panels() -> None:
    ann = json.loads((REPO / "bench/annotations/dev_panels.json").read_text())["figures"]
    crops, truth = [], []
    for name in ("s41467-018-06211-3_fig1.jpg", "s41467-018-06211-3_fig3.jpg"):
        image = Image.open(DEV_FIGURES / name).convert("RGB")
        for t in ann[name]:
            crops.append(image.crop(tuple(t["bbox"])))
            truth.append(t["type"])
    pred = [k for k, _ in classify_panels(crops, image_vectors_of(crops, Settings()))]
    assert np.mean([p == t for p, t in zip(pred, truth, strict=True)]) >= 0.8


def _counting(settings: Settings) -> tuple[list[int], Any]:
    calls: list[int] = []

    def encode(images: list[Image.Image]) -> np.ndarray:
        calls.append(len(images))
        return image_vectors_of(images, settings)

    return calls, encode


def test_picture_inside_plot_axes_is_typed_by_the_picture() -> None:
    """A micrograph / FFT drawn with imshow inside axes (ticks, labels, colour bar): the region is found inside the
    axes and classified on its own; line plots have no such region, and colour maps of data (dense contours can
    make one) are still typed graph."""
    settings = Settings()
    rng = np.random.default_rng(4242)  # not a training seed (IN_AXES kinds are never trained on)
    pictures = [IN_AXES["micrograph_in_axes"][1](rng) for _ in range(3)]
    pictures += [IN_AXES["diffraction_in_axes"][1](rng) for _ in range(2)]
    for image in pictures:
        found = inner_picture(image)
        assert found is not None
        box, share, fill = found
        assert 0 < box[0] and box[2] <= image.width and 0.1 < share < 0.95 and fill > 0.5
    graphs = [synth.graph(rng) for _ in range(3)] + [EXTRA["colour_map"][1](rng) for _ in range(2)]
    for image in graphs[:3]:  # line plots: no textured region of that size
        found = inner_picture(image)
        assert found is None or found[1] < INNER_MIN_SHARE or found[2] < INNER_MIN_FILL
    calls, encode = _counting(settings)
    images = pictures + graphs
    typed = classify_panels(images, image_vectors_of(images, settings), encode=encode)
    kinds = [k for k, _ in typed]
    assert kinds[:3] == ["microscopy"] * 3, kinds  # without the picture region, two of these are typed graph
    assert all(k in ("microscopy", "diffraction") for k in kinds[3:5]), kinds  # a false-colour FFT looks like a map
    assert kinds[5:] == ["graph"] * 5, kinds
    assert calls and sum(calls) <= 7  # one extra forward for regions inside axes only, never for the line plots


def test_full_panel_picture_needs_no_second_look() -> None:
    settings = Settings()
    rng = np.random.default_rng(777)
    images = [synth.microscopy(rng) for _ in range(3)]
    calls, encode = _counting(settings)
    typed = classify_panels(images, image_vectors_of(images, settings), encode=encode)
    assert [k for k, _ in typed] == ["microscopy"] * 3
    assert calls == []


def test_caption_cue_speaks_for_each_label_of_a_shared_segment() -> None:
    """The words naming a panel's own label decide; else the kind a sub-caption names first (its head); an inverse
    FFT is a real-space image and an EDX map a micrograph (real sub-captions of the dev figures, s41467-018-06211-3)."""
    seg = "A HAADF-STEM image (f) and the corresponding electron energy loss spectroscopy (EELS) profiles (g) at sites"
    assert caption_cue(seg, "f") == "microscopy" and caption_cue(seg, "g") == "graph"
    assert caption_cue(seg) == "microscopy"  # no label: the head of the segment
    assert caption_cue("TEM image and the corresponding SAED pattern") == "microscopy"  # SAED as inset
    assert caption_cue("SAED pattern of the region in b") == "diffraction"
    assert caption_cue("Inverse FFT images of applied masks at the blue circle (h) and red circle (i) in g", "h") == (
        "microscopy"
    )
    assert caption_cue("FFT of the area marked in a") == "diffraction"
    assert caption_cue("The Fourier transform of the HRTEM image shown in (b).") == "diffraction"  # IUCrJ, dev6
    assert caption_cue("Inverse fast Fourier transform image of the box") == "microscopy"
    assert caption_cue("A superposition of two simulated ED patterns (red and blue)") == "diffraction"
    assert caption_cue("A 3D model of the D-twin boundary") == "illustration"
    assert caption_cue("HAADF-STEM and energy-dispersive X-ray spectroscopy (EDX) mapping images", "a") == "microscopy"
    assert caption_cue("EELS map of Mn") == "microscopy" and caption_cue("EELS spectra of the Mn L edge") == "graph"
    assert caption_cue("Mechanical charge and discharge tests at 25 mA cm-2") is None
    # what an inset shows and error statistics do not name the picture (dev3 ncomms11770, dev2 PLOS captions)
    assert caption_cue("TEM images after 6 days (inset cartoon showing only hard corona around Ag NPs) (c)", "c") == (
        "microscopy"
    )
    assert caption_cue("Mean offset latencies for regular sequences per group ± 2 SEM.") is None
    assert caption_cue("Dose-response curves. Error bars are SEM (n = 3).") == "graph"
    assert fuse("graph", 0.8, seg, "f") == ("microscopy", 0.6) and fuse("graph", 0.8, seg, "g") == ("graph", 0.8)
    assert caption_type is caption_cue  # one contract: the cue fuse uses


def test_technique_names_are_a_weaker_cue() -> None:
    """Spelled-out technique names give the kind their data is shown as (keywords.TECHNIQUE_KIND), only where no
    word names a kind of picture; one- and two-letter acronyms ("conventional (CV) mice") are not cues."""
    assert caption_cue("X-ray photoelectron spectroscopy of the Ag 3d region") == "graph"
    assert caption_cue("Cyclic voltammetry of the electrodes at 50 mV s-1") == "graph"
    assert caption_cue("Atomic force microscopy of the film after annealing") == "microscopy"
    assert caption_cue("Reg3g transcripts in germ-free (GF) and conventional (CV) mice") is None
    assert caption_cue("Fourier transform infrared (FTIR) spectra of the powders") == "graph"  # not an FFT
    assert caption_cue("STEM-EDS spectra of the particle") == "graph"  # the picture word beats the technique
    assert caption_cue("STEM-EDS maps of Ag and Pd") == "microscopy"


def test_fuse_falls_back_to_the_panel_caption() -> None:
    """A segment naming no kind leaves the word to the panel's caption (shared text + segment): as strong as a
    segment for an unlabelled panel (the caption is its own), weaker for a labelled one."""
    title = "SEM images of advanced TiO2 nanotube morphologies. Bamboo-type nanotubes grown under AV conditions."
    seg = "Bamboo-type nanotubes grown under AV conditions."
    assert fuse("illustration", 0.7, seg, "a", context=title) == ("microscopy", 0.6)
    assert fuse("illustration", 0.85, seg, "a", context=title) == ("illustration", 0.85)  # the classifier is sure
    assert fuse("illustration", 0.85, None, None, context=title) == ("microscopy", 0.6)  # unlabelled: its caption
    assert fuse("graph", 0.7, "XRD patterns of the films", "b", context="SEM and XRD. XRD patterns") == ("graph", 0.7)


def test_a_bare_technique_name_in_an_unlabelled_panels_caption_speaks_weakly() -> None:
    """An unlabelled panel's caption that names a picture ("SEM image") speaks as strongly as a segment; one that only
    names how the data were taken ("SEM datasets", "BF-STEM and tilted CTEM") overrides an unsure classifier only."""
    counts = "Number of defects detected in acquired and denoised SEM datasets across dwell times."
    assert fuse("graph", 0.9, None, None, context=counts) == ("graph", 0.9)
    assert fuse("graph", 0.7, None, None, context=counts) == ("microscopy", 0.6)
    rays = "Principle of reciprocity in off-axis BF-STEM and tilted CTEM. The deflected ray traces match."
    assert fuse("illustration", 0.9, None, None, context=rays) == ("illustration", 0.9)
    image = "Dark field STEM image of a microtomed section of a polymer."
    assert fuse("diffraction", 0.9, None, None, context=image) == ("microscopy", 0.6)
    assert fuse("graph", 0.9, None, None, context="XRD patterns of the annealed films.") == ("graph", 0.9)
    assert fuse("microscopy", 0.9, None, None, context="Raman spectra of the annealed films.") == ("graph", 0.6)


def test_trainer_refuses_a_features_cache_of_another_recipe(tmp_path: Path) -> None:
    """A cached feature file built with other settings (or before recipes were recorded) is refused, not reused."""
    from training.train_panel_type import main

    stale = tmp_path / "features.npz"
    np.savez(stale, xtr=np.zeros((2, 3)), ytr=np.zeros(2), xte=np.zeros((1, 3)), yte=np.zeros(1))
    with pytest.raises(SystemExit, match="another recipe"):
        main(["--features-cache", str(stale), "--out", str(tmp_path / "w.pt")])
    assert not (tmp_path / "w.pt").exists()


def test_real_types_dev_and_heldout_papers_are_disjoint() -> None:
    """The typed msa-em panels: no paper of the held-out part is in the dev part the trainer reads, no file of the
    dev part is in a held-out part, and the trainer refuses a held-out part."""
    from training.train_panel_type import real_panels

    root = REPO / "bench/real_types"
    dev8 = json.loads((root / "panels8t.json").read_text())["figures"]
    dev9 = json.loads((root / "panels9t.json").read_text())["figures"]
    held8 = json.loads((root / "heldout8t.json").read_text())["figures"]
    held9 = json.loads((root / "heldout9t.json").read_text())["figures"]
    held7 = [f for f in json.loads((root / "figures7t.json").read_text())["figures"] if f["split"] == "heldout7t"]
    assert {f["split"] for f in dev8} == {"dev8t"} and {f["split"] for f in held8} == {"heldout8t"}
    assert {f["split"] for f in dev9} == {"dev9t"} and {f["split"] for f in held9} == {"heldout9t"}
    s11 = json.loads((root / "panels11t.json").read_text())["figures"]
    dev11 = [f for f in s11 if f["split"] == "dev11t"]
    held11 = [f for f in s11 if f["split"] == "heldout11t"]
    assert len(dev11) + len(held11) == len(s11) and dev11 and held11
    dev, held = dev8 + dev9 + dev11, held8 + held9 + held11
    assert not {f["repo"] for f in dev} & {f["repo"] for f in held + held7}
    # session 11 splits by unit (a paper's repository, a documentation package): no unit on both sides
    assert not {f["unit"] for f in dev11} & {f["unit"] for f in held11}
    assert not {f["blob_sha1"] for f in dev} & {f["blob_sha1"] for f in held + held7}
    assert all(p.get("type_ambiguous") or p["type"] in PANEL_TYPES for f in dev + held for p in f["panels"])
    # a notebook's image output is named by its index and checked by the decoded image's SHA-256
    assert all(isinstance(f["output"], int) and len(f["png_sha256"]) == 64 for f in dev + held if "output" in f)
    with pytest.raises(SystemExit, match="never trained on"):
        real_panels(["dev", "heldout8t"], 0, 0)
    with pytest.raises(SystemExit, match="never trained on"):
        real_panels(["dev9t", "heldout9t"], 0, 0)
    with pytest.raises(SystemExit, match="never trained on"):
        real_panels(["dev11t", "heldout11t"], 0, 0)


def test_fetch_reads_a_notebooks_image_output_and_checks_it(tmp_path: Path) -> None:
    """A typed item that is a notebook's k-th image/png output: fetch decodes that output from the notebook (a real
    git blob in a real repository made here), checks the notebook's blob SHA-1 and the image's SHA-256, writes it as
    ``<path>#<k>.png``; a changed image is refused."""
    import base64
    import hashlib
    import io
    import subprocess

    from bench.real_types import fetch

    pngs = []
    for colour in ("red", "blue"):
        buf = io.BytesIO()
        Image.new("RGB", (8, 6), colour).save(buf, format="PNG")
        pngs.append(buf.getvalue())
    cells = [
        {"cell_type": "code", "outputs": [{"data": {"text/plain": "x"}}]},
        {"cell_type": "code", "outputs": [{"data": {"image/png": base64.b64encode(p).decode()}} for p in pngs]},
    ]
    nb = json.dumps({"cells": cells}).encode()
    assert fetch.notebook_output(nb, 1) == pngs[1]
    repo = tmp_path / "msa-em+toy" / "repo"
    work = tmp_path / "work"
    work.mkdir()
    (work / "nb.ipynb").write_bytes(nb)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(work)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "nb.ipynb"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "nb"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    repo.parent.mkdir()
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(repo)], check=True)
    item = {
        "repo": "msa-em/toy",
        "commit": commit,
        "path": "nb.ipynb",
        "blob_sha1": fetch.git_blob_sha1(nb),
        "output": 1,
        "png_sha256": hashlib.sha256(pngs[1]).hexdigest(),
    }
    out = tmp_path / "cache"
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps({"figures": [item]}))
    saved = fetch.FILES
    try:
        fetch.FILES = (listed,)
        assert fetch.main(["--git-dirs", str(tmp_path / "{owner}+{name}/repo"), "--out", str(out)]) == 0
        dst = fetch.image_path(item, out)
        assert dst.name == "nb.ipynb#1.png" and dst.read_bytes() == pngs[1]
        assert Image.open(dst).getpixel((0, 0)) == (0, 0, 255)
        assert not fetch.is_annotated_file(item, pngs[0])
        listed.write_text(json.dumps({"figures": [dict(item, png_sha256=hashlib.sha256(pngs[0]).hexdigest())]}))
        dst.unlink()
        with pytest.raises(SystemExit, match="differs from the annotated image"):
            fetch.main(["--git-dirs", str(tmp_path / "{owner}+{name}/repo"), "--out", str(out)])
    finally:
        fetch.FILES = saved


def test_leave_one_unit_out_never_trains_on_the_scored_unit() -> None:
    """training.loso_panel_type: a box is typed by a model trained without its unit. Two units whose features map
    to types in opposite ways: trained on itself a unit would be typed right; left out, every box is typed wrong.
    A part that is not trained on (dev9t here) is still scored."""
    from training.loso_panel_type import leave_one_unit_out

    rng = np.random.default_rng(0)
    dim, n = 1280 + 11, 12
    boxes, xs = [], []
    for unit, flip in (("a", False), ("b", True)):
        for k in range(n):
            kind = "graph" if (k % 2 == 0) != flip else "microscopy"
            v = np.zeros(dim, np.float32)
            v[0], v[1] = (3.0 if k % 2 == 0 else -3.0) + rng.normal(0, 0.1), rng.normal(0, 0.1)
            boxes.append({"part": "old", "split": "dev", "unit": unit, "type": kind, "label": None, "caption": None})
            xs.append(v)
    boxes.append({"part": "dev9t", "split": "dev9t", "unit": "c", "type": "graph", "label": None, "caption": None})
    xs.append(np.r_[np.float32(3.0), np.zeros(dim - 1, np.float32)])
    x = np.stack(xs)
    feats = {"x": x, "xj": x[:, None, :].copy(), "xi": np.zeros_like(x), "has_inner": np.zeros(len(x), bool)}
    pred = leave_one_unit_out(boxes, feats, np.zeros((0, dim), np.float32), np.zeros(0, int), ["dev"])
    assert all(p != b["type"] for p, b in zip(pred[:-1], boxes[:-1], strict=True))
    assert pred[-1] in PANEL_TYPES


def test_structure_models_are_generated_and_typed_illustration() -> None:
    """The session-9 generator of atomic structure models (training only): RGB pictures, the same for the same
    seed, and not a training seed's draws typed illustration by the shipped weights."""
    from training.panel_type_synth import structure_model

    one = [structure_model(np.random.default_rng(5)) for _ in range(2)]
    assert one[0].mode == "RGB" and one[0].tobytes() == one[1].tobytes()
    rng = np.random.default_rng(20261202)
    images = [structure_model(rng) for _ in range(12)]
    kinds = [k for k, _ in classify_panels(images, image_vectors_of(images, Settings()))]
    assert sum(k == "illustration" for k in kinds) >= 9


def test_diffraction_generators_are_trained_on_and_typed_diffraction() -> None:
    """Session 10: 2-D detector images (powder rings in false colour in pixel axes, caked images) and Kikuchi patterns
    are generated for training as diffraction (real ones, pyFAI's and kikuchipy's docs, were typed graph / microscopy
    with their source left out); not a training seed's draws are typed diffraction by the shipped weights."""
    from training.panel_type_synth import detector_image, kikuchi_pattern

    assert EXTRA["detector"] == ("diffraction", detector_image)
    assert EXTRA["kikuchi"] == ("diffraction", kikuchi_pattern)
    for gen in (detector_image, kikuchi_pattern):
        one = [gen(np.random.default_rng(5)) for _ in range(2)]
        assert one[0].mode == "RGB" and one[0].tobytes() == one[1].tobytes()
    rng = np.random.default_rng(20261203)
    images = [detector_image(rng) for _ in range(8)] + [kikuchi_pattern(rng) for _ in range(8)]
    kinds = [k for k, _ in classify_panels(images, image_vectors_of(images, Settings()))]
    assert sum(k == "diffraction" for k in kinds[:8]) >= 6, kinds
    assert sum(k == "diffraction" for k in kinds[8:]) >= 6, kinds


def test_trainer_and_loso_read_every_real_figures_part_without_held_out_papers() -> None:
    """train_panel_type.figure_annotations covers dev7 / dev8 / dev9 too (figvision's boxes); a figure of a paper
    figtype holds out is never trained on, whichever part lists it; the digest of the shipped splits is what their
    weights record; loso_panel_type's units are the trainer's."""
    from training import loso_panel_type
    from training.train_panel_type import (
        HELD_OUT_PAPERS,
        _trained_figures,
        figure_annotations,
        figure_unit,
    )

    manifest, panels, _ = figure_annotations()
    assert {manifest[n]["split"] for n in panels} >= {"dev", "dev4", "dev5", "dev7", "dev8", "dev9"}
    trained = _trained_figures(manifest, panels, ["dev", "dev4", "dev5", "dev7", "dev8", "dev9"])
    assert trained and all(figure_unit(n, manifest[n]) not in HELD_OUT_PAPERS for n, _ in trained)
    assert figure_unit("msa_hrtem_transfer_learning_fig_x.png", {"unit": "10.69761/x"}) in HELD_OUT_PAPERS
    assert figure_unit("msa_um_methods_fig_1.png", {"unit": "10.69761/y"}) == "msa-em/um-methods"
    assert loso_panel_type.figure_unit is figure_unit and loso_panel_type.HELD_OUT_PAPERS is HELD_OUT_PAPERS


def test_plot_frame_finds_plots_not_pictures() -> None:
    """The plot-frame cue (session 12): an L corner of (dark) axis lines with evenly spaced ticks on both axes.
    Generated plots have one; generated micrographs, diffraction patterns and photos have none."""
    rng = np.random.default_rng(4242)
    found = [plot_frame(synth.graph(rng)) for _ in range(6)]
    assert sum(found) >= 5, found
    pictures = [synth.microscopy(rng) for _ in range(4)] + [synth.diffraction(rng), synth.photo(rng)]
    assert not any(plot_frame(im) for im in pictures)


def test_scale_cue_turns_sub_mm_bars_into_micrographs() -> None:
    """The scale-bar cue (session 12): a photo / drawing with a bar read below 1 mm is a micrograph; cm / mm bars
    (camera photos), reciprocal bars, panels without nm/px and other types are left alone."""
    from matsearch.indexer.figures.scalebar import ScaleReading

    bar = ScaleReading(value=200.0, unit="nm", nm_per_px=2.5, source="ocr", confidence=0.9).to_dict()
    assert scale_cue("photo", 0.94, bar) == ("microscopy", 0.6)
    assert scale_cue("illustration", 0.7, bar) == ("microscopy", 0.6)
    assert scale_cue("photo", 0.9, dict(bar, value=0.5, unit="mm")) == ("microscopy", 0.6)
    assert scale_cue("photo", 0.9, dict(bar, value=10.0, unit="mm")) == ("photo", 0.9)
    assert scale_cue("photo", 0.9, dict(bar, value=1.0, unit="cm")) == ("photo", 0.9)
    assert scale_cue("photo", 0.9, dict(bar, nm_per_px=None)) == ("photo", 0.9)
    assert scale_cue("photo", 0.9, dict(bar, reciprocal=True, unit="1/nm")) == ("photo", 0.9)
    assert scale_cue("graph", 0.9, bar) == ("graph", 0.9)
    assert scale_cue("diffraction", 0.9, bar) == ("diffraction", 0.9)
    assert scale_cue("photo", 0.9, None) == ("photo", 0.9)


def test_caption_cue_drawings_and_heat_maps() -> None:
    """Session 12 words: a sketch / illustrated workflow / flow chart is a drawing, a heat map is a plot; a plain
    TEM image is still a micrograph and a "heat treatment" names no kind."""
    assert caption_cue("Conceptual sketch of a silver nanoparticle with radius R") == "illustration"
    assert caption_cue("Illustrated workflow of the defect detection algorithm") == "illustration"
    assert caption_cue("Flow chart of the analysis") == "illustration"
    assert caption_cue("Heatmaps displaying the error matrix for denoised datasets") == "graph"
    assert caption_cue("TEM image of the particles after heat treatment") == "microscopy"
    assert caption_cue("Samples after heat treatment at 600 C") is None
