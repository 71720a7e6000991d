"""Caption distribution: label styles, groups, trailing labels, scale sentences; the CLI; the dev annotations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from matsearch.indexer.figures.captions import expand_label_range, normalize_label, parse_label_list, split_caption

REPO = Path(__file__).resolve().parents[1]
ANN = REPO / "bench" / "annotations" / "figures_text"
DEV_FIGURES = Path("/work/shared/data/dev/figures")


def test_label_helpers() -> None:
    assert normalize_label("(A)") == "a"
    assert normalize_label("d-1") == "d1"
    assert normalize_label("ii.") == "ii"
    assert expand_label_range("a", "d") == ["a", "b", "c", "d"]
    assert expand_label_range("i", "iii") == ["i", "ii", "iii"]
    assert expand_label_range("b1", "b3") == ["b1", "b2", "b3"]
    assert parse_label_list("a, c–e and g") == ["a", "c", "d", "e", "g"]


def test_nature_style_groups_and_scale_sentence() -> None:
    s = split_caption(
        "Formation. a, b Schematic of the process (a) and the effects (b). c–e SEM images of BM (c), PM (d) and "
        "SMNp (e). f HRTEM image of the box in e. FFT of f shows the (001) planes. Scale bars, 5 μm (c), "
        "500 nm (d, e) and 2 nm (f)"
    )
    assert s.shared == "Formation."
    assert s.segments["a"] == s.segments["b"] == "Schematic of the process (a) and the effects (b)."
    assert set(s.segments) == set("abcdef")
    assert s.segments["f"].endswith("FFT of f shows the (001) planes.")  # continuation sentence stays with f
    assert s.scale_by_label == {"c": (5.0, "μm"), "d": (500.0, "nm"), "e": (500.0, "nm"), "f": (2.0, "nm")}
    assert s.scale_for("A") is None and s.scale_for("C") == (5.0, "μm")
    assert "Scale bars" not in " ".join(s.segments.values())


@pytest.mark.parametrize(
    ("caption", "expected"),
    [
        ("Fig. 1. (a) SEM image of X; (b) TEM image of Y.", {"a": "SEM image of X", "b": "TEM image of Y."}),
        ("Figure 4. a) XRD. b,c) XPS of Co 2p (b) and O 1s (c).", {"a": "XRD.", "b": None, "c": None}),
        ("Fig. 3. SEM images after 2 h (a), 4 h (b) and 6 h (c).", {"a": None, "b": None, "c": None}),
        ("Fig. 2 | Graphene. a, Optical image. b, Raman spectrum.", {"a": "Optical image.", "b": "Raman spectrum."}),
        ("Fig. 5. (A) Schematic. (B and C) TEM images.", {"a": "Schematic.", "b": "TEM images.", "c": "TEM images."}),
        ("Figure 5. (i–iii) Time-lapse images. (iv) Diffraction.", {"i": None, "ii": None, "iii": None, "iv": None}),
        ("Fig. 2. (a) HAADF image. (b1–b3) EDS maps.", {"a": "HAADF image.", "b1": "EDS maps.", "b3": "EDS maps."}),
    ],
)
def test_label_styles(caption: str, expected: dict[str, str | None]) -> None:
    s = split_caption(caption)
    assert set(expected) <= set(s.segments), (s.segments, s.explain)
    for label, text in expected.items():
        if text is not None:
            assert s.segments[label] == text


def test_articles_and_cross_references_are_not_labels() -> None:
    s = split_caption("Title. a SEM image. b A HAADF-STEM image of the region in a. c Profile shown in b.")
    assert list(s.segments) == ["a", "b", "c"]
    assert s.segments["b"] == "A HAADF-STEM image of the region in a."


def test_unlabelled_caption_and_caption_wide_scale() -> None:
    s = split_caption("Figure 1. SEM image of the Ag nanowires. Scale bar: 500 nm.")
    assert s.segments == {} and s.shared == "SEM image of the Ag nanowires."
    assert s.scale_default == (500.0, "nm") and s.scale_for("a") == (500.0, "nm")
    assert s.panel_caption("a") == s.full  # unknown label: the full caption


def test_labels_first_scale_sentence_and_reciprocal() -> None:
    s = split_caption("Fig. 3. (a) SEM image. (b) SAED pattern. Scale bars: (a) 200 nm, (b) 5 1/nm.")
    assert s.segments == {"a": "SEM image.", "b": "SAED pattern."}
    assert s.scale_by_label == {"a": (200.0, "nm"), "b": (5.0, "1/nm")}


def test_dev_captions_match_hand_annotation() -> None:
    from bench.eval_figures_text import eval_captions

    result = eval_captions(ANN / "captions_dev.json")
    assert result["segment_accuracy"] == 1.0, result["failures"]
    assert result["scale_value_accuracy"] == 1.0


def test_heldout_captions_reach_target() -> None:
    from bench.eval_figures_text import eval_captions

    assert eval_captions(ANN / "captions_heldout.json")["segment_accuracy"] >= 0.9


def test_cli_caption_split_json_and_stdin(tmp_path: Path) -> None:
    from matsearch.cli.figures_text import caption_group

    runner = CliRunner()
    r = runner.invoke(caption_group, ["split", "--caption", "Title. a SEM image. b TEM image", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["segments"] == {"a": "SEM image.", "b": "TEM image"} and data["shared"] == "Title."
    r = runner.invoke(caption_group, ["split", "--json"], input="(a) XRD. (b) Raman.")
    assert json.loads(r.output)["segments"] == {"a": "XRD.", "b": "Raman."}
    f = tmp_path / "cap.txt"
    f.write_text("Fig. 1 (a) SEM; (b) TEM.", encoding="utf-8")
    r = runner.invoke(caption_group, ["split", "--caption-file", str(f), "--json"])
    assert set(json.loads(r.output)["segments"]) == {"a", "b"}


def test_trailing_labels_in_semicolon_clauses() -> None:
    """Clauses that each end with their own labels are split per clause; inline markers of such a caption ("before
    (c) and after (d)") stay trailing labels; a label opening a parenthesis that goes on with words counts."""
    s = split_caption(
        "XRD patterns of ZnO films grown at 300 °C (a) and 500 °C (b) on glass; Raman spectra of the film before (c) "
        "and after (d) annealing, with the E2 mode marked; SEM images of films grown for 1 h (e), 2 h (f) or 4 h "
        "(g; inset showing the cross-section); all films were 200 nm thick. Scale bars are 1 μm (e, f) or 500 nm (g)."
    )
    assert set(s.segments) == set("abcdefg")
    assert (
        s.segments["a"] == s.segments["b"]
        and s.segments["a"].startswith("XRD patterns")
        and "Raman" not in (s.segments["a"])
    )
    assert s.segments["c"].startswith("Raman spectra") and "SEM" not in s.segments["c"]
    assert s.segments["g"].startswith("SEM images") and s.segments["g"].endswith("200 nm thick.")
    assert s.scale_for("f") == (1.0, "μm") and s.scale_for("g") == (500.0, "nm")
    # one clause naming labels: the sentence stays whole for all of them
    s = split_caption("TEM images of Ag NPs in PBS (a) and in water (b); both were dried at 60 °C.")
    assert s.segments["a"] == s.segments["b"] and s.segments["a"].endswith("60 °C.")


def test_scale_phrases_inset_respectively_length() -> None:
    """A main and an inset statement in one parenthesis; values "respectively" in panel order (only when they match
    the labels one to one); "The length of the scale bar is ..." is a scale sentence."""
    s = split_caption("a, SEM of ZnO (scale bar, 1 µm). b, TEM of TiO2 (scale bar, 5 nm; inset scale bar, 1 nm).")
    assert s.scale_for("b") == (5.0, "nm") and s.scale_inset == {"b": (1.0, "nm")} and s.scale_for("a") == (1.0, "μm")
    s = split_caption("(a) SEM of ZnO. (b) TEM of TiO2. Scale bars are 1 µm and 5 nm, respectively.")
    assert (s.scale_for("a"), s.scale_for("b")) == ((1.0, "μm"), (5.0, "nm"))
    s = split_caption("(a) SEM of ZnO. (b) TEM of TiO2. (c) XRD of both. Scale bars are 1 µm and 5 nm, respectively.")
    assert s.scale_for("a") is None and s.scale_for("c") is None  # two values, three panels: no guess
    s = split_caption("(a) SEM of ZnO. (b) TEM of TiO2. The length of the scale bar is 200 nm.")
    assert s.scale_default == (200.0, "nm") and "length" not in s.segments["b"]


def test_single_capital_before_a_scale_statement_ends_the_sentence() -> None:
    """ "of Y. Scale bar, 5 nm." is an element (or a label) closing a sentence, not an initial: the scale statement
    is read and cut out; a real initial before a surname still does not break the sentence."""
    s = split_caption("(a,b) HRTEM of Y. Scale bar, 5 nm. (c) TEM of Ag doped with N. (d) SEM of the film.")
    assert s.scale_for("a") == (5.0, "nm") and s.scale_for("b") == (5.0, "nm")
    assert s.segments["a"] == "HRTEM of Y." and s.segments["c"] == "TEM of Ag doped with N."
    s = split_caption("(a) TEM image from ref. 3 (by J. K. Smith). (b) SEM.")
    assert s.segments["a"] == "TEM image from ref. 3 (by J. K. Smith)."
    s = split_caption("Images courtesy of J. Smith. (a) TEM. (b) SEM.")
    assert s.shared == "Images courtesy of J. Smith." and s.segments["b"] == "SEM."


def test_suspended_hyphen_takes_the_shared_head() -> None:
    """ "(a) low- and (b) high-magnification SEM images of X": a's own text is half a word, the head is written once
    for both; whole words keep their own text ("(a) charge profiles and (b) cycling performance of the cell")."""
    s = split_caption("(a) Low- and (b) high-magnification SEM images of the ZnO film. (c) EDS spectrum.")
    assert s.segments["a"] == "Low-magnification SEM images of the ZnO film." and s.segments["c"] == "EDS spectrum."
    s = split_caption("(a) Low-, (b) medium- and (c) high-resolution TEM of X. (d) XRD.")
    assert s.segments["a"] == "Low-resolution TEM of X." and s.segments["b"] == "medium-resolution TEM of X."
    s = split_caption("Cells. (a) Charge/discharge profiles and (b) cycling performance of the full cell.")
    assert s.segments["a"] == "Charge/discharge profiles"
    s = split_caption("a, Bright-field and b, dark-field TEM images of the grains. c, SAED pattern.")
    # parallel compounds with one second part ("Bright-field" / "dark-field") share the head written once
    assert s.segments["b"] == "dark-field TEM images of the grains."
    assert s.segments["a"] == "Bright-field TEM images of the grains."
    s = split_caption("(a) Low-magnification and (b) high-magnification SEM images of the film; (c) EDS spectrum.")
    assert s.segments["a"] == "Low-magnification SEM images of the film" and s.segments["c"] == "EDS spectrum."
    s = split_caption("SEM micrographs of (a) as-cast, (b) annealed at 500 °C and (c) annealed at 700 °C samples.")
    assert "500" not in s.segments["a"] and "700" not in s.segments["b"]


def test_continued_marks_and_legends_before_a_closing_note_are_shared() -> None:
    """ "... period) Figure 6 continued on next page" (PDF/TEI text without a full stop) is a note of its own; an
    abbreviation legend with its own full stops right before "Error bars ..." closes the caption too."""
    s = split_caption("Motility. (a) Setup. (b) Analysis of the colons (for frequency) Figure 6 continued on next page")
    assert s.segments["b"] == "Analysis of the colons (for frequency)" and "continued" in s.shared
    s = split_caption(
        "Macrophages. (A) Staining. (B) Counts per mouse. Sm. int., mouse small intestine; Error bars represent SEM."
    )
    assert s.segments["b"] == "Counts per mouse." and s.shared.endswith("Error bars represent SEM.")


def test_fused_labels_prose_labels_and_notes_that_name_labels_again() -> None:
    """ "cd, X" is c and d with the comma lost; "d shows the details ..." opens more text for d; a later bare note
    naming labels already described ("a–c, Experiments were repeated ...") goes to those labels, not elsewhere."""
    s = split_caption(
        "Model. a, Masks. b, Flows. cd, A network predicts flows. d shows the details of the network. e, Test time."
    )
    assert s.segments["c"] == "A network predicts flows."
    assert s.segments["d"] == "A network predicts flows. shows the details of the network."
    assert s.segments["b"] == "Flows." and s.segments["e"] == "Test time."
    s = split_caption("Growth. a, Day 1. b, Day 2. c, Day 3. a–c, Experiments were repeated three times.")
    assert s.segments["a"] == "Day 1. Experiments were repeated three times." and s.segments["c"].startswith("Day 3.")
    s = split_caption("a, SEM of a small grain. b, TEM.")
    assert s.labels == ["a", "b"]


def test_fused_label_runs_continue_the_sequence_and_lower_case_abbreviations_go_on() -> None:
    """A run of consecutive letters at a clause start is a fused label list only where it continues the label
    sequence ("cde, EDS maps" after b; "de, ..." after b is prose); a lower-case word with its own full stop after a
    full stop ("Sm. int., mouse ...") is the second word of an abbreviation, so the legend stays one sentence."""
    s = split_caption("Maps. a, SEM. b, TEM. cde, EDS maps of Fe, Co and Ni. f, Spectrum.")
    assert s.labels == ["a", "b", "c", "d", "e", "f"] and s.segments["d"] == "EDS maps of Fe, Co and Ni."
    s = split_caption("Maps. a, SEM. b, TEM. de, Not labels here. c, XRD.")
    assert s.labels == ["a", "b", "c"] and "de, Not labels here." in s.segments["b"]
    s = split_caption("Cells. (A) Staining. (B) Counts. Sm. int., small intestine; Lg. int., colon; Error bars, SEM.")
    assert s.segments["b"] == "Counts." and s.shared.endswith("Error bars, SEM.")


def test_scale_values_named_by_words_that_are_no_labels_and_respectively() -> None:
    """ "TEM of X (scale bar, 2 μm)": X is no panel label of the caption, so the value goes to the panel whose text
    it sits in (it used to go to a label "x"); "in (a) and (b) are 100 nm and 20 nm, respectively" pairs in order."""
    s = split_caption("Morphology. a, SEM of X (scale bar, 2 μm). b, TEM of X (scale bar = 20 nm).")
    assert s.scale_for("a") == (2.0, "μm") and s.scale_for("b") == (20.0, "nm") and "x" not in s.scale_by_label
    s = split_caption(
        "Morphology. (a) SEM of X. (b) TEM of X. Scale bars in (a) and (b) are 100 nm and 20 nm, respectively."
    )
    assert s.scale_for("a") == (100.0, "nm") and s.scale_for("b") == (20.0, "nm")
    s = split_caption("Particles. a, Seeds. b, Grown. d, SAED. The scales are identical in a,d, (scale bar, 100 nm).")
    assert s.scale_for("a") == (100.0, "nm") and s.scale_for("d") == (100.0, "nm") and s.scale_for("b") is None


def test_main_and_inset_lengths_in_one_statement_label_lengths_and_bars() -> None:
    """One statement with a main and an inset length gives each its own role (the main value used to be taken for
    the inset's); "Scale bars: a, 1 µm; b, 200 nm" pairs labels with lengths instead of opening segment b; "Bars,
    10 µm" is a scale statement only with a length right after it."""
    s = split_caption("Cells. (a) Control. (b) Treated. Scale bars, 2 µm and 5 nm (inset).")
    assert s.scale_for("a") == (2.0, "μm") and s.scale_inset.get("b") == (5.0, "nm")
    s = split_caption("Cells. (a) Control. (b) Treated. Scale bar, 2 µm; inset, 500 nm.")
    assert s.scale_default == (2.0, "μm") and s.scale_inset.get("b") == (500.0, "nm")
    s = split_caption("Cells. (a) Control. (b) Treated. Scale bars: 1 µm (a), 0.5 µm (b), 2 nm (insets).")
    assert s.scale_for("a") == (1.0, "μm") and s.scale_for("b") == (0.5, "μm") and s.scale_inset.get("b") == (2.0, "nm")
    s = split_caption("Cells. (a) Control. (b) Treated. Scale bars: a, 1 µm; b, 200 nm.")
    assert s.segments["b"] == "Treated." and s.scale_for("b") == (200.0, "nm") and s.scale_for("a") == (1.0, "μm")
    s = split_caption("Cells. (a) X. Scale bar, 5 nm; (b) Y. Scale bar, 5 nm.")
    assert s.segments == {"a": "X.", "b": "Y."}
    assert split_caption("Cells. (a) Control. (b) Treated. Bars, 10 µm.").scale_default == (10.0, "μm")
    s = split_caption("Cells. (a) Control. (b) Treated. Bars: 1, control; 2, drug.")
    assert s.scale_default is None and "Bars: 1, control" in s.segments["b"]


def test_parenthesised_symbols_that_start_no_label_sequence_are_not_labels() -> None:
    """Symbols "(n)" and "(k)" name quantities, not panels: panel labels start at "a" (or "i"); "(a)" and "(b)"
    written after their text still are labels."""
    s = split_caption("The extracted refractive index (n) and the extinction coefficient (k) of the film.")
    assert s.labels == [] and s.shared.startswith("The extracted refractive index (n)")
    s = split_caption("Spectra of the film as grown (a) and after annealing (b).")
    assert s.labels == ["a", "b"]


def test_bare_labels_before_greek_capitals_and_after_an_opening_note() -> None:
    """A bare "g" before "Ω used to form ..." opens g (a capital of any script follows the label); a parenthesised
    note that opens the caption ("(Reprinted with permission ...) a–c ...") ends a clause, so the bare list after it
    is a marker."""
    s = split_caption("Shapes. a Cone shapes. b Ω used to form the structures. c Values of β.")
    assert s.segments["b"] == "Ω used to form the structures."
    s = split_caption("(Reprinted with permission from a society [91]) a–c HAADF images of rods. d Ratio of Cd.")
    assert s.segments["b"] == "HAADF images of rods." and s.segments["d"] == "Ratio of Cd."
    assert s.shared.startswith("(Reprinted")


def test_sentence_scope_follows_the_labels_a_sentence_names() -> None:
    """A later sentence that names panels after "in"/"of" speaks for those panels ("The results in (A) and (B) are
    ...", "The inset in (b) shows ..."), not for the panel whose text it follows; "as in (a)" is a comparison."""
    s = split_caption(
        "Fig. 5. Models. (A) Velocity. (B) Sinkage. (C) Zones of influence. (D) Strain rate for slow wheels. "
        "The results in (A) and (B) are nondimensionalized as in Fig. 3."
    )
    assert s.segments["d"] == "Strain rate for slow wheels."
    assert s.segments["a"].endswith("are nondimensionalized as in Fig. 3.") and "nondimensionalized" in s.segments["b"]
    s = split_caption("(a), (b) HRTEM images. The inset in (b) shows a simulated image. (c) FFT of the image in (b).")
    assert s.segments["a"] == "HRTEM images." and s.segments["b"].endswith("The inset in (b) shows a simulated image.")
    s = split_caption("(a) Film A. (b) Film B after 2 h. The grains are larger, as in (a).")
    assert s.segments["b"].endswith("as in (a).") and s.segments["a"] == "Film A."
    # a mention inside the predicate after a participle names a panel the sentence compares with: it stays
    s = split_caption("(a) Film. (b) Grains. (c) EDS map. The Cu signal follows the particles shown in (b).")
    assert s.segments["c"].endswith("shown in (b).") and s.segments["b"] == "Grains."
    s = split_caption("(a) Film. (b) Grains. (c) EDS map. The inset shown in (a) is a photograph.")
    assert s.segments["a"].endswith("is a photograph.") and s.segments["c"] == "EDS map."


def test_labels_in_prose_and_labels_after_their_text_inside_a_panel() -> None:
    """ "shown in (g)" names g only in prose: g takes the sentence (and never opens text at ", at ..."); labels written
    after their text inside another panel's piece ("for velocity (B) and sinkage (C)") open the new panels' text."""
    s = split_caption(
        "(e) Skeletal graphs. (f) A 3D model obtained by joining two copies, shown in (g), at {111} + 0.5."
    )
    assert (
        s.segments["f"] == s.segments["g"] == "A 3D model obtained by joining two copies, shown in (g), at {111} + 0.5."
    )
    s = split_caption(
        "Fig. 7. Running. (A) Strain at increasing ω. See movie S8. Solutions for translational velocity (B) and "
        "sinkage (C) versus ω. The results in (B) and (C) are nondimensionalized."
    )
    assert s.segments["a"] == "Strain at increasing ω. See movie S8."
    assert s.segments["b"] == s.segments["c"] and s.segments["b"].endswith("are nondimensionalized.")
    s = split_caption("Morphology of the islands (a); height profile along the line in (a) (b); and density (c).")
    assert s.segments["b"] == "height profile along the line in (a) (b)" and "density" in s.segments["c"]


def test_lead_in_groups_ranges_with_to_and_publisher_notes() -> None:
    """After a lead-in, short coordinated fragments share the fragment that carries the sentence on ("Variation of (A)
    X and (B) Y from experiments"); value lists ("with (a) y = 0, (b) y = 0.012 mol%") share nothing. "(G to I)" is a
    range; a reprint note stays shared wherever it stands; a closing legend of symbols is shared unless the last
    panel's own text is a legend too; a lead-in ending in ":" after the first panel goes to its labels."""
    s = split_caption("Variation of (A) translation velocity and (B) sinkage from experiments (blue). (C) Flow field.")
    assert s.segments["a"].endswith("sinkage from experiments (blue).") and "translation" not in s.segments["b"]
    s = split_caption("TEM of the NPs with (a) y = 0, (b) y = 0.012 mol%, and (c) y = 0.159 mol%.")
    assert "0.159" not in s.segments["a"]
    s = split_caption("(A) SEM. (B and C) TEM images. (D to F) EDS maps. Scale bars, 100 nm (B and C and D to F).")
    assert s.segments["e"] == "EDS maps." and s.scale_for("e") == (100.0, "nm") and s.scale_for("a") is None
    s = split_caption(
        "(a) SEM image; (b) TEM image. Reprinted with permission from [12]. Copyright 2019 Elsevier. (c) XRD."
    )
    assert s.segments["b"] == "TEM image." and s.shared.startswith("Reprinted")
    s = split_caption(
        "Structure. (a) Top view and (b) side view. Red and cyan circles represent O and Fe, respectively."
    )
    assert s.segments["b"] == "side view." and s.shared.endswith("respectively.")
    s = split_caption("(a) Benchmark. (b) Experiments. Each point represents one run. Symbols represent the solvent.")
    assert s.segments["b"].endswith("Symbols represent the solvent.")
    s = split_caption("Process: (a) polishing. Examples of structures: (b) nanopores, and (c) nanotubes.")
    assert s.segments["c"].startswith("Examples of structures") and s.shared.startswith("Process")
    s = split_caption("SEM of (a) X rods and (b) Y wires. (a,b) Reprinted with permission from [12]. (c) XRD patterns.")
    assert s.segments["a"] == "SEM of X rods" and s.shared.startswith("(a,b) Reprinted")
    s = split_caption("(a) TEM image. (b) HRTEM image. The white and black scale bars are 100 and 5 nm, respectively.")
    assert "scale bars" not in s.segments["b"]


def test_a_sequence_that_starts_again_inside_a_panel_enumerates_items_of_that_panel() -> None:
    """ "(b) supercell model with four configurations: (a) X, (b) Y, (c) Z, and (d) W" draws four items in panel b: no
    panels c and d, the items stay in b's text; the publishers' colour note is shared."""
    s = split_caption(
        "Figure 2. (a) Schematic structure; (b) supercell model with four configurations: (a) Fe-on-C, (b) Fe-on-Ti, "
        "(c) Fe-bridge-C, and (d) Fe-bridge-Ti. (For interpretation of the references to colour in this figure "
        "legend, the reader is referred to the web version of this article.)"
    )
    assert s.labels == ["a", "b"] and "Fe-bridge-Ti" in s.segments["b"] and s.shared.startswith("(For interpretation")
    s = split_caption("(a) Film. (b) Film after 2 h. (a) and (b) share the colour scale.")
    assert "c" not in s.labels


def test_panels_named_by_position_in_a_caption_without_letters() -> None:
    """ "Left: X. Right: Y." / "Top, X; bottom, Y" / "(Top left) X. (Bottom) Y." name panels by position (for a figure
    printed without letters); positions inside a sentence ("(left)", "(right)") and a lone "Left:" are not a layout,
    and a caption with letter labels keeps its letters."""
    s = split_caption("Figure 3. Morphology. Left: SEM image of the film. Right: TEM image of a grain.")
    assert s.positions == {"left": "SEM image of the film.", "right": "TEM image of a grain."} and s.labels == []
    assert s.position_caption("Left") == "Morphology. SEM image of the film." and s.position_caption("top") is None
    assert split_caption("Maps. Top, Raman spectra; bottom, PL maps.").positions == {
        "top": "Raman spectra",
        "bottom": "PL maps.",
    }
    assert set(split_caption("(Top left) SEM. (Top right) EDS map. (Bottom) XRD.").positions) == {
        "top left",
        "top right",
        "bottom",
    }
    assert split_caption("Probe (left). The images (right) come from the dot (middle).").positions == {}
    assert split_caption("Left: a photograph of the cell.").positions == {}
    s = split_caption("(a) SEM (top) and TEM (bottom) images. (b) XRD.")
    assert s.positions == {} and s.labels == ["a", "b"]


def test_bold_labels_in_plain_text() -> None:
    """Bold labels as plain text keeps them: markdown marks ("**a** SEM", "**(b)**", "*c*") are dropped around labels
    only ("**P < 0.005" stays); bold labels glued to their text by HTML-to-text ("growth.aTEM image …;bHRTEM …;chigh-
    resolution …") get their space back when the glued letters run a, b, c; "b, I-V curves" is b's text, not a list
    "b, I–V"."""
    s = split_caption("Fig. 2 **a** SEM image of the film. **b** TEM image. *c*, SAED pattern. *P < 0.05, **P < 0.005.")
    assert s.segments["a"] == "SEM image of the film." and s.segments["c"] == "SAED pattern." and "**P" in s.shared
    s = split_caption("Figure 1. **(a)** XRD patterns; **(b)** SEM image of the powder.")
    assert s.segments == {"a": "XRD patterns", "b": "SEM image of the powder."}
    s = split_caption(
        "Growth.aTEM image of new particles;bHRTEM image of section B in (a);chigh-resolution TEM image;dmagnified A"
    )
    assert s.segments["b"] == "HRTEM image of section B in (a)" and s.segments["c"] == "high-resolution TEM image"
    assert s.labels == ["a", "b", "c", "d"]
    assert split_caption("The values are in Tab. 2.It shows e.g.The case.").labels == []
    s = split_caption("Fig. 3 | Devices. a, Optical image. b, I-V curves. c, Transfer curves.")
    assert s.segments == {"a": "Optical image.", "b": "I-V curves.", "c": "Transfer curves."}


def test_half_parenthesised_runs_parallel_heads_and_sentences_between_trailing_labels() -> None:
    """ ", a) X, b) Y, and c) Z" inside a sentence are markers (a run in sequence; the lead-in goes to each); in
    "(a) The manifold demonstrates A site atoms and (b), B site atoms as ...", b takes the shared head (its tail is not
    handed back to a, as the dev annotations keep "(a) Top view and (b) side view of X" apart); a sentence between
    two sentences that name their labels after the text goes on with the labels before it."""
    s = split_caption("Histograms at varying pixel sizes, a) overall distribution, b) 0–50 µm² range, and c) 0–10 µm².")
    assert s.segments["b"] == "Histograms at varying pixel sizes 0–50 µm² range" and s.labels == ["a", "b", "c"]
    s = split_caption(
        "(a) The manifold of the VAE shows A site atoms and (b), B site atoms as structure. (c) Clusters."
    )
    assert s.segments["b"] == "The manifold of the VAE shows B site atoms as structure."
    assert s.segments["a"] == "The manifold of the VAE shows A site atoms"
    assert split_caption("Structure. (a) Top view and (b) side view of the surface.").segments["a"] == "Top view"
    s = split_caption(
        "Artifacts. Early sections (A) show folds. These arise before equilibrium. Later sections (B) are flat."
    )
    assert s.segments["a"].endswith("These arise before equilibrium.") and s.shared == "Artifacts."
    s = split_caption(
        "Artifacts. Early sections (A) show folds. Later sections (B) are flat. All sections are 70 nm thick."
    )
    assert s.shared.endswith("70 nm thick.")


def test_springer_and_nature_label_styles_of_session_8() -> None:
    """Bare label lists as sentence subjects ("a and b show ..."), labels opening the items of a parenthesis after a
    lead-in, a label sequence that jumps over labels named only in a scale sentence, "mean ± s.d. i ..." sentence
    breaks, and a list of values that takes the unit of its last item."""
    s = split_caption("Figure 1. a and b show the clusters on the substrate. c Early nucleation. d and e show wires.")
    assert s.labels == ["a", "b", "c", "d", "e"]
    assert s.segments["b"] == "show the clusters on the substrate." and s.segments["e"] == "show wires."
    s = split_caption(
        "Fig. 2: Particles. STEM images and EDX maps of the C, O and Fe elements (a SE: secondary electrons, b BF: "
        "bright field, c, d HAADF: dark field). i Size distribution of the particles. Scale bar in a–d, 100 nm. "
        "Scale bar in e–h, 50 nm."
    )
    # e–h, named only by the scale sentence, take the lead-in of the group before them (session 9)
    assert s.labels == ["a", "b", "c", "d", "i", "e", "f", "g", "h"]
    assert s.segments["f"] == "STEM images and EDX maps of the C, O and Fe elements"
    assert s.segments["b"].startswith("STEM images and EDX maps") and s.segments["b"].endswith("BF: bright field")
    assert s.scale_for("b") == (100.0, "nm") and s.scale_for("f") == (50.0, "nm") and s.scale_for("i") is None
    s = split_caption("Sizes. a Diameter of the rods. The data are shown as the mean ± s.d. b Length of the rods.")
    assert s.labels == ["a", "b"]  # the break after "s.d." opens b
    assert s.segments["b"] == "Length of the rods."
    s = split_caption("STM images after growth for (a) 5, (b) 10, (c) 25, and (d) 50 min. The rate was 0.2 ML/min.")
    assert s.segments["a"] == "STM images after growth for 5 min" and s.segments["d"].endswith("50 min.")
    assert s.shared == "The rate was 0.2 ML/min."  # after a list of short items, the closing sentence is everyone's


def test_prose_scale_statements_of_session_8() -> None:
    """ "Scales in figure (a), (d) ... are 2 μm, whereas in figures (b) and (c), the scale is 500 nm and 200 nm,
    respectively"; a scale list naming labels that the caption gives text in prose only; reciprocal bars stay
    reciprocal."""
    s = split_caption(
        "a and b show clusters. c Early stage. d and e show wires. Scales in figure (a), (d), and (e) are 2 μm, "
        "whereas in figures (b) and (c), the scale is 500 nm and 200 nm, respectively."
    )
    assert [s.scale_for(x) for x in "abcde"] == [(2.0, "μm"), (500.0, "nm"), (200.0, "nm"), (2.0, "μm"), (2.0, "μm")]
    s = split_caption(
        "TEM. The micrographs (a) and (c) show the coating. (b) SAED pattern of the region in (a). The top view in (d) "
        "shows the columns. The scale bars in (a) and (c) are 10 nm, in (b) 5 nm−1, and in (d) 200 nm."
    )
    assert s.scale_for("a") == (10.0, "nm") and s.scale_for("d") == (200.0, "nm") and s.scale_for("b") == (5.0, "1/nm")


def test_bare_labels_in_prose_of_a_nature_caption() -> None:
    """With bold labels lost ("a HRTEM image ..."), later sentences name panels by bare letters: new ones written after
    their text ("... particle b and for a pure particle c, neither ...") open their text, and "in b" in a sentence's
    subject sends the sentence to b; "in a 13 nm-thick flake" is the article."""
    s = split_caption(
        "Fig. 4: Surface layers. a HRTEM image of a 2 monolayer particle in a 13 nm-thick flake. No change was seen. "
        "Also shown for a thin particle b and for a pure particle c, neither of which changes. "
        "The bright arrows in b indicate rows. The fringes in c stem from a particle below."
    )
    assert s.labels == ["a", "b", "c"]
    assert s.segments["a"].endswith("No change was seen.") and "arrows" not in s.segments["a"]
    assert s.segments["b"].endswith("The bright arrows in b indicate rows.") and "fringes" in s.segments["c"]


def test_bare_labels_inside_sentences_and_shared_bar_statements() -> None:
    """In a caption whose labels are all bare letters, later letters inside a sentence continue the sequence ("b X and
    Y, c aspect ratio, and d grain size as a function of Z"; "as functions of average e angle, f aspect ratio, and g
    grain size"); "Figures (a) and (b) share the scale bar which is 10 μm" ties the value to both."""
    s = split_caption(
        "Fig. 2: Grains. a SEM images of the particles. b Relationship between aspect ratio and orientation, c aspect "
        "ratio, and d grain size as a function of oxidation state. Summaries of retention as functions of average e "
        "angle, f aspect ratio, and g grain size. Figures (a) and (b) share the scale bar which is 10 μm."
    )
    assert s.labels == list("abcdefg")
    assert s.segments["g"] == "Summaries of retention as functions of average grain size."
    assert s.scale_for("a") == (10.0, "μm") and s.scale_for("b") == (10.0, "μm") and s.scale_for("c") is None


def test_group_items_named_by_trailing_labels() -> None:
    """A group marker whose sentence ends in items each followed by its labels gives each label its own item."""
    s = split_caption("Fig. 3: Rods. a Schematics. b–d SEM images of rods at: 5 mM (b), 15 mM (c), and 25 mM (d).")
    assert s.segments["c"] == "SEM images of rods at: 15 mM" and s.segments["a"] == "Schematics."


def test_letter_and_number_labels_after_single_letters() -> None:
    """Two-character labels after single letters ("b1", "ii") go through the label-sequence checks."""
    assert split_caption("a SEM of X. b1 TEM of Y. b2 HRTEM.").labels == ["a", "b1", "b2"]
    assert split_caption("a X. b Y. c1 Z. c2 W. Scale bar in c1, 5 nm.").scale_for("c1") == (5.0, "nm")


def test_group_members_named_before_their_items() -> None:
    """A group marker whose sentence names each member before its item after a lead-in ("at (j) low, (k) moderate and
    (l) high X") gives each member the head, its item and the shared tail; trailing labels ("the BM (c), PM (d)")
    leave the sentence whole with its group."""
    s = split_caption(
        "Fig. 3: Rods. h Diameters. i Lengths. j–l Schematic of silica on AuNSs at (j) low, (k) moderate and (l) high "
        "4-MPAA concentrations. Source data are provided."
    )
    assert s.labels == ["i", "j", "k", "l"] or s.labels[-3:] == ["j", "k", "l"]
    assert s.segments["j"] == "Schematic of silica on AuNSs at low 4-MPAA concentrations."
    assert s.segments["l"] == "Schematic of silica on AuNSs at high 4-MPAA concentrations."
    s = split_caption("a X. b Y. c–e SEM images of the BM (c), PM (d), and SMNp (e) showing plates.")
    assert s.segments["c"] == s.segments["e"] and "PM" in s.segments["c"]


def test_letters_named_only_in_a_scale_statement_take_the_lead_in() -> None:
    """Letters in a gap of the label sequence that only a scale statement names take the lead-in of the group before
    the gap; without a lead-in they get nothing."""
    s = split_caption(
        "Fig. 2: Title. The STEM images and EDX maps of the C, P, O and Fe elements (a SE: secondary, b BF: bright "
        "field, c DF: dark field). g The size distribution. h FT-IR spectra. Scale bar in a–c, 100 nm. Scale bar in "
        "d–f, 50 nm."
    )
    assert s.segment("e") is not None and "EDX maps" in (s.segment("e") or "")
    assert s.scale_for("e") == (50.0, "nm")
    s = split_caption("a SEM of X. e TEM of Y. Scale bar in b–d, 5 nm.")
    assert s.segment("c") is None


def test_bare_letters_in_prose_name_the_next_panels() -> None:
    """ "(a, b) Set-up and STEM image, depicting the impact parameters of the spectra of c, d, respectively, ...": a
    bare list after "of" that continues the labels names panels c and d; a lone letter without "respectively" does
    not ("the value of c, the lattice constant")."""
    s = split_caption(
        "EELS versus impact parameter. (a, b) Theoretical set-up and STEM image, depicting the impact parameters "
        "considered in the simulated and measured EELS spectra of c, d, respectively, acquired from a particle. "
        "Scale bar, 10 nm."
    )
    assert s.labels == ["a", "b", "c", "d"]
    assert split_caption("(a) XRD of the film. (b) The value of c, the lattice constant, against x.").labels == [
        "a",
        "b",
    ]
