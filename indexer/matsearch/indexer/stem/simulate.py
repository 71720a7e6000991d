"""Incoherent Z-contrast STEM image simulation (HAADF, ADF and an ABF-like contrast), fast and deterministic.

Physics, in the order it is applied:

1. **Zone-axis projection.** The zone axis ``[uvw]`` (direct-lattice indices of the given cell) is a lattice vector
   ``d``. We complete it to a unimodular basis ``(d, e1, e2)`` of the same lattice; then every atom projects onto the
   plane normal to ``d`` inside the 2-D cell spanned by the projections of ``e1`` and ``e2``, and the atoms of one
   period ``|d|`` along the beam that land on the same spot form an atomic column. Lattice spacings are the real
   ones (Å) and the image is rendered at the requested pixel size (Å/px), tiled periodically.
2. **Column intensity.** Per period, a column scatters ``sum(occupancy * Z**n)`` (n ≈ 1.7 HAADF, ≈ 1.3 ADF, ≈ 0.6
   ABF). Over a thickness ``t`` the intensity grows linearly at first and saturates (channelling): heavier and
   denser columns saturate sooner, so the relative contrast changes with thickness.
3. **Probe.** A Gaussian probe (FWHM in Å), broadened with thickness (beam spreading) and, off zone axis (mistilt),
   smeared along the tilt direction in proportion to thickness.
4. **Acquisition.** In-plane rotation and origin shift; scan distortions (linear drift = shear/stretch along the
   slow scan direction, per-line jitter, a slow sinusoidal line wobble); vacancies and adatoms (missing / extra
   columns); a smooth background (amorphous layer / contamination); Poisson (dose) and Gaussian read noise.
   ABF-like images show columns dark on a bright background with a faint bright halo.

Images are returned as float32 arrays in [0, 1] (robust percentile stretch). ``random_params`` draws a randomised
acquisition for training or evaluation; everything is a pure function of its parameters and seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from scipy import ndimage
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from matsearch.encoders.stem_library import LIBRARY_PX, LIBRARY_SIZE

Mode = Literal["haadf", "adf", "abf"]
Export = Literal["float", "uint8", "jpeg"]
MODES: tuple[Mode, ...] = ("haadf", "adf", "abf")
DEFAULT_EXPONENT: dict[str, float] = {"haadf": 1.7, "adf": 1.3, "abf": 0.6}

# Library convention: every library image is this many pixels square at this pixel size.
LIBRARY_RENDER = 192  # library images are rendered this large (48 Å); the CNN sees the central 96²

_FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


# ---------------------------------------------------------------------------------------------------------------------
# Projection


@dataclass(frozen=True)
class Projection:
    """A crystal projected along a zone axis: one 2-D cell of atomic columns."""

    zone: tuple[int, int, int]
    basis: np.ndarray  # (2, 2) rows: the 2-D cell vectors in Å (plane coordinates)
    period: float  # |d|: repeat distance along the beam, Å
    col_frac: np.ndarray  # (m, 2) column positions, fractional in the 2-D cell
    atom_col: np.ndarray  # (k,) column index of each (species, site) entry
    atom_z: np.ndarray  # (k,) atomic number
    atom_occ: np.ndarray  # (k,) occupancy

    @property
    def n_columns(self) -> int:
        return int(self.col_frac.shape[0])

    def column_weights(self, exponent: float) -> np.ndarray:
        """Scattering per period of each column: sum(occ * Z**n)."""
        w = self.atom_occ * self.atom_z.astype(np.float64) ** exponent
        return np.bincount(self.atom_col, weights=w, minlength=self.n_columns)

    def column_z_density(self) -> np.ndarray:
        """Sum of Z per Å along the beam, per column (drives channelling saturation)."""
        w = self.atom_occ * self.atom_z.astype(np.float64)
        return np.bincount(self.atom_col, weights=w, minlength=self.n_columns) / self.period

    def min_column_spacing(self) -> float:
        """Smallest distance (Å) between two distinct columns, periodic images included."""
        lattice_min = float(
            min(
                np.linalg.norm(self.basis, axis=1).min(),
                np.linalg.norm(self.basis.sum(0)),
                np.linalg.norm(self.basis[0] - self.basis[1]),
            )
        )
        if self.n_columns < 2:
            return lattice_min
        df = self.col_frac[:, None, :] - self.col_frac[None, :, :]
        df -= np.round(df)
        shifts = np.array([[i, j] for i in (-1, 0, 1) for j in (-1, 0, 1)], dtype=np.float64)
        d = np.linalg.norm((df[:, :, None, :] + shifts[None, None]) @ self.basis, axis=3).min(axis=2)
        np.fill_diagonal(d, np.inf)
        return min(lattice_min, float(d.min()))


def _primitive(zone: tuple[int, int, int]) -> tuple[int, int, int]:
    g = math.gcd(math.gcd(abs(zone[0]), abs(zone[1])), abs(zone[2]))
    if g == 0:
        raise ValueError("zone axis [0 0 0] is not a direction")
    u, v, w = (zone[0] // g, zone[1] // g, zone[2] // g)
    return (u, v, w)


@lru_cache(maxsize=1)
def _candidate_vectors() -> np.ndarray:
    r = np.arange(-2, 3)
    vecs = np.stack(np.meshgrid(r, r, r, indexing="ij"), axis=-1).reshape(-1, 3)
    return vecs[np.any(vecs != 0, axis=1)]


@lru_cache(maxsize=1)
def _candidate_cross() -> np.ndarray:
    cand = _candidate_vectors()
    return np.cross(cand[:, None, :], cand[None, :, :])  # (c, c, 3), structure independent


def _complete_basis(d: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    """Integer vectors e1, e2 with det[d; e1; e2] = 1, chosen to have short projections (rows of a (2, 3) array)."""
    cand = _candidate_vectors()
    det = _candidate_cross() @ d
    i, j = np.nonzero(det == 1)
    if len(i) == 0:
        raise ValueError(f"cannot complete zone axis {d.tolist()} to a lattice basis")
    dc = d @ lattice
    n = dc / np.linalg.norm(dc)
    cart = cand @ lattice
    proj = cart - np.outer(cart @ n, n)
    plen = np.linalg.norm(proj, axis=1)
    cost = plen[i] + plen[j]
    k = int(np.argmin(cost))
    return np.stack([cand[i[k]], cand[j[k]]])


def _gauss_reduce(b: np.ndarray) -> np.ndarray:
    """Lagrange-Gauss reduction of a 2-D lattice basis (rows)."""
    u, v = b[0].copy(), b[1].copy()
    for _ in range(100):
        if np.dot(u, u) > np.dot(v, v):
            u, v = v, u
        m = round(float(np.dot(u, v) / np.dot(u, u)))
        if m == 0:
            break
        v = v - m * u
    return np.stack([u, v])


def project(
    lattice: np.ndarray,
    frac_coords: np.ndarray,
    numbers: np.ndarray,
    occupancies: np.ndarray,
    zone: tuple[int, int, int],
    column_tol: float = 0.12,
) -> Projection:
    """Project a crystal (lattice rows a, b, c in Å; fractional coords; Z; occupancy) along ``zone`` = [uvw]."""
    lattice = np.asarray(lattice, dtype=np.float64)
    zone = _primitive(zone)
    d = np.array(zone, dtype=np.int64)
    e = _complete_basis(d, lattice)
    m_int = np.vstack([d, e])  # rows: new basis in old-basis indices, det ±1
    new_basis = m_int @ lattice  # Cartesian rows d, E1, E2
    dc = new_basis[0]
    period = float(np.linalg.norm(dc))
    n = dc / period
    # Orthonormal in-plane frame: x along the projection of E1.
    p1 = new_basis[1] - np.dot(new_basis[1], n) * n
    xh = p1 / np.linalg.norm(p1)
    yh = np.cross(n, xh)
    frame = np.stack([xh, yh], axis=1)  # (3, 2)
    basis2 = _gauss_reduce(new_basis[1:] @ frame)  # 2-D cell in Å
    cart = np.asarray(frac_coords, dtype=np.float64) @ lattice
    xy = cart @ frame
    f2 = xy @ np.linalg.inv(basis2)
    f2 = f2 - np.floor(f2)
    # Cluster atoms into columns (periodic in the 2-D cell): connected components of "closer than column_tol".
    df = f2[:, None, :] - f2[None, :, :]
    df -= np.round(df)
    close = np.linalg.norm(df @ basis2, axis=2) < column_tol
    n_comp, col_of = connected_components(csr_matrix(close), directed=False)
    ref = f2[np.array([np.argmax(col_of == c) for c in range(n_comp)])]  # one member per column
    off = f2 - ref[col_of]
    off -= np.round(off)
    col_frac = np.zeros((n_comp, 2))
    np.add.at(col_frac, col_of, ref[col_of] + off)
    col_frac = (col_frac / np.bincount(col_of, minlength=n_comp)[:, None]) % 1.0
    return Projection(
        zone=zone,
        basis=basis2,
        period=period,
        col_frac=col_frac.reshape(-1, 2),
        atom_col=col_of.astype(np.int64),
        atom_z=np.asarray(numbers, dtype=np.int64),
        atom_occ=np.asarray(occupancies, dtype=np.float64),
    )


def project_structure(structure: Any, zone: tuple[int, int, int]) -> Projection:
    """Project a pymatgen ``Structure`` (zone indices refer to its own cell) along ``zone``."""
    fracs, zs, occs = [], [], []
    for site in structure:
        for sp, occ in site.species.items():
            z = getattr(sp, "Z", None)
            if z is None:  # DummySpecies etc.
                continue
            fracs.append(site.frac_coords)
            zs.append(int(z))
            occs.append(float(occ))
    if not zs:
        raise ValueError("structure has no real atoms")
    return project(structure.lattice.matrix, np.array(fracs), np.array(zs), np.array(occs), zone)


# ---------------------------------------------------------------------------------------------------------------------
# Rendering


@dataclass(frozen=True)
class SimParams:
    """One acquisition. Lengths in Å, angles in degrees, shapes in pixels."""

    size: tuple[int, int] = (LIBRARY_SIZE, LIBRARY_SIZE)  # (height, width)
    px: float = LIBRARY_PX  # Å per pixel
    mode: Mode = "haadf"
    exponent: float | None = None  # Z exponent; None = the mode's default
    probe_fwhm: float = 0.9  # Å
    thickness: float = 100.0  # Å
    rotation: float = 0.0  # in-plane, degrees
    shift: tuple[float, float] = (0.0, 0.0)  # origin shift, Å
    mistilt: float = 0.0  # mrad off the zone axis
    mistilt_dir: float = 0.0  # degrees (in the image plane)
    drift: tuple[float, float] = (0.0, 0.0)  # (shear x per y, stretch of y): fractions
    line_jitter: float = 0.0  # px rms, independent per scan line
    line_wobble: float = 0.0  # px amplitude of a slow sinusoidal line displacement
    vacancy_rate: float = 0.0  # fraction of visible columns dimmed
    adatom_rate: float = 0.0  # extra blobs per nm² of field of view
    background: float = 0.0  # smooth background, fraction of the peak column signal
    dose: float | None = None  # electrons per pixel at the brightest level; None = noiseless
    read_noise: float = 0.0  # Gaussian noise, fraction of the signal range
    probe_tail: float = 0.0  # fraction of the probe current in its aberration tail (0 = a pure Gaussian)
    amorphous: float = 0.0  # amorphous support film (speckle ~1-3 Å), fraction of the peak column signal
    particle: float = 0.0  # 0 = crystal fills the field; else a particle of this radius (fraction of the field)
    twin: bool = False  # the particle holds a mirror twin boundary (only with ``particle``)
    flyback: float = 0.0  # px: the scan's line-start (flyback) distortion, decaying along each line
    export: Export = "float"  # what the microscope software wrote: float, 8-bit, or an 8-bit JPEG
    jpeg_quality: int = 85
    seed: int = 0

    def to_payload(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "exponent": self.z_exponent,
            "px_angstrom": self.px,
            "size": list(self.size),
            "probe_fwhm": round(self.probe_fwhm, 4),
            "thickness": round(self.thickness, 2),
            "rotation": round(self.rotation, 3),
            "dose": self.dose,
            "seed": self.seed,
        } | {k: v for k, v in self._extras().items() if v}

    def _extras(self) -> dict[str, Any]:
        """Realism parameters, reported only when used (library payloads stay as they were)."""
        return {
            "probe_tail": round(self.probe_tail, 3),
            "amorphous": round(self.amorphous, 3),
            "particle": round(self.particle, 3),
            "twin": self.twin,
            "flyback": round(self.flyback, 2),
            "export": self.export if self.export != "float" else "",
        }

    @property
    def z_exponent(self) -> float:
        return DEFAULT_EXPONENT[self.mode] if self.exponent is None else float(self.exponent)


def _channelling_intensity(weights: np.ndarray, z_density: np.ndarray, period: float, thickness: float) -> np.ndarray:
    """Column intensity vs thickness: linear for thin crystals, saturating with a column-dependent length."""
    lin_per_a = weights / period
    length = 300.0 / (1.0 + z_density / 5.0)  # Å: heavy, dense columns channel (saturate) sooner
    return lin_per_a * length * (1.0 - np.exp(-thickness / length))


def _tile_columns(proj: Projection, p: SimParams, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (row, col) and column index of every column image that can touch the field of view."""
    h, w = p.size
    half = 0.5 * p.px * math.hypot(h, w) + 4.0  # Å, covers the rotated field plus a blur margin
    inv = np.linalg.inv(proj.basis)
    n1 = int(math.ceil(half * np.linalg.norm(inv[:, 0]))) + 1
    n2 = int(math.ceil(half * np.linalg.norm(inv[:, 1]))) + 1
    g1, g2 = np.meshgrid(np.arange(-n1, n1 + 1), np.arange(-n2, n2 + 1), indexing="ij")
    cells = np.stack([g1.ravel(), g2.ravel()], axis=1).astype(np.float64)
    frac = cells[:, None, :] + proj.col_frac[None, :, :]  # (cells, m, 2)
    shift = np.asarray(p.shift, dtype=np.float64)
    shift = shift - np.floor(shift @ inv) @ proj.basis  # only the shift modulo the 2-D cell matters
    xy = frac.reshape(-1, 2) @ proj.basis - shift
    idx = np.tile(np.arange(proj.n_columns), len(cells))
    th = math.radians(p.rotation)
    rot = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    xy = xy @ rot.T
    col = xy[:, 0] / p.px + 0.5 * (w - 1)
    row = -xy[:, 1] / p.px + 0.5 * (h - 1)  # image rows grow downwards
    # Linear drift during the (row-by-row) scan: shear along x proportional to the row, stretch along y.
    col = col + p.drift[0] * (row - 0.5 * (h - 1))
    row = 0.5 * (h - 1) + (row - 0.5 * (h - 1)) * (1.0 + p.drift[1])
    margin = 6.0 * (p.probe_fwhm / p.px) + 2
    keep = (row > -margin) & (row < h - 1 + margin) & (col > -margin) & (col < w - 1 + margin)
    return np.stack([row[keep], col[keep]], axis=1), idx[keep]


def _splat(shape: tuple[int, int], rc: np.ndarray, values: np.ndarray, pad: int) -> np.ndarray:
    """Bilinear deposit of point intensities on a padded grid."""
    hp, wp = shape[0] + 2 * pad, shape[1] + 2 * pad
    grid = np.zeros((hp, wp), dtype=np.float64)
    r = rc[:, 0] + pad
    c = rc[:, 1] + pad
    r0 = np.floor(r).astype(np.int64)
    c0 = np.floor(c).astype(np.int64)
    fr = r - r0
    fc = c - c0
    for dr, dc, wt in ((0, 0, (1 - fr) * (1 - fc)), (1, 0, fr * (1 - fc)), (0, 1, (1 - fr) * fc), (1, 1, fr * fc)):
        rr, cc = r0 + dr, c0 + dc
        ok = (rr >= 0) & (rr < hp) & (cc >= 0) & (cc < wp)
        np.add.at(grid, (rr[ok], cc[ok]), values[ok] * wt[ok])
    return grid


def _blur(
    grid: np.ndarray, sigma: float, smear: tuple[float, float] | None, tail: float = 0.0, tail_sigma: float = 0.0
) -> np.ndarray:
    out = ndimage.gaussian_filter(grid, sigma=sigma, mode="constant", truncate=3.5)
    if tail > 0 and tail_sigma > sigma:
        # Aberration-limited probe: a sharp core plus a broad skirt carrying ``tail`` of the current (the skirt
        # lights up the neighbouring columns: cross-talk, lower contrast, a raised floor between columns).
        out = (1.0 - tail) * out + tail * ndimage.gaussian_filter(grid, sigma=tail_sigma, mode="constant", truncate=3.0)
    if smear is not None:
        length, angle = smear
        if length > 0.3:  # smear (px) along a direction: a short line kernel
            n = max(3, int(math.ceil(length)) * 2 + 1)
            k = np.zeros((n, n))
            t = np.linspace(-length / 2, length / 2, 4 * n)
            rr = np.clip(np.round(n // 2 - t * math.sin(math.radians(angle))).astype(int), 0, n - 1)
            cc = np.clip(np.round(n // 2 + t * math.cos(math.radians(angle))).astype(int), 0, n - 1)
            np.add.at(k, (rr, cc), 1.0)
            out = ndimage.convolve(out, k / k.sum(), mode="constant")
    return np.asarray(out)


def render(proj: Projection, params: SimParams) -> np.ndarray:
    """Render one image (float32, ``params.size``, values in [0, 1])."""
    p = params
    h, w = p.size
    if h < 4 or w < 4:
        raise ValueError("image must be at least 4x4 pixels")
    if not (p.px > 0 and math.isfinite(p.px)):
        raise ValueError(f"pixel size must be positive, got {p.px}")
    rng = np.random.default_rng(p.seed)
    weights = proj.column_weights(p.z_exponent)
    inten = _channelling_intensity(weights, proj.column_z_density(), proj.period, max(p.thickness, 1.0))
    rc, idx = _tile_columns(proj, p, rng)
    values = inten[idx].astype(np.float64)
    if p.vacancy_rate > 0 and len(values):
        hit = rng.random(len(values)) < p.vacancy_rate
        values[hit] *= rng.uniform(0.0, 0.6, size=int(hit.sum()))
    peak = float(values.max()) if len(values) else 1.0
    if p.adatom_rate > 0:
        area_nm2 = h * w * (p.px / 10.0) ** 2
        n_add = rng.poisson(p.adatom_rate * area_nm2)
        if n_add:
            extra_rc = rng.uniform([0, 0], [h - 1, w - 1], size=(n_add, 2))
            rc = np.vstack([rc, extra_rc])
            values = np.concatenate([values, rng.uniform(0.1, 0.6, n_add) * peak])
    # Probe: Gaussian, broadened with thickness (beam spreading), plus a mistilt smear.
    sigma_a = math.hypot(p.probe_fwhm * _FWHM_TO_SIGMA, 0.0015 * p.thickness)
    sigma = sigma_a / p.px
    pad = int(math.ceil(4 * sigma)) + 2
    grid = _splat((h, w), rc, values, pad)
    smear_px = p.mistilt * 1e-3 * p.thickness / p.px
    tail = min(0.6, p.probe_tail * (1.0 + p.thickness / 400.0)) if p.probe_tail > 0 else 0.0
    img = _blur(grid, sigma, (smear_px, p.mistilt_dir) if smear_px > 0 else None, tail, max(3.0 * sigma, 1.5 / p.px))
    if p.mode == "abf":  # dark cores on a bright background with a faint bright halo
        halo = ndimage.gaussian_filter(grid, sigma=2.2 * sigma, mode="constant", truncate=3.0)
        img = img - 0.3 * halo * (float(img.max()) / max(float(halo.max()), 1e-12))
    img = img[pad : pad + h, pad : pad + w]
    scale = float(np.percentile(np.abs(img), 99.9)) or 1.0
    img = img / scale
    if p.particle > 0:
        img = _particle(img, p, rng, proj.basis)
    if p.amorphous > 0:
        img = img + p.amorphous * _amorphous((h, w), p.px, rng)
    if p.mode == "abf":
        img = 1.0 - 0.8 * img
    # Smooth background (amorphous surface layer / contamination / uneven illumination).
    if p.background > 0:
        field_ = ndimage.zoom(rng.standard_normal((5, 5)), (h / 5, w / 5), order=3, mode="nearest", grid_mode=True)
        field_ = (field_ - field_.min()) / (np.ptp(field_) + 1e-12)
        ramp = np.add.outer(np.linspace(-1, 1, h) * rng.uniform(-1, 1), np.linspace(-1, 1, w) * rng.uniform(-1, 1))
        img = img + p.background * (0.6 * field_ + 0.2 * ramp + 0.5)
    # Scan-line displacements (applied to the image, as the scan does).
    if p.line_jitter > 0 or p.line_wobble > 0 or p.flyback > 0:
        offs = rng.normal(0.0, p.line_jitter, size=h) if p.line_jitter > 0 else np.zeros(h)
        if p.line_wobble > 0:
            offs += p.line_wobble * np.sin(2 * np.pi * np.arange(h) / rng.uniform(20, 80) + rng.uniform(0, 6.3))
        rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
        shift = offs[:, None]
        if p.flyback > 0:  # the beam lags at the start of each line, then catches up
            shift = shift + p.flyback * np.exp(-cols / max(3.0, rng.uniform(0.04, 0.12) * w))
        img = ndimage.map_coordinates(img, [rows, cols - shift], order=1, mode="reflect")
    img = np.clip(img, 0.0, None)
    if p.dose is not None and p.dose > 0:
        img = rng.poisson(img * p.dose / max(float(img.max()), 1e-9)).astype(np.float64)
    if p.read_noise > 0:
        img = img + rng.normal(0.0, p.read_noise * (float(np.ptp(img)) or 1.0), size=img.shape)
    out = normalize(img)
    return export(out, p.export, p.jpeg_quality) if p.export != "float" else out


def export(img: np.ndarray, kind: Export, quality: int = 85) -> np.ndarray:
    """What a user often has instead of the raw data: an 8-bit copy, or an 8-bit JPEG (block artefacts, ringing)."""
    u8 = np.clip(np.round(np.asarray(img, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
    if kind == "jpeg":
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(u8, mode="L").save(buf, format="JPEG", quality=int(quality))
        u8 = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))
    return (u8.astype(np.float32) / 255.0).astype(np.float32)


def _amorphous(shape: tuple[int, int], px: float, rng: np.random.Generator) -> np.ndarray:
    """Amorphous carbon / support film: band-limited speckle (1-3 Å grains) on a mean level, >= 0."""
    white = rng.standard_normal(shape)
    lo = ndimage.gaussian_filter(white, max(0.5, 0.7 / px))
    hi = ndimage.gaussian_filter(white, max(1.0, 2.5 / px))
    sp = lo - hi
    sp = sp / (float(sp.std()) + 1e-12)
    return np.clip(0.5 + 0.25 * sp, 0.0, None)


def twin_directions(basis: np.ndarray, n: int = 4) -> list[float]:
    """In-plane angles (degrees, plane coordinates) of the ``n`` shortest distinct lattice rows of a projected cell:
    where a coherent twin boundary can run (a twin mirrors the crystal across a lattice plane, seen edge-on as a row
    of columns shared by both domains; e.g. fcc [110]: the {111} traces, 5.0 Å rows for Au)."""
    vecs = [i * basis[0] + j * basis[1] for i in range(-3, 4) for j in range(0, 4) if (j > 0 or i > 0)]
    vecs = [v for v in vecs if np.linalg.norm(v) > 1e-6]
    vecs.sort(key=lambda v: float(np.linalg.norm(v)))
    out: list[float] = []
    for v in vecs:
        a = math.degrees(math.atan2(float(v[1]), float(v[0]))) % 180.0
        if all(min(abs(a - b), 180.0 - abs(a - b)) > 1.0 for b in out):
            out.append(a)
        if len(out) == n:
            break
    return out


def _particle(img: np.ndarray, p: SimParams, rng: np.random.Generator, basis: np.ndarray | None = None) -> np.ndarray:
    """A finite particle: the crystal inside an irregular outline, its signal following the thickness profile of
    a rounded particle (plus the particle's own diffuse signal), optionally with a mirror twin boundary (the lattice
    reflected across a line through the particle along one of the projected cell's short lattice rows, so that
    both domains share that row as a real coherent twin does)."""
    h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = h / 2 + rng.uniform(-0.15, 0.15) * h, w / 2 + rng.uniform(-0.15, 0.15) * w
    r0 = p.particle * min(h, w)
    ang = np.arctan2(yy - cy, xx - cx)
    wob = 1.0 + sum(rng.uniform(-0.08, 0.08) * np.cos(k * ang + rng.uniform(0, 6.3)) for k in (2, 3, 5))
    rho = np.hypot(yy - cy, (xx - cx) * rng.uniform(0.8, 1.2)) / (r0 * wob)
    profile = np.sqrt(np.clip(1.0 - rho**2, 0.0, 1.0))
    crystal = img
    if p.twin:
        rows = twin_directions(basis) if basis is not None else [0.0, 60.0, 90.0, 120.0]
        th = math.radians(p.rotation + rows[int(rng.integers(len(rows)))])
        d = np.array([-math.sin(th), math.cos(th)])  # line direction (row, col): plane (x, y) = (col, -row)
        off = rng.uniform(-0.3, 0.3) * r0
        # reflect every pixel across the line through (cy, cx) + off * normal
        nrm = np.array([d[1], -d[0]])
        pr = np.stack([yy - cy, xx - cx], axis=-1) - off * nrm
        dist = pr @ nrm
        refl = np.stack([yy, xx], axis=-1) - 2.0 * dist[..., None] * nrm
        mirrored = ndimage.map_coordinates(img, [refl[..., 0], refl[..., 1]], order=1, mode="reflect")
        crystal = np.where(dist > 0, mirrored, img)
    return crystal * profile + 0.35 * profile


def normalize(img: np.ndarray, lo_pct: float = 0.5, hi_pct: float = 99.5) -> np.ndarray:
    """Robust stretch to [0, 1] (float32); a constant image becomes all zeros."""
    img = np.asarray(img, dtype=np.float64)
    lo, hi = np.percentile(img, [lo_pct, hi_pct])
    if not hi > lo:
        lo, hi = float(img.min()), float(img.max())
        if not hi > lo:
            return np.zeros(img.shape, dtype=np.float32)
    return np.clip((img - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def simulate(structure: Any, zone: tuple[int, int, int], params: SimParams | None = None) -> np.ndarray:
    """Simulate one image of a pymatgen ``Structure`` along ``zone`` (indices of the structure's own cell)."""
    return render(project_structure(structure, zone), params or SimParams())


# ---------------------------------------------------------------------------------------------------------------------
# Randomised acquisitions

Regime = Literal["library", "train", "query", "real"]


def random_params(rng: np.random.Generator, regime: Regime = "train", **overrides: Any) -> SimParams:
    """A random acquisition.

    ``library``: the clean reference images of the index (HAADF, fixed probe and thickness, random rotation).
    ``train``: what the encoder learns from (all modes, wide ranges of thickness, probe, noise and distortion).
    ``query``: the evaluation queries; ranges extend past the training ones and add mistilt and line wobble, which
    training never shows.
    """
    seed = int(rng.integers(0, 2**31 - 1))
    rot = float(rng.uniform(0, 360))
    shift = (float(rng.uniform(-20, 20)), float(rng.uniform(-20, 20)))
    if regime == "library":
        p = SimParams(
            size=(LIBRARY_RENDER, LIBRARY_RENDER), probe_fwhm=0.9, thickness=100.0, rotation=rot, shift=shift, seed=seed
        )
    elif regime == "train":
        mode: Mode = rng.choice(np.array(MODES), p=[0.7, 0.15, 0.15]).item()
        p = SimParams(
            mode=mode,
            exponent=float(DEFAULT_EXPONENT[mode] + rng.uniform(-0.15, 0.15)),
            probe_fwhm=float(rng.uniform(0.7, 1.3)),
            thickness=float(rng.uniform(30, 400)),
            rotation=rot,
            shift=shift,
            px=LIBRARY_PX * float(rng.uniform(0.92, 1.08)),  # scale jitter
            drift=(float(rng.normal(0, 0.03)), float(rng.normal(0, 0.02))),
            line_jitter=float(rng.uniform(0, 0.6)),
            vacancy_rate=float(rng.uniform(0, 0.06)),
            adatom_rate=float(rng.uniform(0, 1.5)),
            background=float(rng.uniform(0, 0.5)),
            dose=float(10 ** rng.uniform(1.3, 3.5)),
            read_noise=float(rng.uniform(0, 0.05)),
            seed=seed,
        )
    else:
        mode = rng.choice(np.array(MODES), p=[0.7, 0.15, 0.15]).item()
        p = SimParams(
            mode=mode,
            exponent=float(DEFAULT_EXPONENT[mode] + rng.uniform(-0.2, 0.2)),
            probe_fwhm=float(rng.uniform(0.65, 1.4)),
            thickness=float(rng.uniform(20, 500)),
            rotation=rot,
            shift=shift,
            px=LIBRARY_PX * float(rng.uniform(0.9, 1.1)),
            mistilt=float(rng.uniform(0, 8)),
            mistilt_dir=float(rng.uniform(0, 180)),
            drift=(float(rng.normal(0, 0.04)), float(rng.normal(0, 0.03))),
            line_jitter=float(rng.uniform(0, 0.8)),
            line_wobble=float(rng.uniform(0, 1.0)),
            vacancy_rate=float(rng.uniform(0, 0.08)),
            adatom_rate=float(rng.uniform(0, 2.0)),
            background=float(rng.uniform(0, 0.7)),
            dose=float(10 ** rng.uniform(1.2, 3.5)),
            read_noise=float(rng.uniform(0, 0.06)),
            seed=seed,
        )
    if regime in ("real", "train"):
        p = replace(p, **realism(rng, strength=1.0 if regime == "real" else 0.7))
    return replace(p, **overrides) if overrides else p


def realism(rng: np.random.Generator, strength: float = 1.0) -> dict[str, Any]:
    """Random realism parameters (``real`` regime; weaker in ``train``): aberration tails, amorphous support,
    finite / twinned particles, flyback, 8-bit or JPEG export. Each is drawn independently."""
    particle = float(rng.uniform(0.3, 0.55)) if rng.random() < 0.25 * strength else 0.0
    export_kind: Export = rng.choice(np.array(["float", "uint8", "jpeg"]), p=[0.5, 0.3, 0.2]).item()
    return {
        "probe_tail": float(rng.uniform(0.0, 0.35 * strength)),
        "amorphous": float(rng.uniform(0.0, 0.35)) if rng.random() < 0.5 * strength else 0.0,
        "particle": particle,
        "twin": bool(particle > 0 and rng.random() < 0.35),
        "flyback": float(rng.uniform(0.5, 3.0)) if rng.random() < 0.3 * strength else 0.0,
        "export": export_kind,
        "jpeg_quality": int(rng.integers(55, 95)),
    }
