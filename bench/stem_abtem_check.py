"""How far is the fast incoherent STEM model from multislice? abTEM (GPL-3, an optional extra: ``pip install
abtem==1.0.11``, never a runtime dependency) on a small reference subset, same pixel size and thickness.

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python bench/stem_abtem_check.py   # bench/results/stem_abtem_check.json

For each (structure, zone): abTEM HAADF (200 kV, 20 mrad probe, 70-200 mrad detector, Lobato potential, 0.05 Å
potential sampling, 2 Å slices, ~40 Å thick, scan step 0.25 Å over a few cells, tiled to the reference field) and
our ``render`` at the same pixel size and thickness (no noise, no distortion). Reported: the lattice-spectrum score
the search uses (``lattice_scores``; 1 = same spectrum), the best normalised cross-correlation of the two images
over shifts, and the ratio of the two strongest column intensities in each (Z-contrast check).
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
CASES = [
    ("SrTiO3", "perovskite", 3.905, (0, 0, 1)),
    ("SrTiO3", "perovskite", 3.905, (1, 1, 0)),
    ("Au", "fcc", 4.078, (0, 0, 1)),
    ("Au", "fcc", 4.078, (1, 1, 0)),
    ("Si", "diamond", 5.431, (1, 1, 0)),
]
PX = 0.25  # Å
THICKNESS = 40.0  # Å


def bulk(name: str, kind: str, a: float) -> Any:
    from ase.build import bulk as ase_bulk
    from ase.spacegroup import crystal

    if kind == "perovskite":
        return crystal(
            ["Sr", "Ti", "O"], [(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0)], spacegroup=221, cellpar=[a] * 3 + [90] * 3
        )
    return ase_bulk(name, kind, a=a, cubic=True)


def oriented(atoms: Any, zone: tuple[int, int, int]) -> Any:
    """An orthogonal cell with ``zone`` along z (cubic crystals: [001] or [110])."""
    from ase.build import make_supercell

    if zone == (0, 0, 1):
        return atoms.copy()
    p = np.array([[1, -1, 0], [0, 0, 1], [1, 1, 0]])
    sc = make_supercell(atoms, p)
    frac = sc.get_scaled_positions()
    lengths = np.linalg.norm(sc.cell.array, axis=1)
    sc.set_cell(np.diag(lengths), scale_atoms=False)
    sc.set_scaled_positions(frac)
    return sc


def abtem_haadf(atoms: Any) -> np.ndarray:
    import abtem

    reps = max(1, int(round(THICKNESS / atoms.cell[2, 2])))
    lat = atoms * (3, 3, reps)
    potential = abtem.Potential(lat, sampling=0.05, slice_thickness=2.0, parametrization="lobato")
    probe = abtem.Probe(energy=200e3, semiangle_cutoff=20)
    probe.grid.match(potential)
    a, b = float(atoms.cell[0, 0]), float(atoms.cell[1, 1])
    scan = abtem.GridScan(start=(a, b), end=(2 * a, 2 * b), sampling=PX)
    detector = abtem.AnnularDetector(inner=70, outer=200)
    scanned: Any = probe.scan(potential, scan=scan, detectors=detector)  # abTEM is optional: typed loosely
    meas: Any = scanned.compute(progress_bar=False)
    return np.asarray(meas.array, dtype=np.float64)  # one unit cell, (nx, ny) with x first


def main() -> int:
    warnings.filterwarnings("ignore")
    from matsearch.encoders.stem import lattice_harmonics, lattice_polar
    from matsearch.indexer.stem.simulate import SimParams, project, render
    from matsearch.search.stem import lattice_scores

    rows = []
    for name, kind, a, zone in CASES:
        t = time.time()
        atoms = oriented(bulk(name, kind, a), zone)
        cell = abtem_haadf(atoms).T  # rows = y
        tiles = np.tile(cell, (int(np.ceil(96 / cell.shape[0])), int(np.ceil(96 / cell.shape[1]))))[:96, :96]
        t_ms = time.time() - t
        lattice = np.diag([atoms.cell[0, 0], atoms.cell[1, 1], atoms.cell[2, 2]])
        proj = project(lattice, atoms.get_scaled_positions(), atoms.numbers, np.ones(len(atoms)), (0, 0, 1))
        ours = render(proj, SimParams(size=(96, 96), px=PX, thickness=THICKNESS, probe_fwhm=0.9))
        ref = (tiles - tiles.min()) / (np.ptp(tiles) + 1e-12)
        score = float(
            lattice_scores(
                lattice_harmonics(lattice_polar(ref, PX))[None], lattice_harmonics(lattice_polar(ours, PX))[None]
            )[0]
        )
        fa = np.fft.fft2(ref - ref.mean())
        fb = np.fft.fft2(ours - ours.mean())
        xc = np.real(np.fft.ifft2(fa * np.conj(fb))) / (
            np.linalg.norm(ref - ref.mean()) * np.linalg.norm(ours - ours.mean())
        )
        rows.append(
            {
                "structure": name,
                "zone": list(zone),
                "lattice_score": round(score, 3),
                "max_ncc": round(float(xc.max()), 3),
                "abtem_s": round(t_ms, 1),
                "abtem_contrast": round(float(np.ptp(cell) / cell.max()), 3),
            }
        )
        print(rows[-1], flush=True)
    out = {
        "cases": rows,
        "mean_lattice_score": round(float(np.mean([r["lattice_score"] for r in rows])), 3),
        "mean_max_ncc": round(float(np.mean([r["max_ncc"] for r in rows])), 3),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "stem_abtem_check.json").write_text(json.dumps(out, indent=1))
    print(out)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())
