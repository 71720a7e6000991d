"""XRD vector stage alone: is the true phase among the candidates the re-rank sees? Per encoder and tier.

    .venv/bin/python -m bench.eval_xrd_vectors [--queries 600] [--encoders xrd-profile,xrd-cnn]

Brute-force cosine over the indexed library (the eval's left-out 5% excluded), the same 3 strain-variant queries
and per-variant top-K union as ``matsearch.search.spectra``. Queries are split into structures the CNN was
trained on and structures held out of its training (``train_held_out``: new CIFs indexed without retraining).
Writes bench/results/eval_xrd_vectors.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=int, default=600, help="per group (trained / held out of training)")
    ap.add_argument("--encoders", default="xrd-profile,xrd-cnn")
    ap.add_argument("--k", default="1,5,20,50")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--strains", default=None, help="query strain variants, e.g. 0 (default: the search's)")
    ap.add_argument("--out", type=Path, default=RESULTS / "eval_xrd_vectors.json")
    args = ap.parse_args(argv)
    import warnings

    warnings.filterwarnings("ignore")
    from matsearch.core.errors import BadInput
    from matsearch.core.settings import Settings, get_settings
    from matsearch.encoders import get_encoder
    from matsearch.encoders.xrd import strain_variant
    from matsearch.encoders.xrd_pattern import Pattern, preprocess
    from matsearch.indexer.structures import load_library
    from matsearch.indexer.xrd.build import simulate_entries
    from matsearch.indexer.xrd.simulate import library_profile
    from matsearch.search.spectra import QUERY_STRAINS
    from training.train_xrd import eval_left_out, train_held_out
    from training.xrd_augment import Distortion, experimental_like, pattern_range

    settings = get_settings()
    entries = list(load_library(cache_dir=settings.data_dir / "cache"))
    peaks, _ = simulate_entries(entries, settings.data_dir, progress=False)
    ids = [e.id for e in entries if e.id in peaks and not eval_left_out(e.id)]
    pos = {sid: i for i, sid in enumerate(ids)}
    ks = [int(k) for k in args.k.split(",")]
    strains = QUERY_STRAINS if args.strains is None else tuple(float(v) for v in args.strains.split(","))
    groups = {
        "trained": [i for i in ids if not train_held_out(i)],
        "held_out_of_training": [i for i in ids if train_held_out(i)],
    }
    rng = np.random.default_rng(args.seed)
    picks = {g: list(rng.choice(v, size=min(args.queries, len(v)), replace=False)) for g, v in groups.items()}
    queries: dict[str, dict[str, list[np.ndarray]]] = {}
    for tier, dist in (("realistic", Distortion.realistic()), ("harsh", Distortion())):
        queries[tier] = {}
        for g, sids in picks.items():
            ys = []
            for sid in sids:
                y = experimental_like([(peaks[sid], 1.0)], rng, dist)
                assert isinstance(y, np.ndarray)
                x, yy = pattern_range(y)
                try:
                    q, _ = preprocess(Pattern(two_theta=x, intensity=yy, wavelength=1.54056))
                except BadInput:
                    q = np.zeros_like(y, dtype=np.float32)
                ys.append(q)
            queries[tier][g] = ys
    clean = [library_profile(peaks[i]) for i in ids]
    result: dict[str, Any] = {
        "strains": list(strains),
        "library": len(ids),
        "queries_per_group": args.queries,
        "k": ks,
        "recall": {},
    }
    for name in args.encoders.split(","):
        enc = get_encoder(name, Settings())
        t = time.time()
        lib = enc.encode(clean)
        result.setdefault("library_encode_s", {})[name] = round(time.time() - t, 1)
        for tier, groups_q in queries.items():
            for g, ys in groups_q.items():
                truth = np.array([pos[s] for s in picks[g]])
                variants = [enc.encode([strain_variant(y, eps) for y in ys]) for eps in strains]
                sims = np.stack([v @ lib.T for v in variants])  # V, Q, L
                # rank of the truth in each variant; the union of per-variant top-K holds it iff min rank < K
                true_sim = sims[:, np.arange(len(ys)), truth][:, :, None]
                rank = (sims > true_sim).sum(axis=2).min(axis=0)
                rec = {f"@{k}": round(float(np.mean(rank < k)), 3) for k in ks}
                result["recall"][f"{name}/{tier}/{g}"] = rec
                print(f"{name:12s} {tier:9s} {g:22s} " + "  ".join(f"{k} {v:.3f}" for k, v in rec.items()), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
