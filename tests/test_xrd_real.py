"""Real measured patterns end to end (real instrument files, real library sources, real store, real API and CLI):
a PANalytical .xrdml of α-quartz read with its own wavelength and identified; a MOF absent from the library
abstained; the hit payload carries what the web page draws."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from matsearch.core.settings import Settings
from matsearch.indexer.library import BuildOptions, build_libraries
from matsearch.server.app import create_app
from matsearch.server.service import Service

REAL = Path(__file__).parent / "fixtures" / "xrd_real"
SOURCES = ("cod", "reference", "aflow", "ase", "materials_project")
QUARTZ = {("SiO2", 152), ("SiO2", 154)}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    data = tmp_path_factory.mktemp("xrd-real") / "data"
    s = Settings(data_dir=data)
    service = Service(s)
    try:
        options = BuildOptions(workers=2, progress=False, limit=20, sources=SOURCES)
        (report,) = build_libraries(service, ["xrd"], options)
        assert report.points > 350
    finally:
        service.close()
    yield s


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def _post(client: TestClient, name: str) -> dict:
    r = client.post("/v1/search/spectrum", files={"file": (name, (REAL / name).read_bytes())})
    assert r.status_code == 200, r.text
    out: dict = r.json()
    return out


def test_cli_reads_the_instrument_file(settings: Settings) -> None:
    """Runs first: the API client below keeps the store open for the rest of the module."""
    from matsearch.cli.main import cli

    args = ["--data-dir", str(settings.data_dir), "search", "spectrum", str(REAL / "quartz_XRD-918-16_10.xrdml")]
    out = CliRunner().invoke(cli, [*args, "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert result["wavelength_source"] == "file"
    assert (result["hits"][0]["payload"]["formula"], result["hits"][0]["payload"]["spacegroup_number"]) in QUARTZ
    bad = CliRunner().invoke(cli, ["--data-dir", str(settings.data_dir), "search", "spectrum", str(REAL / "README.md")])
    assert bad.exit_code != 0 and "unsupported pattern format '.md'" in bad.output
    cut = settings.data_dir.parent / "cut.raw"  # a truncated Bruker RAW4: one line naming the format, no traceback
    cut.write_bytes((REAL / "TwoTheta_scan_scrambled.raw").read_bytes()[:1400])
    bad = CliRunner().invoke(cli, ["--data-dir", str(settings.data_dir), "search", "spectrum", str(cut), "--json"])
    assert bad.exit_code != 0 and "RAW4" in bad.output and "Traceback" not in bad.output


def test_quartz_xrdml_is_identified_with_the_files_wavelength(client: TestClient) -> None:
    result = _post(client, "quartz_XRD-918-16_10.xrdml")
    assert result["wavelength_source"] == "file" and result["wavelength"] == pytest.approx(1.540598)
    top = result["hits"][0]
    assert (top["payload"]["formula"], top["payload"]["spacegroup_number"]) in QUARTZ
    assert top["phase"] == 1 and top["confidence"] >= 0.3 and top["share"] > 0.5
    # what the web page draws: refined sticks, explained and unexplained measured peaks, refined parameters
    assert {"two_theta", "d", "intensity", "hkl"} <= set(top["reflections"][0])
    strongest = max(top["explained_peaks"], key=lambda p: p["intensity"])
    assert strongest["two_theta"] == pytest.approx(26.64, abs=0.1) and strongest["hkl"]
    assert {"strain", "zero_shift", "displacement", "preferred_orientation", "scale", "peak_fwhm"} <= set(
        top["refined"]
    )
    assert {"explained", "seen", "chance", "intensity_cosine"} <= set(top["fom"])
    # the two weak feldspar peaks (d 3.25 / 3.20 Å) are not quartz
    assert any(abs(p["d"] - 3.25) < 0.03 for p in top["unexplained_peaks"])


def test_bad_instrument_files_are_4xx_naming_the_problem(client: TestClient) -> None:
    """A truncated Bruker RAW4 is a 400 that names the format and what is wrong; an unknown binary suffix a 415 that
    lists the formats read (the CLI's one-line error: ``test_cli_reads_the_instrument_file``)."""
    cut = (REAL / "TwoTheta_scan_scrambled.raw").read_bytes()[:1400]
    r = client.post("/v1/search/spectrum", files={"file": ("cut.raw", cut)})
    assert r.status_code == 400 and "RAW4" in r.json()["detail"], r.text
    r = client.post("/v1/search/spectrum", files={"file": ("scan.spc", b"\x00\x01\x02")})
    assert r.status_code == 415 and ".xrdml" in r.json()["detail"], r.text


def test_absent_mof_is_abstained(client: TestClient) -> None:
    result = _post(client, "UiO_66.DAT")
    assert result["wavelength_source"] == "file"
    assert result["hits"] == []


def test_rock_salt_monoxides_are_reference_entries() -> None:
    """MnO and CoO as laboratories measure them (paramagnetic rock salt at room temperature; session 8): the
    library's Materials Project cells were only an antiferromagnetic R-3m MnO (split 111 line) and non-rock-salt
    CoO, so the reference entries carry the cubic cells; their strongest Cu Kα1 lines where the patterns have them."""
    from matsearch.indexer.structures import load_library
    from matsearch.indexer.xrd.simulate import simulate_peaks

    lib = load_library(("reference",))
    for sid, lines in (("ref-MnO", (34.94, 40.55, 58.69)), ("ref-CoO", (36.49, 42.39, 61.50))):
        e = lib.get(sid)
        assert e.spacegroup_number == 225 and e.source == "reference"
        p = simulate_peaks(e.structure)
        strongest = sorted(t for t, i in zip(p.two_theta, p.intensity, strict=True) if i >= 50)
        assert strongest == pytest.approx(lines, abs=0.05)
