"""Instrument files of powder diffractometers → (2θ, intensity, wavelength).

One small parser per format (no maintained Python reader covers these: xylib's wheels need SWIG to build and do
not read RAW4, BRML, RASX or XRDML), each naming what is wrong when a file cannot be a 1-D powder scan:

- PANalytical XRDML (.xrdml): ``<usedWavelength><kAlpha1>``; the first 2θ scan (start/end or listed positions;
  counts, or per-second intensities scaled by the counting time); omega/phi scans are refused;
- Bruker BRML (.brml, DIFFRAC.SUITE zip): ``Experiment0/RawData0.xml`` — ``WaveLengthAlpha1`` and the
  ``<Datum>`` rows, 2θ column from ``DataViews``;
- Bruker RAW v1, v2, v3 (RAW1.01) and v4 (RAW4.00) (.raw): range headers (start 2θ, step, steps, λ) and float32
  counts; STOE .raw files are named and refused;
- Bruker UXD (.uxd): ``_WL1``, ``_START``/``_STEPSIZE`` with counts, or 2-column data;
- Rigaku RAS (.ras): ``*MEAS_COND_XG_WAVE_LENGTH_ALPHA1`` and the ``*RAS_INT_START`` rows (× attenuator);
  RASX (.rasx zip): ``Data0/Profile0.txt`` + ``MesurementConditions0.xml``;
- GSAS (.gsa .gsas .gss .fxye .xra): ``BANK`` line, CONST/STD, ESD or FXYE (2θ in centidegrees);
- Fit2D chi (.chi): 4 header lines (title, x label — 2θ or Q —, y label, count), then x y;
- powder CIF (.cif with ``_pd_`` loops): ``_diffrn_radiation_wavelength``, ``_pd_meas_2theta_scan`` (or the
  range's min/increment) with counts or intensities.

Binary formats that are not parsed (STOE RAW, Philips RD, ...) are rejected with their name.
"""

from __future__ import annotations

import io
import math
import re
import struct
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from matsearch.core.errors import BadInput, UnsupportedMedia

MAX_XML_BYTES = 64 * 1024 * 1024  # uncompressed XML member of a zip container
MAX_POINTS = 2_000_000


@dataclass
class Scan:
    """A 1-D scan: x (2θ ° or Q 1/Å, see ``x_kind``), intensity, wavelength (Å, None when the file has none)."""

    x: np.ndarray
    y: np.ndarray
    wavelength: float | None
    format: str
    x_kind: str = "2theta"
    notes: list[str] = field(default_factory=list)


INSTRUMENT_SUFFIXES = (
    ".xrdml",
    ".brml",
    ".raw",
    ".uxd",
    ".ras",
    ".rasx",
    ".gsa",
    ".gsas",
    ".gss",
    ".fxye",
    ".xra",
    ".chi",
    ".cif",
)


def _wl(value: float | str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        v = float(str(value).strip().strip('"'))
    except ValueError:
        return None
    if not math.isfinite(v) or v <= 0:
        return None
    if not 0.1 <= v <= 5.0:
        raise BadInput(f"{name}: wavelength {v:g} Å in the file is outside 0.1–5 Å")
    return v


def _check(x: np.ndarray, y: np.ndarray, name: str, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    if x.size == 0 or y.size == 0:
        raise BadInput(f"{name}: {fmt} file has no data points")
    if x.size != y.size:
        raise BadInput(f"{name}: {fmt} file has {x.size} positions but {y.size} intensities")
    if x.size > MAX_POINTS:
        raise BadInput(f"{name}: more than {MAX_POINTS} data points")
    return x.astype(np.float64), y.astype(np.float64)


# ---- XML helpers -------------------------------------------------------------------------------------------------


def _parse_xml(data: bytes, name: str, fmt: str) -> Any:
    from defusedxml import ElementTree as DET  # noqa: N814
    from defusedxml.common import DefusedXmlException

    try:
        return DET.fromstring(data)
    except DefusedXmlException as exc:
        raise BadInput(f"{name}: {fmt} XML uses forbidden constructs ({type(exc).__name__})") from exc
    except Exception as exc:  # xml.etree.ElementTree.ParseError and friends
        raise BadInput(f"{name}: not a well-formed {fmt} file ({exc})") from exc


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find_all(el: Any, tag: str) -> list[Any]:
    return [e for e in el.iter() if _local(e.tag) == tag]


def _find(el: Any, tag: str) -> Any:
    for e in el.iter():
        if _local(e.tag) == tag:
            return e
    return None


def _floats(text: str | None, name: str, what: str) -> np.ndarray:
    try:
        return np.array((text or "").split(), dtype=np.float64)
    except ValueError as exc:
        raise BadInput(f"{name}: {what} holds non-numeric values") from exc


def _zip_member(data: bytes, name: str, fmt: str, pattern: str) -> bytes:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise BadInput(f"{name}: a {fmt} file is a zip container; this one is not a valid zip") from exc
    with zf:
        names = [n for n in zf.namelist() if re.fullmatch(pattern, n, re.I)]
        if not names:
            raise BadInput(f"{name}: {fmt} container has no {pattern.replace(chr(92), '')} member")
        info = zf.getinfo(sorted(names)[0])
        if info.file_size > MAX_XML_BYTES:
            raise BadInput(f"{name}: {fmt} member {info.filename} is larger than {MAX_XML_BYTES >> 20} MB")
        return zf.read(info)


def _zip_optional(data: bytes, pattern: str) -> bytes | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = sorted(n for n in zf.namelist() if re.fullmatch(pattern, n, re.I))
            if not names or zf.getinfo(names[0]).file_size > MAX_XML_BYTES:
                return None
            return zf.read(names[0])
    except zipfile.BadZipFile:
        return None


# ---- PANalytical XRDML -------------------------------------------------------------------------------------------


def read_xrdml(data: bytes, name: str) -> Scan:
    root = _parse_xml(data, name, "XRDML")
    if _local(root.tag) != "xrdMeasurements":
        raise BadInput(f"{name}: not an XRDML file (root element <{_local(root.tag)}>)")
    wl_el = _find(root, "usedWavelength")
    wl = _wl(_find(wl_el, "kAlpha1").text, name) if wl_el is not None and _find(wl_el, "kAlpha1") is not None else None
    scans = _find_all(root, "scan")
    if not scans:
        raise BadInput(f"{name}: XRDML file has no <scan>")
    notes = []
    scan = scans[0]
    axis = scan.get("scanAxis", "")
    if axis.lower() in ("omega", "phi", "chi", "psi", "x", "y", "z") or "rocking" in axis.lower():
        raise BadInput(f"{name}: XRDML scan axis is {axis!r}, not a 2θ (powder) scan")
    if len(scans) > 1:
        notes.append(f"XRDML has {len(scans)} scans; the first is read")
    dp = _find(scan, "dataPoints")
    if dp is None:
        raise BadInput(f"{name}: XRDML scan has no <dataPoints>")
    pos = next((p for p in dp if _local(p.tag) == "positions" and p.get("axis") == "2Theta"), None)
    if pos is None:
        raise BadInput(f"{name}: XRDML scan has no 2Theta positions")
    ints = next((c for c in dp if _local(c.tag) in ("intensities", "counts")), None)
    if ints is None:
        raise BadInput(f"{name}: XRDML scan has no <intensities> or <counts>")
    y = _floats(ints.text, name, "XRDML intensities")
    listed = _find(pos, "listPositions")
    if listed is not None:
        x = _floats(listed.text, name, "XRDML listPositions")
    else:
        start, end = _find(pos, "startPosition"), _find(pos, "endPosition")
        if start is None or end is None:
            raise BadInput(f"{name}: XRDML 2Theta positions have neither start/end nor a list")
        try:
            x = np.linspace(float(start.text or ""), float(end.text or ""), y.size)
        except ValueError as exc:
            raise BadInput(f"{name}: XRDML start/end positions are not numbers") from exc
    if _local(ints.tag) == "intensities" and "second" in (ints.get("unit") or "").lower():
        t = _find(dp, "commonCountingTime")
        if t is not None and t.text:
            y = y * float(t.text)
    x, y = _check(x, y, name, "XRDML")
    return Scan(x, y, wl, "xrdml", notes=notes)


# ---- Bruker BRML ---------------------------------------------------------------------------------------------------


def read_brml(data: bytes, name: str) -> Scan:
    raw = _zip_member(data, name, "BRML", r"Experiment\d+/RawData\d+\.xml")
    root = _parse_xml(raw, name, "BRML RawData")
    wl = None
    for tag in ("WaveLengthAlpha1", "WaveLength"):
        el = _find(root, tag)
        if el is not None and el.get("Value"):
            wl = _wl(el.get("Value"), name)
            break
    # column of 2θ in each <Datum>: the DataViews give Start/Length per logical field
    column = None
    views = _find(root, "DataViews")
    if views is not None:
        for view in views:
            start = int(view.get("Start", "-1"))
            fields = [f for f in view.iter() if _local(f.tag) == "FieldDefinitions"]
            for k, fd in enumerate(fields):
                if fd.get("AxisId") in ("TwoTheta", "2Theta"):
                    column = start + k
            if view.get("LogicName") == "TwoTheta":
                column = start
    rows = [d.text for d in _find_all(root, "Datum") if d.text]
    if not rows:
        raise BadInput(f"{name}: BRML file has no <Datum> data rows")
    try:
        table = np.array([r.split(",") for r in rows], dtype=np.float64)
    except ValueError as exc:
        raise BadInput(f"{name}: BRML data rows are not numeric or have different lengths") from exc
    if column is None:
        axes = [a.get("AxisId") for a in _find_all(root, "ScanAxisInfo")]
        raise BadInput(f"{name}: BRML scan has no TwoTheta column (scan axes: {', '.join(map(str, axes)) or 'none'})")
    x, y = _check(table[:, column], table[:, -1], name, "BRML")
    return Scan(x, y, wl, "brml")


# ---- Bruker RAW ----------------------------------------------------------------------------------------------------


def _unpack(fmt: str, data: bytes, offset: int, name: str) -> tuple:
    try:
        return struct.unpack_from(fmt, data, offset)
    except struct.error as exc:
        raise BadInput(f"{name}: Bruker RAW file is truncated (at byte {offset})") from exc


def _raw_counts(data: bytes, offset: int, steps: int, name: str) -> np.ndarray:
    if steps <= 0 or steps > MAX_POINTS or offset + 4 * steps > len(data):
        raise BadInput(f"{name}: Bruker RAW range of {steps} steps does not fit in the file")
    return np.frombuffer(data, dtype="<f4", count=steps, offset=offset).astype(np.float64)


def read_bruker_raw(data: bytes, name: str) -> Scan:
    head = data[:8]
    if head.startswith(b"RAW1.01"):
        return _raw_v3(data, name)
    if head.startswith(b"RAW4.00"):
        return _raw_v4(data, name)
    if head.startswith(b"RAW2"):
        return _raw_v2(data, name)
    if head.startswith(b"RAW "):
        return _raw_v1(data, name)
    if head.startswith(b"RAW_1") or b"Powdat" in data[:32]:
        raise UnsupportedMedia(f"{name}: STOE .raw files are not supported; export the pattern as .xy or .xye")
    raise UnsupportedMedia(f"{name}: .raw file is not a Bruker/Siemens RAW file (header {head[:7]!r})")


def _raw_v1(data: bytes, name: str) -> Scan:
    (steps,) = _unpack("<I", data, 4, name)
    _, step, _, _, start = _unpack("<ffIIf", data, 8, name)
    (ka1,) = _unpack("<f", data, 60 + 32 - 4 + 4, name)  # after 3 start angles and the 32-byte sample name
    counts = _raw_counts(data, 156, steps, name)
    x = start + step * np.arange(steps)
    return Scan(*_check(x, counts, name, "Bruker RAW v1"), _wl_opt(ka1), "bruker-raw-1")


def _raw_v2(data: bytes, name: str) -> Scan:
    (nranges,) = _unpack("<H", data, 4, name)
    (ka1,) = _unpack("<f", data, 4 + 2 + 162 + 20 + 2, name)
    off = 256
    if nranges < 1:
        raise BadInput(f"{name}: Bruker RAW v2 file has no ranges")
    hlen, steps = _unpack("<HH", data, off, name)
    _, step, start = _unpack("<fff", data, off + 8, name)
    counts = _raw_counts(data, off + hlen, steps, name)
    x = start + step * np.arange(steps)
    notes = [f"{nranges} ranges; the first is read"] if nranges > 1 else []
    return Scan(*_check(x, counts, name, "Bruker RAW v2"), _wl_opt(ka1), "bruker-raw-2", notes=notes)


def _raw_v3(data: bytes, name: str) -> Scan:
    (nranges,) = _unpack("<I", data, 12, name)
    (ka1,) = _unpack("<d", data, 624, name)
    off = 712
    if nranges < 1:
        raise BadInput(f"{name}: Bruker RAW file has no ranges")
    hlen, steps = _unpack("<II", data, off, name)
    if hlen != 304:
        raise BadInput(f"{name}: Bruker RAW1.01 range header has length {hlen}, expected 304")
    (start2t,) = _unpack("<d", data, off + 16, name)
    (step,) = _unpack("<d", data, off + 176, name)
    (used,) = _unpack("<d", data, off + 240, name)
    (supp,) = _unpack("<I", data, off + 256, name)
    counts = _raw_counts(data, off + hlen + supp, steps, name)
    x = start2t + step * np.arange(steps)
    notes = [f"{nranges} ranges; the first is read"] if nranges > 1 else []
    wl = _wl_opt(used) or _wl_opt(ka1)
    return Scan(*_check(x, counts, name, "Bruker RAW1.01"), wl, "bruker-raw-3", notes=notes)


_ANODES = {"Cu": 1.540598, "Co": 1.788996, "Mo": 0.709319, "Fe": 1.936046, "Cr": 2.289760, "Ag": 0.559420}


def _wl_opt(value: float) -> float | None:
    return float(value) if math.isfinite(value) and 0.1 <= value <= 5.0 else None


def _raw_v4(data: bytes, name: str) -> Scan:
    """RAW4.00 (DIFFRAC.SUITE): a 61-byte file header, tagged records (type, length) up to the range header,
    range header (steps at +4, 2θ step at +80 as float64), drive records (type 50: axis name, start as float64),
    then ``steps`` × (columns) float32 values; the first column is the counts."""
    off = 61
    anode = None
    ka1 = None
    while off + 8 <= len(data):
        rtype, rlen = _unpack("<II", data, off, name)
        if rtype == 0:  # the range header starts here
            break
        if rlen < 8 or off + rlen > len(data):
            raise BadInput(f"{name}: Bruker RAW4 record at byte {off} has an invalid length {rlen}")
        if rtype == 30:  # instrument: anode name and wavelengths
            block = data[off : off + rlen]
            m = re.search(rb"(Cu|Co|Mo|Fe|Cr|Ag)\x00", block)
            if m:
                anode = m.group(1).decode()
            if anode in _ANODES:  # the record holds Kα1 as a float64 near the anode's tabulated value
                for k in range(off + 8, off + rlen - 7):
                    (v,) = struct.unpack_from("<d", data, k)
                    if abs(v - _ANODES[anode]) < 0.0008:
                        ka1 = float(v)
                        break
        off += rlen
    else:
        raise BadInput(f"{name}: Bruker RAW4 file has no measurement range")
    rstart = off
    (steps,) = _unpack("<I", data, rstart + 4, name)
    (step,) = _unpack("<d", data, rstart + 80, name)
    # drive records (type 50, length 92) follow; the 2θ drive's name is at +12, its start a float64 at +56
    start = None
    pos = data.find(b"\x32\x00\x00\x00\x5c\x00\x00\x00", rstart)
    while pos >= 0 and pos < len(data):
        label = data[pos + 12 : pos + 40].split(b"\x00")[0].decode("ascii", "replace")
        if label in ("2Theta", "TwoTheta") and start is None:
            (start,) = _unpack("<d", data, pos + 56, name)
        nxt = data.find(b"\x32\x00\x00\x00\x5c\x00\x00\x00", pos + 92)
        if nxt < 0:
            end_of_records = pos + 92
            break
        pos = nxt
    else:
        end_of_records = rstart
    if start is None or not (math.isfinite(step) and 0 < step < 10):
        raise BadInput(f"{name}: Bruker RAW4 range has no 2θ drive (not a 2θ scan?)")
    tail = len(data) - end_of_records
    if steps <= 0 or tail < 4 * steps:
        raise BadInput(f"{name}: Bruker RAW4 range of {steps} steps does not fit in the file")
    ncol = max(tail // (4 * steps), 1)
    values = np.frombuffer(data, dtype="<f4", count=steps * ncol, offset=len(data) - 4 * steps * ncol)
    counts = values.reshape(steps, ncol)[:, 0].astype(np.float64)
    x = start + step * np.arange(steps)
    wl = ka1 or (_ANODES.get(anode) if anode else None)
    return Scan(*_check(x, counts, name, "Bruker RAW4"), wl, "bruker-raw-4")


# ---- text formats --------------------------------------------------------------------------------------------------


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _numeric_rows(lines: list[str], name: str, fmt: str, min_cols: int = 2) -> np.ndarray:
    rows = []
    for ln in lines:
        parts = ln.replace(",", " ").split()
        if not parts:
            continue
        try:
            rows.append([float(p) for p in parts[:3]])
        except ValueError:
            raise BadInput(f"{name}: {fmt} data line is not numeric: {ln.strip()[:60]!r}") from None
    if not rows:
        raise BadInput(f"{name}: {fmt} file has no data rows")
    n = min(len(r) for r in rows)
    if n < min_cols:
        raise BadInput(f"{name}: {fmt} data rows need at least {min_cols} columns")
    return np.array([r[:n] for r in rows], dtype=np.float64)


def read_ras(data: bytes, name: str) -> Scan:
    text = _text(data)
    if "*RAS_" not in text[:4096] and "*RAS_INT_START" not in text:
        raise BadInput(f"{name}: not a Rigaku RAS file (no *RAS_ header)")
    m = re.search(r"^\*MEAS_COND_XG_WAVE_LENGTH_ALPHA1\s+\"?([0-9.]+)", text, re.M)
    wl = _wl(m.group(1), name) if m else None
    m = re.search(r"^\*MEAS_SCAN_AXIS_X\s+\"?([^\"\r\n]+)", text, re.M)
    axis = m.group(1).strip() if m else "TwoThetaTheta"
    if axis.lower() not in ("twothetatheta", "twotheta", "2theta", "2theta/theta", "twothetaomega", "2theta/omega"):
        raise BadInput(f"{name}: RAS scan axis is {axis!r}, not a 2θ (powder) scan")
    blocks = re.findall(r"\*RAS_INT_START\s*\n(.*?)\*RAS_INT_END", text, re.S)
    if not blocks:
        raise BadInput(f"{name}: RAS file has no *RAS_INT_START … *RAS_INT_END data block")
    table = _numeric_rows(blocks[0].splitlines(), name, "RAS")
    y = table[:, 1] * (table[:, 2] if table.shape[1] > 2 else 1.0)  # third column: attenuator factor
    notes = [f"RAS has {len(blocks)} scans; the first is read"] if len(blocks) > 1 else []
    return Scan(*_check(table[:, 0], y, name, "RAS"), wl, "ras", notes=notes)


def read_rasx(data: bytes, name: str) -> Scan:
    prof = _zip_member(data, name, "RASX", r"Data\d+/Profile\d+\.txt")
    cond = _zip_optional(data, r"Data\d+/Mesurement?Conditions\d+\.xml")
    wl = None
    if cond is not None:
        m = re.search(rb"<WavelengthKalpha1>\s*([0-9.]+)\s*<", cond)
        wl = _wl(m.group(1).decode(), name) if m else None
        m = re.search(rb"<AxisName>\s*([^<]+?)\s*</AxisName>", cond)
        if m and m.group(1).decode().lower() in ("omega", "phi", "chi"):
            raise BadInput(f"{name}: RASX scan axis is {m.group(1).decode()!r}, not a 2θ scan")
    table = _numeric_rows(_text(prof).splitlines(), name, "RASX profile")
    y = table[:, 1] * (table[:, 2] if table.shape[1] > 2 else 1.0)
    return Scan(*_check(table[:, 0], y, name, "RASX"), wl, "rasx")


def read_uxd(data: bytes, name: str) -> Scan:
    text = _text(data)
    if "_" not in text[:2048]:
        raise BadInput(f"{name}: not a Bruker UXD file (no _KEY= header lines)")
    wl = None
    m = re.search(r"^_WL1\s*=\s*([0-9.]+)", text, re.M)
    if m:
        wl = _wl(m.group(1), name)
    header: dict[str, str] = dict(re.findall(r"^_([A-Z0-9_]+)\s*=\s*([^\r\n]*)", text, re.M))
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith((";", "_"))]
    if "STEPSIZE" in header and ("START" in header or "2THETA" in header) and "COUNTS" in text:
        vals = _floats(" ".join(lines), name, "UXD counts")
        start = float((header.get("START") or header.get("2THETA") or "0").split()[0])
        x = start + float(header["STEPSIZE"].split()[0]) * np.arange(vals.size)
        return Scan(*_check(x, vals, name, "UXD"), wl, "uxd")
    table = _numeric_rows(lines, name, "UXD")
    return Scan(*_check(table[:, 0], table[:, 1], name, "UXD"), wl, "uxd")


def read_gsas(data: bytes, name: str) -> Scan:
    text = _text(data)
    lines = text.splitlines()
    bank = next((i for i, ln in enumerate(lines) if ln.strip().upper().startswith("BANK")), None)
    if bank is None:
        raise BadInput(f"{name}: not a GSAS powder file (no BANK line)")
    parts = lines[bank].split()
    wl = None
    m = re.search(r"(?:wavelength|lambda|lam)\s*[=:]?\s*([0-9]*\.[0-9]+)", "\n".join(lines[:bank]), re.I)
    if m:
        wl = _wl(m.group(1), name)
    try:
        nchan = int(parts[2])
        bintyp = parts[4].upper()
    except (IndexError, ValueError) as exc:
        raise BadInput(f"{name}: GSAS BANK line is malformed: {lines[bank].strip()[:60]!r}") from exc
    fmt = parts[-1].upper() if parts[-1].upper() in ("STD", "ESD", "FXY", "FXYE", "ALT") else "STD"
    body = [ln for ln in lines[bank + 1 :] if ln.strip()]
    nxt = next((i for i, ln in enumerate(body) if ln.strip().upper().startswith("BANK")), None)
    body = body[:nxt] if nxt is not None else body
    if bintyp == "CONST" and fmt in ("STD", "ESD"):
        try:
            start, step = float(parts[5]) / 100.0, float(parts[6]) / 100.0
        except (IndexError, ValueError) as exc:
            raise BadInput(f"{name}: GSAS CONST BANK line has no start/step") from exc
        values: list[float] = []
        width = 8 if fmt == "ESD" else 8
        for ln in body:
            if fmt == "STD":
                # 10 fields of 8 chars: optional 2-char count of contributing detectors + 6-char intensity
                for k in range(0, min(len(ln.rstrip()), 80), width):
                    field_ = ln[k : k + width]
                    if field_.strip():
                        try:
                            values.append(float(field_[2:] if len(field_) == 8 and field_[:2].strip() else field_))
                        except ValueError:
                            raise BadInput(f"{name}: GSAS STD data are not numeric: {ln[:60]!r}") from None
            else:  # ESD: pairs of (intensity, esd) 8-char fields
                nums = [ln[k : k + 8] for k in range(0, min(len(ln.rstrip()), 80), 8)]
                try:
                    values.extend(float(v) for v in nums[0::2] if v.strip())
                except ValueError:
                    raise BadInput(f"{name}: GSAS ESD data are not numeric: {ln[:60]!r}") from None
        y = np.array(values[:nchan], dtype=np.float64)
        x = start + step * np.arange(y.size)
        return Scan(*_check(x, y, name, "GSAS"), wl, "gsas")
    table = _numeric_rows(body, name, "GSAS FXYE")
    x = table[:, 0] / 100.0 if bintyp in ("CONST", "RALF") or fmt in ("FXY", "FXYE") else table[:, 0]
    if bintyp in ("TIME_MAP", "TIME", "SLOG") and fmt != "FXYE":
        raise BadInput(f"{name}: GSAS time-of-flight data ({bintyp}) are not a 2θ powder scan")
    return Scan(*_check(x, table[:, 1], name, "GSAS"), wl, "gsas")


def read_chi(data: bytes, name: str) -> Scan:
    lines = _text(data).splitlines()
    if len(lines) < 5:
        raise BadInput(f"{name}: Fit2D .chi file needs 4 header lines and data")
    xlabel = lines[1].lower()
    kind = "q" if re.search(r"\bq\b|q\s*\(|1/a|nm\^-1|a\^-1|å\^-1", xlabel) else "2theta"
    if re.search(r"radius|mm|pixel", xlabel) and kind == "2theta" and "2-theta" not in xlabel:
        raise BadInput(f"{name}: .chi x axis is {lines[1].strip()!r}; need 2θ or Q")
    table = _numeric_rows(lines[4:], name, "chi")
    x = table[:, 0] * (0.1 if kind == "q" and "nm" in xlabel else 1.0)
    return Scan(*_check(x, table[:, 1], name, "chi"), None, "chi", x_kind=kind)


_PD_X = ("_pd_meas_2theta_scan", "_pd_proc_2theta_corrected", "_pd_meas_angle_2theta", "_pd_proc_2theta_range")
_PD_Y = ("_pd_meas_counts_total", "_pd_meas_intensity_total", "_pd_proc_intensity_total", "_pd_proc_intensity_net")


def read_pdcif(data: bytes, name: str) -> Scan:
    text = _text(data)
    if "_pd_" not in text:
        raise BadInput(f"{name}: CIF has no powder data (_pd_ loops); structures go to `matsearch ingest cif`")
    wl = None
    m = re.search(r"_diffrn_radiation_wavelength\s+([0-9.]+)", text)
    if m is None:
        m = re.search(r"_diffrn_radiation_wavelength\s*\n(?:_\S+\s*\n)*\s*([0-9.]+)", text)
    if m:
        wl = _wl(m.group(1), name)
    for loop in re.split(r"^\s*loop_\s*$", text, flags=re.M)[1:]:
        lines = loop.strip().splitlines()
        tags = []
        i = 0
        while i < len(lines) and lines[i].strip().startswith("_"):
            tags.append(lines[i].strip().split()[0].lower())
            i += 1
        xi = next((tags.index(t) for t in _PD_X if t in tags), None)
        yi = next((tags.index(t) for t in _PD_Y if t in tags), None)
        if yi is None:
            continue
        rng = (
            re.search(r"_pd_(?:meas|proc)_2theta_range_min\s+([0-9.]+)", text),
            re.search(r"_pd_(?:meas|proc)_2theta_range_inc\s+([0-9.]+)", text),
        )
        if xi is None and (rng[0] is None or rng[1] is None):
            continue
        rows: list[tuple[float, float]] = []
        for ln in lines[i:]:
            s = ln.strip()
            if not s or s.startswith(("_", "#", "data_")):
                break
            parts = s.split()
            if len(parts) < len(tags):
                continue
            try:
                xv = float(re.sub(r"\(.*\)", "", parts[xi])) if xi is not None else float(len(rows))
                rows.append((xv, float(re.sub(r"\(.*\)", "", parts[yi]))))
            except ValueError:
                continue
        if rows:
            arr = np.array(rows)
            if xi is None:  # counts only: 2θ from the range's start and increment
                assert rng[0] is not None and rng[1] is not None
                arr[:, 0] = float(rng[0].group(1)) + float(rng[1].group(1)) * arr[:, 0]
            return Scan(*_check(arr[:, 0], arr[:, 1], name, "powder CIF"), wl, "pdcif")
    raise BadInput(f"{name}: powder CIF has no loop with 2θ and intensity (_pd_meas_2theta_scan + counts)")


READERS = {
    ".xrdml": read_xrdml,
    ".brml": read_brml,
    ".raw": read_bruker_raw,
    ".uxd": read_uxd,
    ".ras": read_ras,
    ".rasx": read_rasx,
    ".gsa": read_gsas,
    ".gsas": read_gsas,
    ".gss": read_gsas,
    ".fxye": read_gsas,
    ".xra": read_gsas,
    ".chi": read_chi,
    ".cif": read_pdcif,
}


def read_instrument_file(data: bytes, name: str) -> Scan | None:
    """The scan in an instrument file, or None when ``name``'s suffix is not an instrument format (plain text)."""
    lower = name.lower()
    suffix = lower[lower.rfind(".") :] if "." in lower else ""
    reader = READERS.get(suffix)
    if reader is None:
        if data[:4] == b"PK\x03\x04":
            raise UnsupportedMedia(f"{name}: zip container; use .brml or .rasx names for Bruker/Rigaku files")
        if data[:7] in (b"RAW1.01", b"RAW4.00"):
            return read_bruker_raw(data, name)
        return None
    if not data.strip():
        raise BadInput(f"{name}: empty file")
    return reader(data, name)
