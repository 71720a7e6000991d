"""Keywords from sub-captions: techniques, formulas validated by pymatgen, elements."""

from __future__ import annotations

from matsearch.indexer.figures.keywords import TECHNIQUE_KIND, TECHNIQUES, extract_keywords, technique_pattern


def test_techniques_specific_wins() -> None:
    k = extract_keywords("Filtered HAADF-STEM and EDX mapping image with its FFT pattern; HR-TEM of the edge.")
    assert k["techniques"][:2] == ["HAADF-STEM", "STEM"]
    assert {"EDS mapping", "EDS"} <= set(k["techniques"])
    assert "HRTEM" in k["techniques"] and "FFT" in k["techniques"] and "TEM" not in k["techniques"]
    assert extract_keywords("Scanning electronic microscopy (SEM) images")["techniques"] == ["SEM"]
    assert "XRD" in extract_keywords("X-ray diffraction patterns")["techniques"]


def test_materials_and_elements() -> None:
    k = extract_keywords("HRTEM of Ag2MnO4 nanoplates with Ag nanoparticles and Co3O4/rGO on TiO2, Fe3O4@C")
    assert k["materials"] == ["Ag2MnO4", "Co3O4", "TiO2", "Fe3O4"]
    assert {"Ag", "Mn", "O", "Co", "Ti", "Fe"} <= set(k["elements"])


def test_acronyms_and_conditions_are_not_materials() -> None:
    k = extract_keywords("LSV of BM, PM and SMNp in 0.1 M KOH (ORR, RHE); silver and manganese")
    assert k["materials"] == []
    assert k["techniques"] == ["LSV"]
    assert k["elements"] == ["Ag", "Mn"]


def test_empty() -> None:
    assert extract_keywords("") == {"techniques": [], "materials": [], "elements": []}


def test_voltammetry_spelled_out() -> None:
    assert extract_keywords("Cyclic voltammetry and linear sweep voltammetry of Pt/C")["techniques"] == ["CV", "LSV"]


def test_technique_kinds_and_short_acronyms() -> None:
    assert set(TECHNIQUE_KIND) <= set(TECHNIQUES)
    assert set(TECHNIQUE_KIND.values()) <= {"microscopy", "diffraction", "graph"}
    assert technique_pattern("CV").search("conventional (CV) mice")
    assert not technique_pattern("CV", short_acronyms=False).search("conventional (CV) mice")
    assert technique_pattern("CV", short_acronyms=False).search("cyclic voltammetry curves")
