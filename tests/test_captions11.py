"""Session 11 (figtext) caption grammar: labels written after their items that fill a gap in the sequence, a label
closing its sentence, symbol tuples, prose label lists inside a sentence, and "for (a), (b)" subjects."""

from matsearch.indexer.figures.captions import split_caption


def test_labels_after_their_items_fill_the_gap_after_the_marker() -> None:
    # "a ... . X (b) and Y (c) of Z. d ...": b and c have no marker of their own and follow a
    s = split_caption(
        "Structure of the cathode. a XRD refinement of the powder. Ni K-edge XANES spectrum (b) and Fourier "
        "transform EXAFS spectrum (c) of both samples. d Raman spectra of both samples."
    )
    assert s.labels == ["a", "b", "c", "d"]
    assert "XANES" not in (s.segment("a") or "")
    assert "XANES" in (s.segment("b") or "") and "EXAFS" in (s.segment("c") or "")


def test_a_label_closing_its_sentence_names_the_words_before_it() -> None:
    s = split_caption(
        "Single atoms. a HAADF image of the catalyst, together with the 3D profile of the local structure (b). "
        "c Schematic of the tomography set-up."
    )
    assert "3D profile" in (s.segment("b") or "")
    assert "Schematic" not in (s.segment("b") or "")


def test_symbol_tuples_are_not_labels() -> None:
    s = split_caption(
        "Probe positions. a SEM image of the wall. b TEM image of the wall. The probed points are (x, z) = (8.3, "
        "34.6) mm and (15, 32.8) mm."
    )
    assert s.labels == ["a", "b"]
    # labels written after their text (no leading markers): the tuple is no label either
    s = split_caption(
        "Probe positions. SEM image of the wall (a) and TEM image of the wall (b). The probed points are (x, z) = "
        "(8.3, 34.6) mm and (15, 32.8) mm."
    )
    assert "x" not in s.labels and "z" not in s.labels


def test_prose_label_lists_inside_a_sentence() -> None:
    s = split_caption(
        "SEM of the printed parts. High magnification images a, b, and c are the side view of the samples, while d, "
        "e, and f show the top view of the samples. g Comparison of cooling rates."
    )
    assert s.labels == ["a", "b", "c", "d", "e", "f", "g"]
    assert "side view" in (s.segment("b") or "") and "top view" not in (s.segment("b") or "")
    assert "top view" in (s.segment("e") or "") and "High magnification images" in (s.segment("e") or "")
    assert not (s.segment("a") or "").endswith("while")
    # lattice constants are not panels: no plural noun of figure parts before the letters
    assert split_caption("Crystal data. The lattice constants a and b are 3.2 and 5.1 Å at 300 K.").labels == []


def test_a_for_subject_sends_a_closing_sentence_to_its_labels() -> None:
    s = split_caption(
        "STM data. (a) The raw image. (b) Zoom-in on the marked area. (c) The published image. (d) High-pass filter "
        "of (b). (e) Current image of (b). The colour ranges for (a), (b) and (d) run linearly from the highest to the "
        "lowest pixel."
    )
    assert "colour ranges" in (s.segment("a") or "") and "colour ranges" in (s.segment("d") or "")
    assert "colour ranges" not in (s.segment("e") or "")


def test_a_the_subject_of_bare_letters_sends_the_sentence_to_them() -> None:
    s = split_caption(
        "Boundary structure. a HRTEM image of the boundary. b A segment of the boundary in a. c Fine structure of the "
        "first interface. d Fine structure of the second interface. The c and d are acquired from the places marked "
        "in b, respectively. Zone axis, [2-1-10]."
    )
    assert "acquired" in (s.segment("c") or "") and "acquired" in (s.segment("d") or "")
    assert "acquired" not in (s.segment("b") or "")


def test_labels_after_a_figure_noun_in_the_subject_send_the_sentence_to_them() -> None:
    s = split_caption(
        "SEM of the printed parts. High magnification images a, b, and c are the side view of the samples, while d, "
        "e, and f show the top view. Some original SEM images (a–c) are reprinted from ref. 74. g Cooling rates."
    )
    assert "reprinted" in (s.segment("a") or "") and "reprinted" in (s.segment("c") or "")
    assert "reprinted" not in (s.segment("e") or "")


def test_a_second_note_of_the_same_build_goes_on_with_the_member_named_before() -> None:
    s = split_caption(
        "Interfaces. a HAADF image of the interface. b, c The FFT pattern (b) and inverse FFT image (c) of the "
        "interface. The silver square in (b) is applied to mark the Ag spots. The yellow circle is applied to mark the "
        "CdS spots. d HAADF image of the second interface."
    )
    assert "yellow circle" in (s.segment("b") or "")
    assert "yellow circle" not in (s.segment("c") or "")
