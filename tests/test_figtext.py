"""Figure text on real layouts: caption lead-ins and scale statements (scopes, insets), figure-level scale
assignment on a real dev figure, scale labels read on their own (real rapidocr), the text-search re-rank."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from matsearch.core.schemas import Hit
from matsearch.indexer.figures.captions import split_caption
from matsearch.indexer.figures.scalelabel import parse_label_text, read_label
from matsearch.indexer.figures.scales import ScaleTask, assign_scales
from matsearch.search.figures import abbreviations, lexical_rerank, query_terms

REPO = Path(__file__).resolve().parents[1]
DEV_FIGURES = REPO.parent / "shared" / "data" / "dev" / "figures"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


@pytest.mark.parametrize(
    ("caption", "expected"),
    [
        # "X of (c)—Y and (f)—Z": the lead-in belongs to each label
        (
            "Size histograms of (c)—the initial Au particles and (f)—the Au–Pt particles.",
            {"c": "Size histograms of the initial Au particles", "f": "Size histograms of the Au–Pt particles."},
        ),
        # "(a) X compared with (b) Y": b opens its own text after a lead-in word
        (
            "(a) Raman spectra of the film compared with (b) the spectra of a graphite standard. (c) XPS spectrum.",
            {"a": "Raman spectra of the film compared with", "b": "the spectra of a graphite standard."},
        ),
        # "(a,b)—X and (d,e) Y": the technique stays with both groups; the next sentence does not inherit it
        (
            "STEM images of (a,b)—the pristine sample and (d,e) the annealed sample at 500 °C. (c,f) Line profiles.",
            {"d": "STEM images of the annealed sample at 500 °C.", "c": "Line profiles."},
        ),
        # cross-references are not labels: "in (b) shows", "in (d) during"
        (
            "(a) PL of CdSe dots. (b) PL of ZnS shells. The inset in (b) shows the decay. (c) I–t curve for the "
            "device in (d) during forming. (d) TEM image.",
            {"b": "PL of ZnS shells. The inset in (b) shows the decay.", "d": "TEM image."},
        ),
        ("Fig. 4 (f and g) SAED patterns. (h) EDS.", {"f": "SAED patterns.", "g": "SAED patterns."}),
        # a parallel list inside one sentence: "X (a) and (d) Y; (b) and (e) Z" — X goes to every group
        (
            "Ni film (a) and (d) as grown; (b) and (e) after 2 h in air; (c) and (f) after 9 days in air.",
            {"a": "Ni film as grown", "e": "Ni film after 2 h in air", "f": "Ni film after 9 days in air."},
        ),
        # a footnote mark starts a shared sentence; "f(d)" is a function, not panel d
        (
            "Yield at 300 K (A) and at 500 K (B), fitted with f(d) = exp(−d). *p < 0.01 against the blank.",
            {"a": "Yield at 300 K (A) and at 500 K (B), fitted with f(d) = exp(−d).", "d": None},
        ),
    ],
)
def test_caption_lead_ins_and_cross_references(caption: str, expected: dict[str, str]) -> None:
    s = split_caption(caption)
    for label, text in expected.items():
        assert s.segments.get(label) == text, (label, s.segments, s.explain)
    assert "d" not in split_caption("Fig. 4 (f and g) SAED patterns.").segments  # "and" is not label d
    assert "*p < 0.01" in split_caption("Yield (A) and loss (B) of the cells. *p < 0.01 against the blank.").shared


def test_closing_notes_abbreviations_and_missing_stops() -> None:
    s = split_caption(
        "(a) Yield of the Pd film. (b) Rate of the Pt film; n = 3. Error bars, s.d.; *P < 0.05, n.s. not marked. "
        "CI, confidence interval. Full gels are shown in Supplementary Fig. 2."
    )
    assert s.segments["b"] == "Rate of the Pt film; n = 3.", s.explain
    assert "Full gels" in s.shared and "CI, confidence interval" in s.shared and "n.s. not marked" in s.shared
    s = split_caption("(A) Lipids in cells. (B) Lipids in plasma. Abbreviations: (P)C: phosphatidyl-choline.")
    assert s.labels == ["a", "b"] and "Abbreviations" in s.shared, s.explain
    s = split_caption("(a) Counts after 2 days, n = 3 (b) Counts after 4 days. (c) Counts after 8 days.")
    assert s.segments["a"] == "Counts after 2 days, n = 3" and s.segments["b"] == "Counts after 4 days.", s.explain
    s = split_caption(
        "(a) TEM of Au. (b) SAED of Au. The online version of this article includes the following figure "
        "supplement(s) for figure 2: Figure supplement 1. XRD of the Au film."
    )
    assert s.segments["b"] == "SAED of Au." and "XRD of the Au film" in s.shared, s.explain
    assert "Inset" in split_caption("(a) TEM of Au. (b) SAED of Au. Inset, the (111) ring.").segments["b"]


def test_scale_statements_scopes_and_insets() -> None:
    s = split_caption("(a) SEM image of the film; scale bar, 2 μm. (b) TEM image (scale bar. 10 nm).")
    assert s.scale_by_label == {"a": (2.0, "μm"), "b": (10.0, "nm")}
    assert s.segments == {"a": "SEM image of the film.", "b": "TEM image."}
    s = split_caption(
        "Films. The magnifications are identical in a,c, (scale bar, 200 nm) and in b,d (scale bar, 50 nm)."
    )
    assert s.scale_by_label == {"a": (200.0, "nm"), "c": (200.0, "nm"), "b": (50.0, "nm"), "d": (50.0, "nm")}
    assert s.scale_scope["a"] == "label" and s.shared == "Films."
    s = split_caption("(a–f) Frames of an in situ movie of a Au particle. Scale bar, 100 nm.")
    assert s.scale_info("c") == ((100.0, "nm"), "group", None)
    s = split_caption("(a) TEM image (scale bar, 100 nm) and particles (right of panel, scale bar, 20 nm). (b) XRD.")
    assert s.scale_info("a") == ((100.0, "nm"), "group", (20.0, "nm"))
    s = split_caption("(a) TEM of the device. Scale bar, 200 nm. Inset: the filament. Scale bar, 20 nm. (b) I–V.")
    assert s.scale_by_label["a"] == (200.0, "nm") and s.scale_inset["a"] == (20.0, "nm")
    s = split_caption("(a) STEM image. (b) Intensity profile. Scale bar = 5 Å.")  # closing statement: also default
    assert s.scale_default == (5.0, "Å") and s.scale_info("a") == ((5.0, "Å"), "figure", None)
    s = split_caption("a SEM image. b TEM image. Scale bars, 5 μm (a), 500 pm (b). Copyright 2006 ACS.")
    assert s.scale_by_label == {"a": (5.0, "μm"), "b": (500.0, "pm")} and s.shared == "Copyright 2006 ACS."


def test_label_focus_inside_a_group() -> None:
    s = split_caption("b, c The number of transferred electrons (b) and Tafel plots (c) of the catalysts.")
    assert s.focus("b") == "number of transferred electrons" and s.focus("c") == "and Tafel plots"  # last 4 words


def test_label_grammar() -> None:
    def got(t: str) -> tuple[float, str] | None:
        ln = parse_label_text(t)
        return (ln.value, ln.unit) if ln else None

    assert got("1cm") == (1.0, "cm") and got("0,5 µm") == (0.5, "μm") and got("20.0um") == (20.0, "μm")
    assert got("5 A") == (5.0, "Å") and got("200 nml") == (200.0, "nm") and got("Tum") == (1.0, "μm")
    assert got("5pm") == (5.0, "μm") and got("200 pm") == (200.0, "pm")  # µ misread as p below 100
    assert got("20m") is None and got("Hüm") is None and got("") is None


def _label(text: str, size: int, fg: tuple[int, int, int], bg: tuple[int, int, int]) -> Image.Image:
    font = ImageFont.truetype(FONT, size)
    x0, y0, x1, y1 = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox((0, 0), text, font=font)
    img = Image.new("RGB", (int(x1 - x0) + 6, int(y1 - y0) + 6), bg)
    ImageDraw.Draw(img).text((3 - x0, 3 - y0), text, font=font, fill=fg)
    return img


def test_read_label_on_its_own_and_abstain() -> None:
    r = read_label(_label("0.5 µm", 18, (255, 255, 255), (120, 120, 120)))
    assert (r.value, r.unit) == (0.5, "μm") and r.confidence >= 0.3 and r.votes >= 2
    r = read_label(_label("5 Å", 16, (230, 30, 30), (0, 0, 0)))
    assert (r.value, r.unit) == (5.0, "Å")
    tiny = _label("20 nm", 18, (255, 255, 255), (0, 0, 0))
    tiny = tiny.resize((max(4, tiny.width * 5 // tiny.height), 5), Image.Resampling.BILINEAR)
    r = read_label(tiny)
    assert r.value is None and r.confidence < 0.3 and r.notes


def test_cli_reads_a_label_crop(tmp_path: Path) -> None:
    from matsearch.cli.figures_text import scalebar_group
    from matsearch.core.settings import Settings

    path = tmp_path / "label.png"
    _label("200 nm", 18, (255, 255, 255), (40, 40, 40)).save(path)
    res = CliRunner().invoke(scalebar_group, ["read", str(path), "--json"], obj=Settings(data_dir=tmp_path))
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert (out["value"], out["unit"], out["source"], out["nm_per_px"]) == (200.0, "nm", "ocr", None)


def test_label_read_in_a_fresh_process(tmp_path: Path) -> None:
    """The first OCR call of a process may be the label reader's (``matsearch scalebar read LABEL.png``): it must
    build the engine itself (it once waited forever on the engine lock it held)."""
    import subprocess
    import sys

    path = tmp_path / "label.png"
    _label("50 nm", 18, (255, 255, 255), (0, 0, 0)).save(path)
    code = (
        "import sys; from PIL import Image; from matsearch.indexer.figures.scalelabel import read_label; "
        "r = read_label(Image.open(sys.argv[1])); print(r.value, r.unit)"
    )
    # the timeout only turns a hang into a failure; it is far above the ~2 s this takes
    res = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["50.0", "nm"]


@pytest.mark.skipif(not DEV_FIGURES.exists(), reason="CC-BY dev figures (../shared/data/dev/figures) not present")
def test_caption_value_only_on_panels_that_draw_a_bar() -> None:
    # Fig. 1 of the dev paper: panel c draws its 5 μm bar (23.6 px by hand, bench/annotations/figures_text);
    # panel a is a schematic without a bar. A figure-wide "Scale bar, 5 μm." reaches both.
    fig = Image.open(DEV_FIGURES / "s41467-018-06211-3_fig1.jpg").convert("RGB")
    c, a = fig.crop((0, 291, 219, 382)), fig.crop((0, 3, 442, 261))
    tasks = [ScaleTask(crop=c, value=(5.0, "μm"), scope="figure"), ScaleTask(crop=a, value=(5.0, "μm"), scope="figure")]
    rc, ra = assign_scales(tasks)
    assert rc[0].source == "caption" and abs(rc[0].nm_per_px / (5000 / 23.6) - 1) < 0.1  # type: ignore[operator]
    assert ra[0].nm_per_px is None and ra[0].value == 5.0 and "draws no bar" in ra[0].notes[-1]


def _hit(pid: str, label: str | None, caption: str, sub: str | None, focus: str | None = None) -> Hit:
    payload = {"panel_label": label, "caption": caption, "sub_caption": sub, "figure_caption": caption}
    if focus:
        payload["label_focus"] = focus
    return Hit(id=pid, score=0.5, collection="figures", payload=payload)


def test_rerank_fallback_focus_ties_and_abbreviations() -> None:
    full = "Ag particles. (a) TEM of silver manganate nanoplates (SMNp). (b) EDS. Size histogram (c) of SMNp."
    hits = [
        _hit("x", "d", full, None),  # a labelled panel the caption has no segment for
        _hit("c", "c", "Size histogram of SMNp", "Size histogram (c) of SMNp", "Size histogram"),
        _hit("b", "b", "EDS", "EDS"),
        _hit("a", "a", "TEM of silver manganate nanoplates (SMNp)", "TEM of silver manganate nanoplates (SMNp)"),
    ]
    ranked = [h.id for h in lexical_rerank("size histogram", hits)]
    assert ranked[0] == "c" and ranked.index("x") > ranked.index("c")
    assert [h.id for h in lexical_rerank("silver manganate nanoplate histogram", hits)][0] == "c"  # SMNp = long form
    tie = [_hit("q", "b", "Same", "Same"), _hit("p", "a", "Same", "Same")]
    assert [h.id for h in lexical_rerank("same", tie)] == ["p", "q"]  # label order breaks ties
    assert abbreviations(full)["smnp"] == "silver manganate nanoplates"
    assert "hrtem" in query_terms("HR-TEM image") and "hrtem" in query_terms("HRTEM")


def _plot_with_picture(bar_on_picture: bool) -> Image.Image:
    """A plot-like panel (white, axes, a curve) with a smooth map inside; a black bar + "50 nm" label drawn either on
    the map (as in HyperSpy's EDS map figures) or on the white background (a legend-like line)."""
    import numpy as np

    rng = np.random.default_rng(3)
    img = Image.new("RGB", (420, 300), "white")
    d = ImageDraw.Draw(img)
    d.line([(30, 270), (410, 270)], fill="black", width=1)
    d.line([(30, 10), (30, 270)], fill="black", width=1)
    d.line([(30 + 3 * k, 260 - int(80 * np.sin(k / 9.0) ** 2)) for k in range(120)], fill=(200, 30, 30), width=2)
    tex = (rng.integers(120, 220, (230, 300, 1)) * np.array([[[0.5, 0.7, 1.0]]])).astype(np.uint8)
    img.paste(Image.fromarray(tex).filter(ImageFilter.GaussianBlur(3)), (110, 20))  # a smooth map
    font = ImageFont.truetype(FONT, 16)
    x, y = (225, 160) if bar_on_picture else (60, 40)
    d.rectangle([x, y + 24, x + 80, y + 27], fill=(0, 0, 0))
    d.text((x + 14, y), "50 nm", font=font, fill=(0, 0, 0))
    return img


def test_plot_typed_panel_holding_a_picture_reads_its_bar_strictly() -> None:
    """A panel typed as a plot is not searched as a micrograph, but a clear bar drawn ON a picture inside it (a map in
    a software window) is read when its label reads well; a legend-like line on the white background is not."""
    from matsearch.indexer.figures.panels import holds_picture

    on_map = _plot_with_picture(True)
    assert holds_picture(on_map, "graph")
    (got,) = assign_scales([ScaleTask(crop=on_map, wants=False, strict=True)])
    assert got and got[0].value == 50.0 and got[0].unit == "nm" and got[0].source == "ocr"
    assert got[0].nm_per_px is not None and abs(got[0].nm_per_px - 50 / 81) < 0.1 * 50 / 81
    on_white = _plot_with_picture(False)
    (got,) = assign_scales([ScaleTask(crop=on_white, wants=False, strict=True)])
    assert got == []


def _spectra_with_maps(bar: bool, flat: bool = False) -> Image.Image:
    """A mostly white figure of spectra with three small maps on the right (HyperSpy's EDS factor figure layout): the
    first map carries a thin (1 px) white bar with a "20 nm" label when ``bar``; ``flat`` draws flat-filled boxes
    (bars of a bar chart) instead of textured maps."""
    import numpy as np

    rng = np.random.default_rng(5)
    img = Image.new("RGB", (700, 480), "white")
    d = ImageDraw.Draw(img)
    for k, colour in enumerate([(30, 90, 200), (240, 120, 20), (40, 160, 40)]):
        base = 150 + 120 * k
        d.line(
            [(20 + 4 * i, base - int(60 * np.exp(-(((i - 40 - 15 * k) / 4.0) ** 2)))) for i in range(120)],
            fill=colour,
            width=2,
        )
    d.line([(10, 440), (500, 440)], fill="black", width=1)
    font = ImageFont.truetype(FONT, 13)
    for k in range(3):
        y = 40 + 150 * k
        if flat:
            d.rectangle([540, y, 650, y + 110], fill=(60, 90, 180))
            continue
        yy, xx = np.mgrid[0:110, 0:110]
        grey = 70 + 50 * np.sin(xx / 6.0 + k) * np.cos(yy / 8.0) + rng.normal(0, 6, (110, 110))  # particles
        tex = np.clip(grey, 0, 255)[:, :, None] * np.array([[[0.3, 0.6, 1.0]]])
        img.paste(Image.fromarray(tex.astype(np.uint8)), (540, y))
    if bar:
        d.line([(547, 141), (582, 141)], fill="white", width=1)
        d.text((548, 124), "20 nm", font=font, fill="white")
    return img


def test_pictures_inside_a_mostly_white_plot_panel_are_read_for_bars() -> None:
    """A mostly white plot panel is not searched as a whole, but the pictures drawn inside it (maps beside spectra)
    are: a thin bar whose own label reads as a length gives the panel's nm/px; flat boxes are no pictures, and maps
    without a bar give nothing."""
    from matsearch.indexer.figures.panels import holds_picture
    from matsearch.indexer.figures.scalebar import picture_blocks

    fig = _spectra_with_maps(True)
    assert not holds_picture(fig, "graph") and len(picture_blocks(fig)) == 3
    (got,) = assign_scales([ScaleTask(crop=fig, wants=False)])
    assert got and got[0].value == 20.0 and got[0].unit == "nm" and got[0].source == "ocr"
    assert got[0].nm_per_px is not None and abs(got[0].nm_per_px - 20 / 36) < 0.1 * 20 / 36
    assert got[0].bbox is not None and 540 <= got[0].bbox[0] < 560  # in the panel's pixels
    assert picture_blocks(_spectra_with_maps(False, flat=True)) == []
    # a panel that IS a picture of a kind not searched as a micrograph (an EBSD pattern typed "diffraction") is read
    # with the strict rules: a clear bar with a readable label counts, as on a plot-typed panel holding a picture
    (got,) = assign_scales([ScaleTask(crop=_plot_with_picture(True).crop((110, 20, 410, 250)), wants=False)])
    assert got and got[0].value == 50.0 and got[0].unit == "nm"
    (got,) = assign_scales([ScaleTask(crop=_spectra_with_maps(False), wants=False)])
    assert got == []


def _micrograph(bar_px: int, seed: int) -> Image.Image:
    """A textured grey picture (particles) with a white 4-px scale bar of ``bar_px`` px at the bottom left, no label."""
    import numpy as np

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:180, 0:240]
    grey = 80 + 30 * np.sin(xx / 7.0 + seed) * np.cos(yy / 9.0) + rng.normal(0, 3, (180, 240))
    img = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8)).convert("RGB")
    ImageDraw.Draw(img).rectangle([40, 140, 40 + bar_px - 1, 143], fill=(255, 255, 255))
    return img


def test_a_caption_value_reaches_a_wrongly_typed_micrograph_only_with_evidence_beyond_the_type() -> None:
    """A figure-wide "Scale bar, 100 nm." reaches panels whose type draws no bars (wants=False: a micrograph typed as
    a pattern or a plot): such a panel gets nm/px from a clear bar as long as the bars of the panels that share the
    value, or from a bar whose printed label reads the caption's value; a bar of another length, a lone unlabelled
    bar and a label that reads another value give none."""
    value = (100.0, "nm")
    typed_right = ScaleTask(crop=_micrograph(100, 1), value=value, scope="figure")
    same = ScaleTask(crop=_micrograph(100, 2), wants=False, value=value, scope="figure")
    other = ScaleTask(crop=_micrograph(70, 3), wants=False, value=value, scope="figure")
    r_right, r_same, r_other = assign_scales([typed_right, same, other])
    assert r_right[0].nm_per_px is not None and abs(r_right[0].nm_per_px - 100 / 100) < 0.05
    assert r_same[0].nm_per_px is not None and abs(r_same[0].nm_per_px - 100 / 100) < 0.05
    assert r_same[0].source == "caption"
    assert r_other == []
    (alone,) = assign_scales([ScaleTask(crop=_micrograph(100, 4), wants=False, value=value, scope="figure")])
    assert alone == []
    labelled = _plot_with_picture(True)  # a "50 nm" label printed by an 81-px bar on a picture
    (got,) = assign_scales([ScaleTask(crop=labelled, wants=False, value=(50.0, "nm"), scope="figure")])
    assert got and got[0].nm_per_px is not None and abs(got[0].nm_per_px - 50 / 81) < 0.1 * 50 / 81
    (got,) = assign_scales([ScaleTask(crop=labelled, wants=False, value=value, scope="figure")])
    assert got == []


def test_an_inset_bar_longer_than_the_main_bar_is_told_apart_by_its_printed_label() -> None:
    """A panel with an inset drawn at higher magnification: the inset's bar (2 nm, 101 px) is longer than the main
    bar (50 nm, 60 px). The longest good bar would give the main value to the inset's bar; the printed labels (real
    OCR) say which bar is the caption's 50 nm and which the inset's 2 nm."""
    rng = np.random.default_rng(1)
    img = Image.fromarray(rng.normal(100, 20, (360, 480)).clip(0, 255).astype(np.uint8)).convert("RGB")
    d = ImageDraw.Draw(img)
    d.rectangle((270, 10, 470, 170), fill=(60, 60, 60), outline=(255, 255, 255), width=2)
    d.rectangle((290, 140, 390, 146), fill=(255, 255, 255))
    d.text((310, 112), "2 nm", font=ImageFont.truetype(FONT, 20), fill=(255, 255, 255))
    d.rectangle((30, 320, 89, 326), fill=(255, 255, 255))
    d.text((32, 292), "50 nm", font=ImageFont.truetype(FONT, 20), fill=(255, 255, 255))
    (got,) = assign_scales([ScaleTask(crop=img, value=(50.0, "nm"), scope="label", inset=(2.0, "nm"))])
    assert got[0].value == 50.0 and got[0].nm_per_px is not None and abs(got[0].nm_per_px - 50 / 60) < 0.05
    assert got[1].value == 2.0 and got[1].nm_per_px is not None and abs(got[1].nm_per_px - 2 / 101) < 0.002


def test_caption_parts_7_and_8_through_one_entry_point(tmp_path: Path) -> None:
    """`fetch7` / `fetch8` are `fetch6 --part 7|8`: the same cache files, and `ensure` rewrites a stale one."""
    from bench.real_text import fetch6, fetch7, fetch8

    for n, module in (("7", fetch7), ("8", fetch8)):
        a, b = tmp_path / f"a{n}", tmp_path / f"b{n}"
        assert module.main(["--cache", str(a)]) == 0 and fetch6.main(["--part", n, "--cache", str(b)]) == 0
        name = f"captions{n}.json"
        assert (a / name).read_bytes() == (b / name).read_bytes()
        assert len(json.loads((a / name).read_text("utf-8"))) == len(
            json.loads(fetch6.part_files(n)[0].read_text("utf-8"))
        )
        (a / name).write_text("[]", encoding="utf-8")
        assert module.ensure(a) == a and (a / name).read_bytes() == (b / name).read_bytes()


def _drawing(lines: list[tuple[int, int, int, str]], size: tuple[int, int] = (420, 300)) -> Image.Image:
    """A white schematic: outlined shapes and horizontal bars (x0, y, length) with their text under them."""
    img = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.ellipse((60, 40, 200, 150), outline=(0, 0, 0), width=2)
    draw.rectangle((230, 60, 360, 160), outline=(0, 0, 0), width=2)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 15)
    for x0, y, length, text in lines:
        draw.rectangle((x0, y, x0 + length - 1, y + 4), fill=(0, 0, 0))
        draw.text((x0 + length // 2 - 14, y + 8), text, fill=(0, 0, 0), font=font)
    return img


def test_bar_on_a_schematic_is_read_by_its_own_label() -> None:
    """A panel not searched as a micrograph (a schematic drawn on white) with a clear bar labelled "1 mm" gets nm/px
    from that label; a legend of stacked line samples ("5 nm film", "10 nm film") does not."""
    img = _drawing([(300, 250, 64, "1 mm")])
    out = assign_scales([ScaleTask(crop=img, wants=False)])
    assert out[0] and out[0][0].unit == "mm" and out[0][0].nm_per_px is not None, out
    assert abs(out[0][0].nm_per_px / (1e6 / 64) - 1) < 0.05
    legend = _drawing([(40, 200, 60, "5 nm film"), (40, 240, 60, "10 nm film")])
    assert not any(r.nm_per_px for r in assign_scales([ScaleTask(crop=legend, wants=False)])[0])
