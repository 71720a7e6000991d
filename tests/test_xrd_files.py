"""Instrument files: real PANalytical / Rigaku / Bruker files read with their own wavelength; every other format
written the way its instrument writes it and read back; broken files refused with a message naming the problem."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from matsearch.core.errors import BadInput, UnsupportedMedia
from matsearch.encoders.xrd_files import read_instrument_file
from matsearch.encoders.xrd_pattern import read_pattern_bytes

REAL = Path(__file__).parent / "fixtures" / "xrd_real"


def _real(name: str) -> bytes:
    return (REAL / name).read_bytes()


def test_real_xrdml_quartz() -> None:
    p = read_pattern_bytes(_real("quartz_XRD-918-16_10.xrdml"), "quartz.xrdml")
    assert p.format == "xrdml" and p.wavelength_source == "file"
    assert p.wavelength == pytest.approx(1.540598)
    assert p.two_theta.size == 5027
    assert p.two_theta[0] == pytest.approx(4.007, abs=1e-3) and p.two_theta[-1] == pytest.approx(70.0, abs=1e-3)
    # the quartz 101 reflection (d = 3.34 Å) is the strongest point of the scan
    assert p.two_theta[int(np.argmax(p.intensity))] == pytest.approx(26.62, abs=0.05)


def test_real_rasx_and_raw4() -> None:
    rasx = read_pattern_bytes(_real("TwoTheta_scan_powder.rasx"), "scan.rasx")
    assert rasx.format == "rasx" and rasx.wavelength == pytest.approx(1.540593)
    assert rasx.two_theta.size == 2726 and rasx.two_theta[0] == pytest.approx(10.0)
    raw = read_instrument_file(_real("TwoTheta_scan_scrambled.raw"), "scan.raw")
    assert raw is not None and raw.format == "bruker-raw-4"
    assert raw.x.size == 7134 and raw.x[0] == pytest.approx(10.0)
    assert raw.x[-1] == pytest.approx(85.041, abs=1e-3)  # 7134 steps of 0.01052°
    assert raw.wavelength == pytest.approx(1.5406, abs=1e-4)


def test_real_cobalt_xrdml_keeps_its_wavelength() -> None:
    """A Co-tube Empyrean scan (session 9): the 2θ axis is only right at the file's 1.78901 Å — at a Cu default the
    quartz 101 line would sit at d = 2.88 Å instead of 3.34 Å. The same scan without <usedWavelength> falls back to
    the default and says so."""
    co = read_pattern_bytes(_real("MIN5273_CoKa_pdiffutils.xrdml"), "MIN5273.xrdml")
    assert co.format == "xrdml" and co.wavelength_source == "file"
    assert co.wavelength == pytest.approx(1.78901)
    assert co.two_theta.size == 5484 and co.two_theta[0] == pytest.approx(5.0, abs=1e-3)
    peak = float(co.two_theta[int(np.argmax(co.intensity))])
    d = co.wavelength / (2 * np.sin(np.radians(peak / 2)))
    assert d == pytest.approx(3.343, abs=0.01)  # quartz 101
    bare = read_pattern_bytes(_real("MIN5273_no_wavelength_pdiffutils.xrdml"), "bare.xrdml")
    assert bare.wavelength_source == "default" and bare.two_theta.size == co.two_theta.size
    given = read_pattern_bytes(_real("MIN5273_no_wavelength_pdiffutils.xrdml"), "bare.xrdml", wavelength=1.78901)
    assert given.wavelength_source == "user" and given.wavelength == pytest.approx(1.78901)


def test_rigaku_text_export_names_its_anode() -> None:
    p = read_pattern_bytes(_real("UiO_66.DAT"), "UiO_66.DAT")
    assert p.wavelength_source == "file" and p.wavelength == pytest.approx(1.54056)
    assert p.two_theta[0] == pytest.approx(2.0, abs=0.3)


def _scan() -> tuple[np.ndarray, np.ndarray]:
    x = np.round(np.arange(10.0, 80.0, 0.02), 4)
    y = 100 + 5000 * np.exp(-0.5 * ((x - 31.7) / 0.05) ** 2) + 2000 * np.exp(-0.5 * ((x - 45.4) / 0.06) ** 2)
    return x, np.round(y)


def _ras(x: np.ndarray, y: np.ndarray, axis: str = "TwoThetaTheta") -> bytes:
    head = ["*RAS_DATA_START", "*RAS_HEADER_START", '*MEAS_COND_XG_WAVE_LENGTH_ALPHA1 "1.540593"']
    head += [f'*MEAS_SCAN_AXIS_X "{axis}"', "*RAS_HEADER_END", "*RAS_INT_START"]
    rows = [f"{a:.4f} {b:.0f} 1.0" for a, b in zip(x, y, strict=True)]
    return "\n".join([*head, *rows, "*RAS_INT_END", "*RAS_DATA_END"]).encode()


def _uxd(x: np.ndarray, y: np.ndarray) -> bytes:
    head = ["; Bruker UXD", "_FILEVERSION=1", "_WL1=1.540600", f"_START={x[0]:.4f}", "_STEPSIZE=0.02", "_COUNTS"]
    return "\n".join(head + [f"{v:.0f}" for v in y]).encode()


def _gsas_std(x: np.ndarray, y: np.ndarray) -> bytes:
    lines = ["NaCl-like test pattern, wavelength 1.5406", f"BANK 1 {x.size} {(x.size + 9) // 10} CONST "]
    lines[1] += f"{x[0] * 100:.2f} 2.00 0 0 STD"
    fields = [f"{int(v):8d}" for v in y]
    lines += ["".join(fields[i : i + 10]) for i in range(0, len(fields), 10)]
    return "\n".join(lines).encode()


def _fxye(x: np.ndarray, y: np.ndarray) -> bytes:
    lines = ["test", f"BANK 1 {x.size} {x.size} CONST {x[0] * 100:.2f} 2.00 0 0 FXYE"]
    lines += [f"{a * 100:.3f} {b:.1f} {np.sqrt(b):.2f}" for a, b in zip(x, y, strict=True)]
    return "\n".join(lines).encode()


def _chi(x: np.ndarray, y: np.ndarray) -> bytes:
    lines = ["powder.tif: integrated", "2-Theta Angle (Degrees)", "Intensity", f"{x.size}"]
    lines += [f"  {a:.5E}  {b:.5E}" for a, b in zip(x, y, strict=True)]
    return "\n".join(lines).encode()


def _pdcif(x: np.ndarray, y: np.ndarray) -> bytes:
    head = ["data_test", "_diffrn_radiation_wavelength 1.540598", "loop_", "_pd_meas_2theta_scan"]
    head += ["_pd_meas_counts_total"]
    return "\n".join(head + [f"{a:.3f} {b:.0f}" for a, b in zip(x, y, strict=True)]).encode()


def _raw_v3(x: np.ndarray, y: np.ndarray) -> bytes:
    head = bytearray(712)
    head[:7] = b"RAW1.01"
    struct.pack_into("<I", head, 12, 1)
    struct.pack_into("<d", head, 624, 1.540598)
    rng = bytearray(304)
    struct.pack_into("<II", rng, 0, 304, x.size)
    struct.pack_into("<d", rng, 16, float(x[0]))
    struct.pack_into("<d", rng, 176, 0.02)
    struct.pack_into("<d", rng, 240, 1.540598)
    return bytes(head + rng) + np.asarray(y, dtype="<f4").tobytes()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, v in members.items():
            zf.writestr(k, v)
    return buf.getvalue()


def _brml(x: np.ndarray, y: np.ndarray, axis: str = "TwoTheta") -> bytes:
    """A Bruker BRML zip laid out like a real DIFFRAC.SUITE file (fairmat-readers-xrd's 2θ-ω scan): fixed fields
    (time, absorption), then the varying scan axes (2θ, θ) per <Datum>, counts last; the tube's Kα1 in the
    instrument section."""
    fields = "".join(f'<FieldDefinitions FieldName="{a}" AxisId="{a}" />' for a in (axis, "Theta"))
    rows = "".join(f"<Datum>1,1,{t:.4f},{t / 2:.4f},{v:.0f}</Datum>" for t, v in zip(x, y, strict=True))
    xml = (
        '<?xml version="1.0" encoding="utf-8"?><RawData xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<DataRoutes><DataRoute><ScanInformation><ScanAxes><ScanAxisInfo AxisId="TwoTheta" AxisName="TwoTheta" />'
        "</ScanAxes></ScanInformation><DataViews>"
        '<RawDataView xsi:type="FixedRawDataView" Start="0" Length="1" LogicName="MeasuredTime" />'
        '<RawDataView xsi:type="FixedRawDataView" Start="1" Length="1" LogicName="AbsorptionFactor" />'
        f'<RawDataView xsi:type="VaryingRawDataView" Start="2" Length="2"><Varying>{fields}</Varying></RawDataView>'
        f"</DataViews>{rows}</DataRoute></DataRoutes>"
        "<FixedInformation><Instrument><PrimaryTracks><TrackInfoData><MountedOptics><InfoData>"
        '<Tube><WaveLengthAlpha1 Unit="Å" Value="1.78897" /></Tube></InfoData></MountedOptics></TrackInfoData>'
        "</PrimaryTracks></Instrument></FixedInformation></RawData>"
    )
    return _zip({"Experiment0/RawData0.xml": xml.encode(), "experimentCollection.xml": b"<a/>"})


def _xrdml(x: np.ndarray, y: np.ndarray, axis: str = "Gonio") -> bytes:
    counts = " ".join(f"{v:.0f}" for v in y)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<xrdMeasurements xmlns="http://www.xrdml.com/XRDMeasurement/1.5"><xrdMeasurement>'
        '<usedWavelength intended="K-Alpha 1"><kAlpha1 unit="Angstrom">0.7093</kAlpha1></usedWavelength>'
        f'<scan scanAxis="{axis}"><dataPoints><positions axis="2Theta" unit="deg">'
        f"<startPosition>{x[0]}</startPosition><endPosition>{x[-1]}</endPosition></positions>"
        f'<intensities unit="counts">{counts}</intensities></dataPoints></scan></xrdMeasurement></xrdMeasurements>'
    ).encode()


@pytest.mark.parametrize(
    ("name", "writer", "fmt", "wavelength"),
    [
        ("scan.ras", _ras, "ras", 1.540593),
        ("scan.uxd", _uxd, "uxd", 1.5406),
        ("scan.gsa", _gsas_std, "gsas", 1.5406),
        ("scan.fxye", _fxye, "gsas", None),
        ("scan.chi", _chi, "chi", None),
        ("scan.cif", _pdcif, "pdcif", 1.540598),
        ("scan.raw", _raw_v3, "bruker-raw-3", 1.540598),
        ("scan.xrdml", _xrdml, "xrdml", 0.7093),
        ("scan.brml", _brml, "brml", 1.78897),
    ],
)
def test_formats_round_trip(name: str, writer: object, fmt: str, wavelength: float | None) -> None:
    x, y = _scan()
    scan = read_instrument_file(writer(x, y), name)  # type: ignore[operator]
    assert scan is not None and scan.format == fmt
    assert scan.wavelength == (pytest.approx(wavelength) if wavelength else None)
    np.testing.assert_allclose(scan.x, x, atol=1e-3)
    np.testing.assert_allclose(scan.y, y, rtol=1e-6)


def test_file_wavelength_is_used_unless_given() -> None:
    x, y = _scan()
    mo = read_pattern_bytes(_xrdml(x, y), "mo.xrdml")
    assert mo.wavelength == pytest.approx(0.7093) and mo.wavelength_source == "file"
    given = read_pattern_bytes(_xrdml(x, y), "mo.xrdml", wavelength="CuKa1")
    assert given.wavelength == pytest.approx(1.54056) and given.wavelength_source == "user"


@pytest.mark.parametrize(
    ("data", "name", "error", "message"),
    [
        (b"<xrdMeasurements><broken", "a.xrdml", BadInput, "not a well-formed XRDML"),
        (b"<other/>", "a.xrdml", BadInput, "not an XRDML file"),
        (_xrdml(*_scan(), axis="Omega"), "rc.xrdml", BadInput, "not a 2θ"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xrdMeasurements>&a;</xrdMeasurements>',
            "bomb.xrdml",
            BadInput,
            "forbidden",
        ),
        (_raw_v3(*_scan())[:900], "cut.raw", BadInput, "Bruker RAW"),
        (b"RAW_1.06Powdat" + bytes(100), "stoe.raw", UnsupportedMedia, "STOE"),
        (b"JUNKJUNK" + bytes(100), "x.raw", UnsupportedMedia, "not a Bruker"),
        (_real("TwoTheta_scan_scrambled.raw")[:1400], "cut4.raw", BadInput, "RAW4"),
        (b"not a zip at all", "a.brml", BadInput, "not a valid zip"),
        (_zip({"other.xml": b"<a/>"}), "a.brml", BadInput, "no Experiment"),
        (_brml(*_scan(), axis="Phi"), "phi.brml", BadInput, "no TwoTheta column"),
        (_zip({"Data0/Profile0.txt": b"10 x 1\n"}), "a.rasx", BadInput, "not numeric"),
        (_ras(*_scan(), axis="Omega"), "rc.ras", BadInput, "not a 2θ"),
        (b"*RAS_DATA_START\n*RAS_HEADER_START\n", "a.ras", BadInput, r"no \*RAS_INT_START"),
        (b"title\nno bank here\n1 2\n", "a.gsa", BadInput, "no BANK"),
        (b"data_x\n_cell_length_a 4.0\n", "structure.cif", BadInput, "ingest cif"),
        (b"abc", "a.chi", BadInput, "4 header lines"),
    ],
)
def test_bad_files_name_the_problem(data: bytes, name: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        read_pattern_bytes(data, name)


def test_unknown_suffix_lists_the_formats() -> None:
    with pytest.raises(UnsupportedMedia, match="xrdml"):
        read_pattern_bytes(b"\x00\x01", "scan.spc")
