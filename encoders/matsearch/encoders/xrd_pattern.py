"""Measured patterns: read text files (or arrays), convert to the library wavelength and grid, remove background,
find peaks. Everything that cannot be a powder pattern is a ``BadInput`` naming the problem."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import ndimage, signal

from matsearch.core.errors import BadInput, TooLarge, UnsupportedMedia
from matsearch.encoders.xrd import GRID_2THETA, LIB_WAVELENGTH, TWO_THETA_MAX, TWO_THETA_MIN, TWO_THETA_STEP
from matsearch.encoders.xrd_files import INSTRUMENT_SUFFIXES, read_instrument_file

# Å; same values as pymatgen.analysis.diffraction.xrd.WAVELENGTHS (Kα = weighted Kα1/Kα2 mean).
WAVELENGTHS: dict[str, float] = {
    "CuKa": 1.54184,
    "CuKa1": 1.54056,
    "CuKa2": 1.54439,
    "CuKb1": 1.39222,
    "MoKa": 0.71073,
    "MoKa1": 0.70930,
    "MoKa2": 0.71359,
    "MoKb1": 0.63229,
    "CrKa": 2.29100,
    "CrKa1": 2.28970,
    "CrKa2": 2.29361,
    "CrKb1": 2.08487,
    "FeKa": 1.93735,
    "FeKa1": 1.93604,
    "FeKa2": 1.93998,
    "FeKb1": 1.75661,
    "CoKa": 1.79026,
    "CoKa1": 1.78896,
    "CoKa2": 1.79285,
    "CoKb1": 1.63079,
    "AgKa": 0.560885,
    "AgKa1": 0.559421,
    "AgKa2": 0.563813,
    "AgKb1": 0.497082,
}
_ALIASES = {"": "a", "a": "a", "alpha": "a", "α": "a", "b": "b", "beta": "b", "β": "b"}


def resolve_wavelength(value: str | float | None) -> float:
    """Å from a number, a numeric string, or a name like ``Cu``, ``CuKa``, ``Cu Kα1``, ``Mo-Ka``, ``CoKb1``."""
    if value is None:
        return WAVELENGTHS["CuKa"]
    if isinstance(value, int | float) and not isinstance(value, bool):
        wl = float(value)
    else:
        text = str(value).strip()
        try:
            wl = float(text)
        except ValueError:
            m = re.fullmatch(r"([A-Za-z]{2})[\s_-]*(?:K[\s_-]*(alpha|beta|a|b|α|β)?\s*([12])?)?", text, re.I)
            if not m or m.group(1).capitalize() + "Ka" not in WAVELENGTHS:
                known = ", ".join(sorted(WAVELENGTHS))
                raise BadInput(f"unknown wavelength {text!r} (use a number in Å or one of {known})") from None
            line = _ALIASES[(m.group(2) or "").lower()]
            order = m.group(3) or ("1" if line == "b" else "")
            key = f"{m.group(1).capitalize()}K{line}{order}"
            if key not in WAVELENGTHS:
                raise BadInput(f"unknown wavelength {text!r}") from None
            return WAVELENGTHS[key]
    if not math.isfinite(wl) or not 0.1 <= wl <= 5.0:
        raise BadInput(f"wavelength {value!r} Å is outside 0.1–5 Å")
    return wl


def two_theta_to_d(two_theta: np.ndarray, wavelength: float) -> np.ndarray:
    return wavelength / (2.0 * np.sin(np.radians(np.asarray(two_theta, dtype=np.float64) / 2.0)))


def d_to_two_theta(d: np.ndarray, wavelength: float) -> np.ndarray:
    """2θ (°) for d-spacings at ``wavelength``; NaN where the reflection is not reachable (λ/2d > 1)."""
    s = wavelength / (2.0 * np.asarray(d, dtype=np.float64))
    out = np.full(s.shape, np.nan)
    ok = (s > 0) & (s <= 1)
    out[ok] = 2.0 * np.degrees(np.arcsin(s[ok]))
    return out


XKind = Literal["auto", "2theta", "d", "q"]
MIN_POINTS = 50
MIN_OVERLAP_DEG = 10.0  # the pattern must cover this much of the library 2θ range
MAX_POINTS = 2_000_000
TEXT_SUFFIXES = (".xy", ".xye", ".dat", ".txt", ".csv", ".tsv", ".asc", ".ascii", "")
_COMMENT = ("#", "!", ";", "%", "//", "*", "'")
_SPLIT = re.compile(r"[,\t; ]+")


@dataclass
class Pattern:
    """A measured pattern: x in ° 2θ at ``wavelength`` (Å), ascending, and intensities."""

    two_theta: np.ndarray
    intensity: np.ndarray
    wavelength: float
    name: str = "pattern"
    notes: list[str] = field(default_factory=list)
    wavelength_source: str = "default"  # "file" (read from the file), "user" (given), "default" (Cu Kα)
    format: str = "text"  # "text" or the instrument format read (xrdml, brml, bruker-raw-4, ras, ...)


def _detect_kind(header: str) -> XKind:
    h = header.lower()
    if re.search(r"\bq\b|q\s*\(|1/å|1/a\b|å\^-1|a\^-1|nm\^-1|1/nm", h):
        return "q"
    if re.search(r"d[-_ ]?spacing|\bd\s*\(|\bd\b\s*[\[(]?(å|a|angstrom)", h) or re.fullmatch(r"\s*d\s*[,\t ].*", h):
        return "d"
    return "2theta"


def _header_wavelength(header: str) -> float | None:
    m = re.search(r"(?:wavelength|lambda|λ|wave_length|alpha1)\s*[:=]?\s*([0-9]*\.[0-9]+)", header, re.I)
    if m:
        value = float(m.group(1))
        if 0.1 <= value <= 5.0:
            return value
    # Rigaku/Bruker text exports name only the anode (";Target = Cu"): its Kα1 line
    m = re.search(r"(?:target|anode)(?:\s*material)?\s*[:=]\s*\"?(Cu|Co|Mo|Fe|Cr|Ag)\b", header, re.I)
    if m:
        return WAVELENGTHS[m.group(1).capitalize() + "Ka1"]
    return None


def read_pattern_text(
    text: str, name: str = "pattern", *, x_kind: XKind = "auto", wavelength: str | float | None = None
) -> Pattern:
    """Two- or three-column text (x, intensity[, error]) with comments, headers, commas/tabs/semicolons, any step
    order; x is 2θ (default), or d (Å) / q (1/Å) when ``x_kind`` says so or a header declares it."""
    fast = _read_fast(text)
    if fast is not None:
        header_lines, x, y = fast
    else:
        header_lines, x, y = _read_lines(text, name)
    header = "\n".join(header_lines)
    kind = _detect_kind(header) if x_kind == "auto" else x_kind
    source = "user"
    if wavelength is None:
        declared = _header_wavelength(header)
        wl = declared if declared is not None else resolve_wavelength(None)
        source = "file" if declared is not None else "default"
    else:
        wl = resolve_wavelength(wavelength)
    p = pattern_from_arrays(x, y, name=name, x_kind=kind, wavelength=wl)
    p.wavelength_source = source
    return p


_FAST_SPLIT = re.compile(r"[,\t; \r\n]+")  # any run of separators and line ends (blank lines included)
_NONBLANK = re.compile(r"^[ \t\r]*[^\s]", re.M)  # one match per line with content


def _read_fast(text: str) -> tuple[list[str], np.ndarray, np.ndarray] | None:
    """Vectorised parse of the common case — header lines, then a block of numeric rows with the same number of
    columns — or None (then ``_read_lines`` parses line by line and names any problem)."""
    lines = text.splitlines()
    start = 0
    header: list[str] = []
    while start < len(lines) and start < 200:
        line = lines[start].strip().lstrip("\ufeff")
        if line and not line.startswith(_COMMENT):
            try:
                [float(p) for p in _SPLIT.split(line) if p]
                break
            except ValueError:
                pass
        if line:
            header.append(line)
        start += 1
    text_body = "\n".join(lines[start:]).strip()
    n_rows = len(_NONBLANK.findall(text_body))
    if not n_rows or n_rows > MAX_POINTS:
        return None
    first = text_body.split("\n", 1)[0]
    ncols = len([p for p in _SPLIT.split(first.strip()) if p])
    if not 2 <= ncols <= 3:
        return None
    try:
        values = np.array(_FAST_SPLIT.split(text_body), dtype=np.float64)
    except ValueError:
        return None
    if values.size != n_rows * ncols:
        return None
    table = values.reshape(n_rows, ncols)
    return header, table[:, 0].copy(), table[:, 1].copy()


def _read_lines(text: str, name: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    header_lines: list[str] = []
    rows: list[list[float]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip().lstrip("\ufeff")
        if not line:
            continue
        if line.startswith(_COMMENT):
            header_lines.append(line)
            continue
        parts = [p for p in _SPLIT.split(line) if p]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            if rows:
                raise BadInput(f"{name}: line {lineno} is not numeric: {line[:60]!r}") from None
            header_lines.append(line)
            continue
        if len(values) < 2:
            raise BadInput(f"{name}: line {lineno} has one column; need x and intensity (two or three columns)")
        rows.append(values[:3])
        if len(rows) > MAX_POINTS:
            raise TooLarge(f"{name}: more than {MAX_POINTS} data points")
    if not rows:
        raise BadInput(f"{name}: no numeric data (empty file or only headers)")
    x = np.array([r[0] for r in rows], dtype=np.float64)
    y = np.array([r[1] for r in rows], dtype=np.float64)
    return header_lines, x, y


def read_pattern_bytes(
    data: bytes, name: str = "pattern", *, x_kind: XKind = "auto", wavelength: str | float | None = None
) -> Pattern:
    """A pattern file: an instrument format (``xrd_files.INSTRUMENT_SUFFIXES``: .xrdml, .brml, .raw, .uxd, .ras,
    .rasx, .gsa/.gss/.fxye, .chi, powder .cif) with its own wavelength, or text. An explicit ``wavelength`` wins
    over the file's."""
    lower = name.lower()
    suffix = lower[lower.rfind(".") :] if "." in lower else ""
    if suffix and suffix not in TEXT_SUFFIXES and suffix not in INSTRUMENT_SUFFIXES:
        raise UnsupportedMedia(
            f"{name}: unsupported pattern format {suffix!r} (use .xrdml, .brml, .raw, .uxd, .ras, .rasx, .gsa, "
            ".fxye, .chi, a powder .cif, or text: .xy, .xye, .dat, .txt, .csv with x and intensity)"
        )
    if not data.strip():
        raise BadInput(f"{name}: empty file")
    scan = read_instrument_file(data, name)
    if scan is not None:
        if wavelength is not None:
            wl, source = resolve_wavelength(wavelength), "user"
        elif scan.wavelength is not None:
            wl, source = scan.wavelength, "file"
        else:
            wl, source = resolve_wavelength(None), "default"
        kind: XKind = "q" if scan.x_kind == "q" else (x_kind if x_kind in ("d", "q") else "2theta")
        p = pattern_from_arrays(scan.x, scan.y, name=name, x_kind=kind, wavelength=wl)
        p.wavelength_source, p.format, p.notes = source, scan.format, list(scan.notes)
        return p
    if b"\x00" in data[:4096]:
        raise UnsupportedMedia(f"{name}: binary file; export the pattern as two-column text (.xy/.csv)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return read_pattern_text(text, name, x_kind=x_kind, wavelength=wavelength)


def pattern_from_arrays(
    x: np.ndarray | list[float],
    y: np.ndarray | list[float],
    *,
    name: str = "pattern",
    x_kind: XKind = "2theta",
    wavelength: str | float | None = None,
) -> Pattern:
    """Validate raw arrays and return a Pattern in 2θ at ``wavelength`` (d or q x-values are converted)."""
    wl = resolve_wavelength(wavelength)
    try:
        xa = np.asarray(x, dtype=np.float64).reshape(-1)
        ya = np.asarray(y, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise BadInput(f"{name}: x and intensity must be numbers") from exc
    if xa.size != ya.size:
        raise BadInput(f"{name}: x has {xa.size} values but intensity has {ya.size}")
    if xa.size == 0:
        raise BadInput(f"{name}: empty pattern")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise BadInput(f"{name}: pattern contains NaN or infinite values")
    if xa.size < MIN_POINTS:
        raise BadInput(f"{name}: too few points ({xa.size}; need at least {MIN_POINTS})")
    kind = "2theta" if x_kind == "auto" else x_kind
    if kind in ("d", "q"):
        if np.any(xa <= 0):
            raise BadInput(f"{name}: {kind} values must be positive")
        d = xa if kind == "d" else 2.0 * math.pi / xa
        xa = d_to_two_theta(d, wl)
        ok = np.isfinite(xa)
        xa, ya = xa[ok], ya[ok]
        if xa.size < MIN_POINTS:
            raise BadInput(f"{name}: too few reachable reflections at λ = {wl} Å")
    elif np.any(xa <= 0) or np.any(xa >= 180):
        raise BadInput(f"{name}: 2θ values must lie between 0 and 180° (got {xa.min():.3g}…{xa.max():.3g})")
    order = np.argsort(xa, kind="stable")
    xa, ya = xa[order], ya[order]
    keep = np.concatenate([[True], np.diff(xa) > 0])  # drop repeated x
    xa, ya = xa[keep], ya[keep]
    if float(ya.max() - ya.min()) <= 0:
        raise BadInput(f"{name}: intensities are all {'zero' if ya.max() == 0 else 'equal'}: no pattern")
    return Pattern(two_theta=xa, intensity=ya, wavelength=wl, name=name)


def to_library_grid(p: Pattern) -> tuple[np.ndarray, np.ndarray]:
    """Resample onto the library grid (Cu Kα1 2θ via d-spacings). Returns (intensity, mask of covered points)."""
    d = p.wavelength / (2.0 * np.sin(np.radians(p.two_theta / 2.0)))
    lib_tt = d_to_two_theta(d, LIB_WAVELENGTH)
    ok = np.isfinite(lib_tt)
    lib_tt, y = lib_tt[ok], p.intensity[ok]
    if lib_tt.size < 2:
        raise BadInput(f"{p.name}: no data within the library range {TWO_THETA_MIN:g}–{TWO_THETA_MAX:g}° 2θ (Cu Kα1)")
    lo, hi = max(float(lib_tt.min()), TWO_THETA_MIN), min(float(lib_tt.max()), TWO_THETA_MAX)
    if hi - lo < MIN_OVERLAP_DEG:
        raise BadInput(
            f"{p.name}: pattern covers {lib_tt.min():.1f}–{lib_tt.max():.1f}° 2θ (as Cu Kα1); it must overlap the "
            f"library range {TWO_THETA_MIN:g}–{TWO_THETA_MAX:g}° by at least {MIN_OVERLAP_DEG:g}°"
        )
    steps = np.diff(lib_tt)
    median_step = float(np.median(steps))
    if median_step < TWO_THETA_STEP * 0.75:  # finer than the grid: box-average first so that peaks are not aliased
        width = max(int(round(TWO_THETA_STEP / median_step)), 1)
        y = ndimage.uniform_filter1d(y, width)
    mask = (GRID_2THETA >= lo) & (GRID_2THETA <= hi)
    out = np.zeros(GRID_2THETA.size, dtype=np.float64)
    out[mask] = np.interp(GRID_2THETA[mask], lib_tt, y)
    # gaps much wider than the data step (missing ranges) are not "covered"
    big = np.nonzero(steps > max(10 * median_step, 1.0))[0]
    for i in big:
        mask &= ~((GRID_2THETA > lib_tt[i]) & (GRID_2THETA < lib_tt[i + 1]))
    out[~mask] = 0.0
    return out, mask


def snip_background(y: np.ndarray, width_points: int) -> np.ndarray:
    """SNIP background (Ryan et al. 1988) on the log-log-sqrt scale: peaks narrower than ``width_points`` go."""
    v = np.log(np.log(np.sqrt(np.clip(y, 0, None) + 1.0) + 1.0) + 1.0)
    n = v.size
    for p in range(1, min(width_points, (n - 1) // 2) + 1):
        avg = 0.5 * (v[: n - 2 * p] + v[2 * p :])
        v[p : n - p] = np.minimum(v[p : n - p], avg)
    return (np.exp(np.exp(v) - 1.0) - 1.0) ** 2 - 1.0


def noise_sigma(y: np.ndarray) -> float:
    """Robust σ of point-to-point noise (MAD of the second difference)."""
    if y.size < 5:
        return 0.0
    d2 = y[2:] - 2 * y[1:-1] + y[:-2]
    return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / math.sqrt(6.0))


def remove_background(y: np.ndarray, mask: np.ndarray | None = None, width_deg: float = 2.0) -> np.ndarray:
    """Subtract the background (SNIP) and the noise floor (3σ, soft threshold), clip at zero, scale to max 1.
    Outside ``mask`` the result is zero."""
    y = np.asarray(y, dtype=np.float64).copy()
    if mask is None:
        mask = np.ones(y.size, dtype=bool)
    if not mask.any():
        raise BadInput("pattern has no data inside the library range")
    idx = np.nonzero(mask)[0]
    lo, hi = int(idx[0]), int(idx[-1]) + 1
    seg = y[lo:hi]
    offset = float(seg.min())
    seg = seg - offset  # SNIP needs non-negative data; negative (already subtracted) patterns are shifted
    sigma = noise_sigma(seg)
    smooth = ndimage.gaussian_filter1d(seg, 1.0)
    base = snip_background(smooth, max(int(width_deg / TWO_THETA_STEP), 5))
    # counting noise grows with the local level (√counts): scale the global σ by √(local level / median level)
    level = np.maximum(base, 0.0) + 1e-9
    local = sigma * np.clip(np.sqrt(level / max(float(np.median(level)), 1e-9)), 0.5, 4.0)
    seg = smooth - base - 3.0 * local
    out = np.zeros_like(y)
    out[lo:hi] = np.clip(seg, 0.0, None)
    out[~mask] = 0.0
    peak = float(out.max())
    if peak <= 0:
        raise BadInput("pattern has no peaks above the background and noise")
    return (out / peak).astype(np.float32)


@dataclass
class Peaks:
    two_theta: np.ndarray  # ° 2θ at the library wavelength
    height: np.ndarray  # relative to the strongest (1)
    index: np.ndarray  # grid indices


def find_peaks(y: np.ndarray, max_peaks: int = 60, min_rel: float = 0.015) -> Peaks:
    """Peaks of a background-free, max-1 pattern on the grid: prominence above the noise, strongest first kept."""
    ys = ndimage.gaussian_filter1d(np.asarray(y, dtype=np.float64), 1.0)
    prominence = max(min_rel, 4.0 * noise_sigma(ys))
    idx, props = signal.find_peaks(ys, prominence=prominence, distance=3)
    if idx.size == 0:
        return Peaks(np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64))
    heights = ys[idx]
    if idx.size > max_peaks:
        top = np.sort(np.argsort(-heights)[:max_peaks])
        idx, heights = idx[top], heights[top]
    hmax = float(heights.max())
    return Peaks(two_theta=GRID_2THETA[idx].astype(np.float64), height=heights / hmax, index=idx)


def strongest_peak_fwhm(y: np.ndarray, mask: np.ndarray) -> float:
    """FWHM (° 2θ) of the strongest peak of a raw pattern on the grid, above its local minimum within ±3°."""
    ys = ndimage.gaussian_filter1d(np.where(mask, np.asarray(y, dtype=np.float64), 0.0), 1.0)
    inside = np.nonzero(mask)[0]
    if inside.size < 5:
        return 0.1
    lo, hi = int(inside[0]), int(inside[-1]) + 1
    c = lo + int(np.argmax(ys[lo:hi]))
    span = int(round(3.0 / TWO_THETA_STEP))
    a, b = max(lo, c - span), min(hi, c + span + 1)
    base = float(ys[a:b].min())
    half = base + 0.5 * (float(ys[c]) - base)
    left = c
    while left > a and ys[left] > half:
        left -= 1
    right = c
    while right < b - 1 and ys[right] > half:
        right += 1
    return float(max(right - left, 1) * TWO_THETA_STEP)


def background_width(y: np.ndarray, mask: np.ndarray) -> float:
    """SNIP half-window for phase identification: 2.5 × the strongest peak's FWHM, 0.6–2°. Narrow windows keep
    amorphous humps (glass holders, amorphous content: 5–20° wide) in the background where a fixed 2° window lets
    SNIP erode them into broad pseudo-peaks; peaks up to ~1° FWHM survive a 0.6° window."""
    return float(np.clip(2.5 * strongest_peak_fwhm(y, mask), 0.6, 2.0))


def preprocess(p: Pattern, adaptive_background: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A measured pattern → (background-free max-1 intensities on the library grid, coverage mask).
    ``adaptive_background``: the SNIP window follows the measured peak width (``background_width``; phase
    identification) instead of the fixed 2°."""
    grid_y, mask = to_library_grid(p)
    width = background_width(grid_y, mask) if adaptive_background else 2.0
    return remove_background(grid_y, mask, width_deg=width), mask
