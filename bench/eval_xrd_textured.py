"""Textured-pattern dev sets for XRD phase identification (session 5), against the built library.

    MATSEARCH_DATA_DIR=… OMP_NUM_THREADS=1 python -m bench.eval_xrd_textured [--n 60] [--sets films tex plain]

Three seeded dev sets (seeds 5501–5503, never used by ``bench.eval_xrd``), n queries each, searched with the shipped
model and ``score_threshold=0`` (rank) and judged at the default threshold (accepted):

- ``films``: ``xrd_measured.textured_film`` of single-element fcc/bcc/hcp library phases — right = a single-element
  phase of the same space group first;
- ``tex``: strongly textured compounds — calibration-split structures of ``bench.eval_xrd`` (in-library
  ``perm[:300]``), March–Dollase r 0.3–0.55 along one of the fit's axes, rendered by ``measured_like``;
- ``plain``: ``measured_like`` of calibration-split structures (a regression check);
- ``mix2`` / ``mix3`` (session 7): 2- and 3-phase ``measured_like`` mixtures of calibration-split structures (the
  first at weight 1, the others 0.3–1), right = every phase in the top 5 at the default threshold (seeds 5504/5505).

The index is the library as built (``matsearch library build --collection xrd``): these are dev numbers for tuning
the texture and candidate stages, not a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from typing import Any

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=60)
    sets = ["films", "tex", "plain", "mix2", "mix3"]
    ap.add_argument("--sets", nargs="+", default=["films", "tex", "plain"], choices=sets)
    ap.add_argument("--seed", type=int, default=20261121, help="bench.eval_xrd's seed (its calibration split)")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")

    from bench.eval_xrd import _as_text, _left_out
    from bench.xrd_measured import candidate, measured_like, textured_film
    from matsearch.core.settings import get_settings
    from matsearch.encoders.xrd_pattern import read_pattern_bytes
    from matsearch.indexer.structures import load_library
    from matsearch.indexer.xrd import build as xbuild
    from matsearch.search import spectra
    from matsearch.search import xrd_phase as xp
    from matsearch.server.service import Service
    from training.xrd_augment import pattern_range

    settings = get_settings()
    lib = load_library(cache_dir=settings.data_dir / "cache")
    entries = list(lib)
    peaks, _ = xbuild.simulate_entries(entries, settings.data_dir, workers=1, progress=False)
    inside = [e for e in entries if e.id in peaks and not _left_out(e.id, 0.05)]
    perm = np.random.default_rng(args.seed + 1).permutation(len(inside))  # bench.eval_xrd's measured-tier split
    cal_in = [inside[i] for i in perm[:300]]
    service = Service(settings)
    encoder = service.encoder(xbuild.ENCODER)
    spectra.warm(service.store)
    threshold = spectra.DEFAULT_THRESHOLD
    cpu: list[float] = []

    def search(x: np.ndarray, y: np.ndarray, score_threshold: float = 0.0) -> list[dict[str, Any]]:
        pattern = read_pattern_bytes(_as_text(x, y), "q.xy", wavelength="CuKa1")
        opts = spectra.SpectrumOptions(limit=10, max_phases=5, score_threshold=score_threshold)
        t = time.process_time()
        hits: list[dict[str, Any]] = spectra.search_spectrum(service.store, encoder, pattern, opts)["hits"]
        cpu.append(time.process_time() - t)
        return hits

    out: dict[str, Any] = {"n": args.n, "threshold": threshold}
    if "films" in args.sets:
        films = [e for e in inside if len(e.elements) == 1 and e.spacegroup_number in (225, 229, 194)]
        rng = np.random.default_rng(5501)
        rank1 = accepted = 0
        for _ in range(args.n):
            e = films[int(rng.integers(len(films)))]
            hits = search(*pattern_range(textured_film(candidate(e, peaks[e.id]), rng)))
            top = hits[0]["payload"] if hits else {}
            ok = len(top.get("elements", [])) == 1 and top.get("spacegroup_number") == e.spacegroup_number
            rank1 += ok
            accepted += ok and hits[0]["confidence"] >= threshold
        out["films"] = {"rank1": rank1 / args.n, "accepted": accepted / args.n}
    for name, seed in (("tex", 5502), ("plain", 5503)):
        if name not in args.sets:
            continue
        rng = np.random.default_rng(seed)
        rank1 = accepted = top5 = 0
        for _ in range(args.n):
            e = cal_in[int(rng.integers(len(cal_in)))]
            c = candidate(e, peaks[e.id])
            if name == "tex":
                dirs = xp.po_directions(c.crystal_system)
                axis = dirs[int(rng.integers(len(dirs)))]
                r = float(rng.uniform(0.3, 0.55))
                inten = c.inten * xp.march_dollase(c, directions=[axis], r_values=np.array([r]))[0, 0]
                c = xp.Candidate(d=c.d, inten=inten / max(float(inten.max()), 1e-9), hkl=c.hkl, source=c.source,
                                 crystal_system=c.crystal_system, lattice=c.lattice)  # fmt: skip
            hits = search(*pattern_range(measured_like([(c, 1.0)], rng)))
            ids = [h["payload"]["structure_id"] for h in hits]
            rank1 += ids[:1] == [e.id]
            accepted += ids[:1] == [e.id] and hits[0]["confidence"] >= threshold
            top5 += e.id in ids[:5]
        out[name] = {"rank1": rank1 / args.n, "accepted": accepted / args.n, "top5": top5 / args.n}
    for name, k, seed in (("mix2", 2, 5504), ("mix3", 3, 5505)):
        if name not in args.sets:
            continue
        rng = np.random.default_rng(seed)
        ok = found = 0
        for _ in range(args.n):
            picks = [cal_in[int(i)] for i in rng.choice(len(cal_in), size=k, replace=False)]
            weights = [1.0] + [float(rng.uniform(0.3, 1.0)) for _ in picks[1:]]
            mix = [(candidate(e, peaks[e.id]), w) for e, w in zip(picks, weights, strict=True)]
            hits = search(*pattern_range(measured_like(mix, rng)), score_threshold=threshold)
            ids = [h["payload"]["structure_id"] for h in hits[:5]]
            ok += all(e.id in ids for e in picks)
            found += sum(e.id in ids for e in picks)
        out[name] = {"all_in_top5": ok / args.n, "phases_in_top5": found / (k * args.n)}
    out["query_cpu_ms_p50"] = round(1000.0 * float(np.median(cpu)), 1) if cpu else None
    service.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
