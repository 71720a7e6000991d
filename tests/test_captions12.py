"""Session 12 (figtext) caption grammar: bold labels that HTML-to-text glued to their words (the space after the
label lost, "… rod. bHRTEM image …", or both spaces, "rod.bHRTEM"), glued label lists and ranges ("b–dTEM"), a glued
letter that only continues the caption's other labels ("a and b show … . cEarly stage … . d and e show …"), and
range dashes lost before a number or after a parenthesis ("ac 3D structures", "[12]) ac STEM images")."""

from matsearch.indexer.figures.captions import split_caption


def test_glued_labels_after_a_full_stop_and_its_space() -> None:
    s = split_caption(
        "Fig. 2: Growth of the rods. aHRTEM image of a TiO2 rod. bA schematic of the cell. cSAED pattern of the rod."
    )
    assert s.labels == ["a", "b", "c"]
    assert s.segment("a") == "HRTEM image of a TiO2 rod."
    assert s.segment("b") == "A schematic of the cell."
    assert s.segment("c") == "SAED pattern of the rod."
    assert s.shared == "Growth of the rods."


def test_glued_label_lists_and_ranges() -> None:
    s = split_caption(
        "Morphology.aSEM image of the film.b–dTEM images after 1, 2 and 3 h of growth.e, fXRD patterns of both films."
    )
    assert s.labels == ["a", "b", "c", "d", "e", "f"]
    assert "TEM images after" in (s.segment("c") or "")
    assert "XRD" in (s.segment("f") or "") and "XRD" not in (s.segment("d") or "")


def test_a_lone_glued_letter_that_continues_the_labels() -> None:
    s = split_caption(
        "Nucleation. a and b show the clusters on the substrate. cEarly stage of wire growth from the clusters. "
        "d and e show the final wires."
    )
    assert s.labels == ["a", "b", "c", "d", "e"]
    assert (s.segment("c") or "").startswith("Early stage")
    assert "Early" not in (s.segment("b") or "")


def test_a_glued_letter_that_continues_nothing_is_a_word() -> None:
    s = split_caption(
        "Cell response. (a) Viability at pH 7.4. mRNA levels of the treated cells. (b) Uptake of the rods."
    )
    assert s.labels == ["a", "b"]
    assert "mRNA levels" in (s.segment("a") or "")


def test_lost_range_dashes_before_a_number_and_after_a_parenthesis() -> None:
    s = split_caption(
        "Shapes. ac 3D structures at the swelled state: cap (a), saddle (b) and cone (c). df Reconstructed images "
        "of the cap (d), saddle (e) and cone (f) in ac. g Profile used for the structures in ac. h Angle of the cone."
    )
    assert s.labels == ["a", "b", "c", "d", "e", "f", "g", "h"]
    assert (s.segment("b") or "").startswith("3D structures")
    assert (s.segment("g") or "").startswith("Profile")
    assert "Profile" not in s.shared
    t = split_caption(
        "(Adapted from ref. [12]) ac STEM images of the rods with dots inside. d Shell thickness against time. "
        "e Photoluminescence spectra."
    )
    assert t.labels == ["a", "b", "c", "d", "e"]
    assert (t.segment("b") or "").startswith("STEM images")
