"""Why does the XRD search miss a phase of a mixture? (session 12) — a dev diagnosis on calibration structures.

    MATSEARCH_DATA_DIR=… OMP_NUM_THREADS=1 python -m bench.xrd_mixdiag [--n 25] [--ks 2 3 4 5] [--seed0 7800]
        [--set NAME=VALUE …] [--out F.json] [--verbose]

Measured-looking mixtures (``bench.xrd_measured.measured_like``, weights 1 and U(0.3, 1) as in ``bench.eval_xrd``) of
``bench.eval_xrd``'s calibration-split structures (in-library ``perm[:300]``; never the test draws), searched with the
shipped code at the default threshold against the library as built. Each true phase that is not in the top 5 is put
in one class, from the search's own calls (wrapped, not re-implemented):

- ``never_candidate``: never fitted (the vector stage and the peak index of every mixture round missed it);
- ``candidate_not_tentative``: fitted, but the greedy mixture search never chose it (it chose others or stopped);
- ``tentative_rejected``: a tentative phase that ``spectra.accept_phases`` dropped;
- ``accepted_not_top5``: accepted but ranked below five other hits.

Per query the script also keeps why the greedy search stopped (``stop``: the best three remaining candidates' residual
score and gain when ``spectra._best_further`` found none; ``None``: it stopped because the tentative phases' credit
left < ``MIXTURE_MIN_RESIDUAL`` of the peak weight, or at ``max_phases``). ``--set`` changes a module constant of
``matsearch.search.spectra`` for the run (variants). Dev numbers, not a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections import Counter
from typing import Any

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=25, help="mixtures per number of phases")
    ap.add_argument("--ks", type=int, nargs="+", default=[2, 3, 4, 5])
    ap.add_argument("--seed0", type=int, default=7800, help="mixtures of k phases use seed seed0 + k")
    ap.add_argument("--seed", type=int, default=20261121, help="bench.eval_xrd's seed (its calibration split)")
    ap.add_argument("--set", nargs="*", default=[], help="NAME=VALUE: a spectra module constant for this run")
    ap.add_argument("--out", default=None)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")

    from bench.eval_xrd import _as_text, _left_out
    from bench.xrd_measured import candidate, measured_like
    from matsearch.core.settings import get_settings
    from matsearch.encoders.xrd_pattern import read_pattern_bytes
    from matsearch.indexer.structures import load_library
    from matsearch.indexer.xrd import build as xbuild
    from matsearch.search import spectra
    from matsearch.server.service import Service
    from training.xrd_augment import pattern_range

    for kv in args.set:
        name, value = kv.split("=", 1)
        old = getattr(spectra, name)
        setattr(spectra, name, type(old)(json.loads(value.lower() if value in ("True", "False") else value)))
        print(f"set spectra.{name} = {getattr(spectra, name)!r}", flush=True)

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

    trace: dict[str, Any] = {}
    orig_candidates_for = spectra.xp.candidates_for
    orig_best_further = spectra._best_further
    orig_accept = spectra.accept_phases

    def candidates_for(payloads: list[dict[str, Any]], keys: list[str] | None = None) -> list[Any]:
        trace.setdefault("fitted", set()).update(str(p.get("structure_id")) for p in payloads)
        return orig_candidates_for(payloads, keys)

    def best_further(rf: Any, cands: list[Any], tentative: list[int], residual_w: np.ndarray) -> int:
        j = orig_best_further(rf, cands, tentative, residual_w)
        trace["tentative"] = [str(cands[i].payload.get("structure_id")) for i in tentative + ([j] if j >= 0 else [])]
        trace.setdefault("tentative_scores", []).append(float(rf.score[j]) if j >= 0 else None)
        if j < 0:
            taken = [cands[i].payload for i in tentative]
            tot = max(float(residual_w.sum()), 1e-12)
            rest = [
                (round(float(rf.score[i]), 3), round(float((rf.credit[i] * residual_w).sum()) / tot, 3))
                for i in np.argsort(-rf.score)[:40].tolist()
                if i not in tentative and not any(spectra._same_phase(cands[i].payload, t) for t in taken)
            ]
            trace["stop"] = rest[:3]
        return j

    def accept(*a: Any, **k: Any) -> list[tuple[int, float]]:
        out = orig_accept(*a, **k)
        trace["accepted"] = [n for n, _ in out]
        return out

    spectra.xp.candidates_for = candidates_for
    spectra._best_further = best_further
    spectra.accept_phases = accept

    cpu: list[float] = []
    rows: list[dict[str, Any]] = []
    summary: dict[int, dict[str, Any]] = {}
    for k in args.ks:
        rng = np.random.default_rng(args.seed0 + k)
        classes: Counter[str] = Counter()
        all_ok = 0
        for qn in range(args.n):
            picks = [cal_in[int(i)] for i in rng.choice(len(cal_in), size=k, replace=False)]
            weights = [1.0] + [float(rng.uniform(0.3, 1.0)) for _ in picks[1:]]
            mix = [(candidate(e, peaks[e.id]), w) for e, w in zip(picks, weights, strict=True)]
            x, y = pattern_range(measured_like(mix, rng))
            pattern = read_pattern_bytes(_as_text(x, y), "q.xy", wavelength="CuKa1")
            trace.clear()
            t = time.process_time()
            opts = spectra.SpectrumOptions(limit=10, max_phases=5, score_threshold=threshold)
            res = spectra.search_spectrum(service.store, encoder, pattern, opts)
            cpu.append(time.process_time() - t)
            hits = res["hits"]
            ids = [h["payload"]["structure_id"] for h in hits]
            tentative = trace.get("tentative", ids[:1])
            per = []
            for e, w in zip(picks, weights, strict=True):
                if e.id in ids[:5]:
                    c = "top5"
                elif e.id not in trace.get("fitted", set()):
                    c = "never_candidate"
                elif e.id not in tentative:
                    c = "candidate_not_tentative"
                elif e.id in ids:
                    c = "accepted_not_top5"
                else:
                    c = "tentative_rejected"
                classes[c] += 1
                per.append([e.id, e.formula, round(w, 2), c])
            ok = all(p[3] == "top5" for p in per)
            all_ok += ok
            rows.append(
                {
                    "k": k,
                    "q": qn,
                    "phases": per,
                    "hits": [[h["payload"].get("formula"), h["phase"], h["confidence"]] for h in hits[:6]],
                    "tentative": tentative,
                    "tentative_scores": trace.get("tentative_scores", []),
                    "accepted": trace.get("accepted"),
                    "stop": trace.get("stop"),
                    "peaks": res["peaks"],
                }
            )
            if args.verbose:
                print(k, qn, ok, per, rows[-1]["hits"], flush=True)
        summary[k] = {"all_top5": round(all_ok / max(args.n, 1), 3), "phases": k * args.n, **dict(classes)}
        print(k, json.dumps(summary[k]), flush=True)
    out = {"summary": summary, "query_cpu_ms_p50": round(1000.0 * float(np.median(cpu)), 1) if cpu else None}
    print(json.dumps(out))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({**out, "rows": rows}, f, indent=1)
    service.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
