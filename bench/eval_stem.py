"""STEM structure identification: synthetic held-out structures and real micrographs, through the query pipeline.

    .venv/bin/python -m bench.real_stem.fetch                 # once: the real images (GPL-3 data, into a cache)
    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python bench/eval_stem.py          # writes bench/results/eval_stem.json
    .venv/bin/python bench/eval_stem.py --quick               # 150 held-out structures, held-out gallery only

Gallery: the library views exactly as ``matsearch library build`` makes them (zone axes from ``zones.select_zones``,
clean HAADF reference at 0.25 Å/px, ``build.lattice_payload``) for the held-out structures (prototype split,
``split.is_heldout``: never trained on), plus — with ``--gallery train2000`` — 2,000 seeded training structures as
distractors and every library entry of the real images' compounds. Cached in ``~/.cache/matsearch/stem-eval``.

Synthetic queries: one per held-out structure and regime — a random symmetry-equivalent variant of one of its zone
axes, random pixel size 0.12-0.45 Å/px (given to the query), random field 26-45 Å; ``query`` regime (HAADF/ADF/ABF,
thickness, probe, mistilt, drift, jitter, wobble, vacancies, adatoms, background, dose, read noise) and ``real``
(the same plus aberration tails, amorphous support, finite/twinned particles, flyback, 8-bit/JPEG export).
Tune/test split of the held-out structures: ``sha256(id) % 3 == 0`` → tune (fixed before tuning; parameters were
chosen on it), the rest → test (reported). The unknown-pixel-size pass runs on every third query.

Real queries: ``bench/real_stem/manifest.json`` crops (dev / held-out parts fixed before tuning), read with
``matsearch.core.micrographs`` at the file's own pixel size (or the manifest's, where the file has no unit), then
the same pipeline; the expected compound counts when any library structure with its formula ranks in the top k.
``bench/real_stem/manifest9.json`` (session 9) adds parts ``dev9`` / ``heldout9`` (split by source paper, fixed
before any run). ``--real-parts dev,dev9`` runs only those parts (a held-out part is run once, at the end).

Pipeline per query (as ``search.stem.search_stem``): stage 1 = cosine on ``stem-fused`` over the gallery (top
``RERANK_POOL``, of which ``stem_physics.prefilter`` keeps ``RERANK_K``; unknown pixel size: ``UNKNOWN_HYPOTHESES``
power-spectrum guesses, top ``UNKNOWN_POOL`` each, the ``UNKNOWN_RERANK_K`` best by ``prefilter_unknown``); stage 2 =
``search.stem_physics.score_candidates``. Reported: CNN alone, power-spectrum descriptor alone, their fusion
(cosine, stage 1 only) and the physics re-rank; abstain rates with the query's own structure removed from the
candidates (absent) and present (false abstain): ``abstain_confidence_*`` by the search's rule since session 11 (the
top candidate's calibrated confidence, ``bench/stem_abstain.py``, with its ceiling), ``abstain_*`` by the 0.67 score
rule it replaced. Real rows are answered by the search's rule.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
CACHE = Path("~/.cache/matsearch/stem-eval").expanduser()
REAL_FORMULAS = ("MoS2", "SrTiO3", "Au")


def ranks_by_structure(scores: np.ndarray, g_struct: np.ndarray, n_struct: int) -> np.ndarray:
    """Best score per structure (−inf where no view of it was scored)."""
    best = np.full(n_struct, -np.inf)
    np.maximum.at(best, g_struct, scores)
    return best


def gallery_arrays(
    views: list[Any], feats: list[Any]
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray | None], list[Any], list[str], dict[str, int], np.ndarray]:
    """The gallery as ``search_stem`` reads it, from the cached per-view features ``(vector, lattice, spots, alt)``.

    Returns the fused vectors, the spectra ``(views, 3, K, M+1)`` (clean reference, thick and ABF alternates), the
    reference spots, the column motifs, the structure ids, their index and each view's structure index.
    """
    from matsearch.encoders.stem import unpack_harmonics, unpack_harmonics_stack
    from matsearch.encoders.stem_motif import ABF_EXP, HAADF_EXP, view_motif

    g_vec = np.stack([f[0] for f in feats]).astype(np.float32)
    g_harm = np.stack([np.concatenate([unpack_harmonics(f[1])[None], unpack_harmonics_stack(f[3])]) for f in feats])
    g_spots = [np.asarray(f[2], dtype=np.float64).reshape(-1, 2) if f[2] else None for f in feats]
    g_motif = [
        view_motif(
            v.projection.basis,
            v.projection.col_frac,
            v.projection.column_weights(HAADF_EXP),
            v.projection.column_weights(ABF_EXP),
        )
        for v in views
    ]
    sids = sorted({v.structure_id for v in views})
    s_index = {s: i for i, s in enumerate(sids)}
    g_struct = np.array([s_index[v.structure_id] for v in views])
    return g_vec, g_harm, g_spots, g_motif, sids, s_index, g_struct


def summarize(ranks: list[int]) -> dict[str, float]:
    r = np.asarray(ranks, dtype=np.float64)
    if len(r) == 0:
        return {"queries": 0}
    return {
        "queries": int(len(r)),
        "top1": round(float(np.mean(r <= 1)), 4),
        "top5": round(float(np.mean(r <= 5)), 4),
        "mrr": round(float(np.mean(1.0 / r)), 4),
    }


def abstain_table(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, float]]]:
    """False rejects (in-library queries abstained) and false accepts (absent-structure queries answered) at a
    range of thresholds on the abstain score, per split."""
    out: dict[str, list[dict[str, float]]] = {}
    for part in ("tune", "test"):
        sel = [x for x in rows if x["tune"] == (part == "tune")]
        s_in = np.array([x["abstain_scores_in"][0] for x in sel])
        s_ab = np.array([x["abstain_scores_absent"][0] for x in sel])
        out[part] = [
            {
                "threshold": t,
                "false_reject": round(float(np.mean(s_in < t)), 4),
                "false_accept": round(float(np.mean(s_ab >= t)), 4),
            }
            for t in (0.6, 0.64, 0.68, 0.72, 0.76, 0.8, 0.84)
        ]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gallery", choices=["heldout", "train2000"], default="train2000")
    ap.add_argument("--max-heldout", type=int, default=None)
    ap.add_argument("--regimes", default="query,real")
    ap.add_argument("--no-real", action="store_true", help="skip the real micrographs")
    ap.add_argument(
        "--real-parts",
        default="dev,heldout,dev9,heldout9,dev10,heldout10",
        help="comma-separated real parts to run (manifest.json: dev, heldout; manifest9.json: dev9, heldout9; "
        "manifest10.json: dev10, heldout10)",
    )
    ap.add_argument("--quick", action="store_true", help="150 held-out structures, held-out gallery")
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument(
        "--query-seed",
        type=int,
        default=None,
        help="seed of the synthetic query draw (default: --seed + 1); 20261201 = the session-5 second test draw, "
        "20261206 = session 6's new held-out draw (docs/stem.md)",
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--no-unknown-px",
        action="store_true",
        help="synthetic queries: skip the unknown-pixel-size pass (every third query; most of the CPU since the "
        "unknown-size pool of session 11); every other row is the same",
    )
    ap.add_argument("--out", type=Path, default=RESULTS / "eval_stem.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.max_heldout, args.gallery = 150, "heldout"
        args.out = RESULTS / "eval_stem_quick.json"
    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(args.threads)
    from bench import stem_abstain
    from matsearch.core.settings import Settings
    from matsearch.encoders import get_encoder
    from matsearch.encoders.stem import EMBED_DIM, FUSE_CNN
    from matsearch.indexer.stem.build import library_params, view_point_id
    from matsearch.indexer.stem.simulate import project_structure, random_params, render
    from matsearch.indexer.stem.split import is_heldout
    from matsearch.indexer.stem.views import VIEWS_VERSION, cached_views
    from matsearch.indexer.stem.zones import analyzer, equivalent_zones
    from matsearch.indexer.structures import load_library
    from matsearch.search import stem as Q
    from matsearch.search import stem_physics as P

    settings = Settings()
    t0 = time.time()
    entries = list(load_library())
    by_id = {e.id: e for e in entries}
    held = sorted(e.id for e in entries if is_heldout(e))
    if args.max_heldout:
        held = sorted(np.random.default_rng(args.seed).choice(held, args.max_heldout, replace=False).tolist())
    gallery_ids = set(held)
    if args.gallery == "train2000":
        train = sorted(e.id for e in entries if not is_heldout(e))
        gallery_ids |= set(np.random.default_rng(0).choice(train, 2000, replace=False).tolist())
    if not args.no_real:  # the real images' compounds (whichever split they are in)
        gallery_ids |= {e.id for e in entries if e.payload().get("formula") in REAL_FORMULAS}
    gal_entries = [by_id[i] for i in sorted(gallery_ids)]
    views = cached_views(gal_entries, workers=2)
    print(f"gallery: {len(gal_entries)} structures, {len(views)} views ({time.time() - t0:.0f}s)", flush=True)

    # Gallery features, cached by (content hash, zone) and the build recipe.
    from matsearch.encoders.stem import LAT_VERSION
    from matsearch.encoders.stem_library import LATTICE_ALT_KEY, LATTICE_KEY, SPOTS_KEY
    from matsearch.indexer.stem.build import SIM_VERSION, _weights_tag, lattice_payload

    recipe = f"{SIM_VERSION}:{_weights_tag()}:{VIEWS_VERSION}:{P.__name__}:{LAT_VERSION}"
    tag = hashlib.sha256(recipe.encode()).hexdigest()[:10]
    CACHE.mkdir(parents=True, exist_ok=True)
    cpath = CACHE / f"gallery-{tag}.pkl"
    gcache: dict[tuple[str, tuple[int, int, int]], Any] = pickle.loads(cpath.read_bytes()) if cpath.exists() else {}
    fused = get_encoder("stem-fused", settings)
    todo = [v for v in views if (by_id[v.structure_id].content_hash, v.zone) not in gcache]
    t1 = time.time()
    for i in range(0, len(todo), 128):
        chunk = todo[i : i + 128]
        params = [library_params(view_point_id(v.structure_id, v.zone)) for v in chunk]
        imgs = [render(v.projection, p) for v, p in zip(chunk, params, strict=True)]
        vecs = fused.encode(imgs)
        for v, img, vec, p in zip(chunk, imgs, vecs, params, strict=True):
            lp = lattice_payload(img, v, p)
            view_key = (by_id[v.structure_id].content_hash, v.zone)
            gcache[view_key] = (vec, lp[LATTICE_KEY], lp[SPOTS_KEY], lp[LATTICE_ALT_KEY])
        if (i // 128) % 10 == 9:
            cpath.write_bytes(pickle.dumps(gcache))
            print(f"  gallery {i + len(chunk)}/{len(todo)} ({time.time() - t1:.0f}s)", flush=True)
    if todo:
        cpath.write_bytes(pickle.dumps(gcache))
    t_gal = time.time() - t1
    feats = [gcache[(by_id[v.structure_id].content_hash, v.zone)] for v in views]
    g_vec, g_harm, g_spots, g_motif, sids, s_index, g_struct = gallery_arrays(views, feats)
    g_formula = np.array([by_id[v.structure_id].payload().get("formula") for v in views])
    held_mask = np.array([s in set(held) for s in sids])
    wc, wf = np.sqrt(FUSE_CNN), np.sqrt(1 - FUSE_CNN)
    g_cnn = g_vec[:, :EMBED_DIM] / wc
    g_fft = g_vec[:, EMBED_DIM:] / wf
    g_clean_rw = P.ring_weighted(g_harm[:, 0])  # clean references as the confidence's groups compare them
    view_pos = {id(x): i for i, x in enumerate(views)}
    print(f"gallery features: {len(todo)} new in {t_gal:.0f}s", flush=True)

    def run_known(
        arr: np.ndarray, px: float, exclude: np.ndarray | None = None, report_cnn: bool = False
    ) -> dict[str, Any]:
        """Stage 1 + physics for one query with a known pixel size (Å/px)."""
        t = time.time()
        prep = Q.prepare(arr, px / 10.0)
        qv = Q.embed(prep, settings)[0] if report_cnn else None  # both parts, for the CNN/descriptor rows
        qs1 = Q.stage1_vectors(arr, prep, True, settings)[0]  # what search_stem's stage 1 uses
        qf = P.known_features(prep.full[0], 0.25)
        cos = g_vec @ qs1
        if exclude is not None:
            cos = np.where(exclude, -np.inf, cos)
        cand = np.argsort(-cos)[: Q.RERANK_POOL]
        cand = cand[np.isfinite(cos[cand])]
        cand = cand[P.prefilter(qf, g_harm[cand, 0], Q.RERANK_K)]  # as search_stem: RERANK_K of the pool re-ranked
        sc = P.score_candidates(qf, g_harm[cand], [g_spots[i] for i in cand], [g_motif[i] for i in cand])
        ms = 1000 * (time.time() - t)
        full = np.full(len(views), -np.inf)
        full[cand] = sc.score
        absn = np.full(len(views), -np.inf)
        absn[cand] = sc.abstain
        conf = stem_abstain.top_confidence(sc.abstain, sc.motif, g_harm[cand, 0], g_struct[cand])
        return {
            "qv": qv,
            "cos": cos,
            "score": full,
            "abstain": absn,
            "qf": qf,
            "sc": sc,
            "cand": cand,
            "ms": ms,
            "confidence": conf,
            "answered": stem_abstain.answered(conf, qf.confident, sc.abstain, thr),  # the search's rule (session 11)
        }

    def run_unknown(arr: np.ndarray, exclude: np.ndarray | None = None) -> dict[str, Any]:
        vecs = Q.stage1_vectors(arr, Q.PreparedQuery([], [], []), False, settings)
        cos = np.stack(vecs) @ g_vec.T
        if exclude is not None:
            cos = np.where(exclude[None], -np.inf, cos)
        pool = np.unique(np.argsort(-cos, axis=1)[:, : Q.UNKNOWN_POOL])  # as search_stem: pool, then the spectrum
        pool = pool[np.isfinite(cos.max(axis=0)[pool])]
        work, factor, fallback = Q.unknown_work(arr)
        qf = P.unknown_features(work, factor, fallback)
        cand = pool[P.prefilter_unknown(qf, g_harm[pool, 0], Q.UNKNOWN_RERANK_K)]
        sc = P.score_candidates(qf, g_harm[cand], [g_spots[i] for i in cand], [g_motif[i] for i in cand])
        full = np.full(len(views), -np.inf)
        full[cand] = sc.score
        absn = np.full(len(views), -np.inf)
        absn[cand] = sc.abstain
        return {"score": full, "abstain": absn, "qf": qf, "sc": sc, "cand": cand, "factor": factor}

    def rank(scores: np.ndarray, true_s: int, restrict: np.ndarray | None = None) -> int:
        best = ranks_by_structure(scores, g_struct, len(sids))
        if restrict is not None:
            best = np.where(restrict, best, -np.inf)
        if not np.isfinite(best[true_s]):
            return len(sids)
        return 1 + int((best > best[true_s]).sum())

    results: dict[str, Any] = {"config": {k: str(v) for k, v in vars(args).items()} | {"stage1_cnn": Q.STAGE1_CNN}}
    thr = Q.DEFAULT_SCORE_THRESHOLD
    rng = np.random.default_rng(args.seed + 1 if args.query_seed is None else args.query_seed)
    for regime in [r for r in args.regimes.split(",") if r]:
        rows: list[dict[str, Any]] = []
        t2 = time.time()
        for sid in held:
            entry = by_id[sid]
            mine = [v for v in views if v.structure_id == sid]
            if not mine:
                continue
            v = mine[int(rng.integers(len(mine)))]
            conv = entry.conventional
            eq = equivalent_zones(v.zone, analyzer(conv, 0.1))
            zone = eq[int(rng.integers(len(eq)))]
            try:
                proj = project_structure(conv, zone)
            except ValueError:
                proj = v.projection
            px = float(rng.uniform(0.12, 0.45))
            fov = rng.uniform(26, 45, size=2)
            p = random_params(rng, regime, px=px, size=(int(fov[0] / px), int(fov[1] / px)))
            arr = render(proj, p)
            true_s = s_index[sid]
            own = g_struct == true_s
            r = run_known(arr, px, report_cnn=True)
            qv = r["qv"]
            cnn = g_cnn @ (qv[:EMBED_DIM] / wc)
            fft = g_fft @ (qv[EMBED_DIM:] / wf)
            # absent: the same candidates without the query's own structure (stage 1 would only add views that
            # ranked below the 300 kept ones)
            best_abs = ranks_by_structure(np.where(own, -np.inf, r["abstain"]), g_struct, len(sids))
            best_in = ranks_by_structure(r["abstain"], g_struct, len(sids))
            ok_full = np.zeros(len(views), dtype=bool)
            ok_full[r["cand"]] = r["sc"].lattice_ok
            row = {
                "sid": sid,
                "mode": p.mode,
                "tune": int(hashlib.sha256(sid.encode()).hexdigest()[:8], 16) % 3 == 0,
                "rank_cnn": rank(cnn, true_s),
                "rank_fft": rank(fft, true_s),
                "rank_fused": rank(g_vec @ qv, true_s),
                "rank_stage1": rank(r["cos"], true_s),
                "rank_physics": rank(r["score"], true_s),
                "rank_physics_heldout_gallery": rank(r["score"], true_s, held_mask),
                "answered_in_library": bool(np.max(r["abstain"]) >= thr),
                "answered_absent": bool(np.max(best_abs) >= thr),
                "lattice_checked": bool(r["qf"].confident),
                "ms": r["ms"],
                # for threshold tables (false accepts / false rejects) computed from the saved rows
                "abstain_scores_in": [round(float(x), 4) for x in np.sort(best_in)[::-1][:2]],
                "abstain_scores_absent": [round(float(x), 4) for x in np.sort(best_abs)[::-1][:2]],
                "top_lattice_ok_in": bool(ok_full[g_struct == int(np.argmax(best_in))].any()),
                "top_lattice_ok_absent": bool(ok_full[g_struct == int(np.argmax(best_abs))].any()),
                "true_abstain_score": round(float(best_in[true_s]), 4),
                "nearest_other_view": round(stem_abstain.nearest_other_view(g_clean_rw, g_struct, view_pos[id(v)]), 4),
            }
            row |= stem_abstain.synthetic_fields(
                r["sc"], r["cand"], g_harm[:, 0], g_struct, own, bool(r["qf"].confident), thr
            )
            if len(rows) % 3 == 0 and not args.no_unknown_px:
                u = run_unknown(arr)
                row["rank_unknown_px"] = rank(u["score"], true_s)
            rows.append(row)
        print(f"{regime}: {len(rows)} queries in {time.time() - t2:.0f}s", flush=True)
        block: dict[str, Any] = {}
        for part in ("tune", "test"):
            sel = [x for x in rows if x["tune"] == (part == "tune")]
            for key in ("cnn", "fft", "fused", "stage1", "physics", "physics_heldout_gallery"):
                block[f"{key}_{part}"] = summarize([x[f"rank_{key}"] for x in sel])
            block[f"unknown_px_{part}"] = summarize([x["rank_unknown_px"] for x in sel if "rank_unknown_px" in x])
            for mode in ("haadf", "adf", "abf"):
                block[f"physics[{mode}]_{part}"] = summarize([x["rank_physics"] for x in sel if x["mode"] == mode])
            block[f"abstain_{part}"] = {
                "threshold": thr,
                "absent_abstained": round(float(np.mean([not x["answered_absent"] for x in sel])), 4),
                "in_library_false_abstain": round(float(np.mean([not x["answered_in_library"] for x in sel])), 4),
            }
            block[f"abstain_confidence_{part}"] = stem_abstain.summary(sel, thr)
        block["abstain_table"] = abstain_table(rows)
        block["rows"] = rows
        block["lattice_checked_fraction"] = round(float(np.mean([x["lattice_checked"] for x in rows])), 4)
        block["query_ms_p50_eval_path"] = round(float(np.median([x["ms"] for x in rows])), 1)
        results[f"synthetic_{regime}"] = block

    if not args.no_real:
        parts = {x.strip() for x in args.real_parts.split(",") if x.strip()}
        zones = [tuple(int(x) for x in v.zone) for v in views]
        results["real"] = eval_real(
            run_known, run_unknown, g_formula, g_struct, sids, by_id, thr, parts, zones, g_clean_rw=g_clean_rw
        )

    results["timing"] = {"gallery_features_s": round(t_gal, 1), "total_s": round(time.time() - t0, 1)}
    results["environment"] = {"python": sys.version.split()[0], "platform": platform.platform()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=str))
    print_table(results)
    print(f"wrote {args.out}")
    return 0


def eval_real(
    run_known: Any,
    run_unknown: Any,
    g_formula: np.ndarray,
    g_struct: np.ndarray,
    sids: list[str],
    by_id: Any,
    thr: float,
    parts: set[str] | None = None,
    zones: list[tuple[int, ...]] | None = None,
    g_clean_rw: np.ndarray | None = None,
) -> dict[str, Any]:
    from bench.real_stem.fetch import DEFAULT_CACHE, MANIFESTS, cached, manifest, required_files

    rows: list[dict[str, Any]] = []
    for which in MANIFESTS:
        paths = cached(DEFAULT_CACHE, which)
        man = manifest(which)
        if not required_files(which) & {im["file"] for im in man["images"]} <= set(paths):
            print(f"real images of {which.name} not fetched: run `python -m bench.real_stem.fetch` (skipping)")
            if which.name == "manifest.json":
                return {"skipped": "not fetched"}
            continue
        rows += _real_rows(
            man, paths, run_known, run_unknown, g_formula, g_struct, sids, by_id, thr, parts, zones, g_clean_rw
        )
    summary: dict[str, Any] = {"crops": rows}
    for part in ("dev", "heldout", "dev9", "heldout9", "dev10", "heldout10"):
        every = [r for r in rows if r["split"] == part and r["expected"]]
        pos = [r for r in every if r["nm_per_px"] is not None]  # pixel size known: the known-size rows
        neg = [r for r in rows if r["split"] == part and not r["expected"]]
        if not every and not neg:
            continue
        ranks = [r["rank"] if r["rank"] else 10**6 for r in pos]
        summary[part] = summarize(ranks) | {
            # every crop with an expected structure, also those whose pixel size nobody knows
            "top5_unknown_px": round(float(np.mean([(r["rank_unknown_px"] or 10**6) <= 5 for r in every])), 4)
            if every
            else None,
            "unknown_px_queries": len(every),
            "unknown_px_in_candidates": f"{sum(bool(r.get('unknown_px_in_candidates')) for r in every)}/{len(every)}",
            "absent_abstained": round(float(np.mean([not r["absent_answered"] for r in pos])), 4) if pos else None,
            "in_library_false_abstain": round(float(np.mean([not r["answered"] for r in pos])), 4) if pos else None,
            "negatives_abstained": f"{sum(not r['answered'] for r in neg)}/{len(neg)}",
            # the ceiling on real crops (session 12): with its compound removed, is the top candidate the same view
            # as with it present (then no rule on the top candidate can abstain on the one and answer the other),
            # and is that look-alike's view near-identical to the compound's best view (clean references >= 0.9)?
            "absent_top_same_as_present_top": f"{sum(bool(r.get('absent_top_same')) for r in pos)}/{len(pos)}",
            "absent_top_near_identical_ge_0.9": f"{sum((r.get('lookalike_corr') or 0) >= 0.9 for r in pos)}/{len(pos)}",
        }
    return summary


def _real_rows(
    man: dict[str, Any],
    paths: dict[str, Path],
    run_known: Any,
    run_unknown: Any,
    g_formula: np.ndarray,
    g_struct: np.ndarray,
    sids: list[str],
    by_id: Any,
    thr: float,
    parts: set[str] | None,
    zones: list[tuple[int, ...]] | None = None,
    g_clean_rw: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """One row per crop of ``man`` in ``parts`` (all parts when None). Dev rows also carry ``diagnosis``: how the
    expected compound's best view and the top view fared in each stage (for the error analysis in docs/stem.md)."""
    from PIL import Image

    from matsearch.core.micrographs import read_micrograph
    from matsearch.core.settings import Settings

    settings = Settings()
    rows = []
    s_formula = np.array([by_id[s].payload().get("formula") for s in sids])
    for im in man["images"]:
        if parts is not None and not any(c["split"] in parts for c in im["crops"]):
            continue
        if im["file"] not in paths:  # an optional (shared-data) file not beside this clone
            print(f"  real {im['file']}: not fetched (optional), skipped", flush=True)
            continue
        path = paths[im["file"]]
        nm_file: float | None
        if im.get("array"):  # a plain array in an HDF5 file (no microscope metadata); pixel size from the manifest
            import h5py

            with h5py.File(path, "r") as h5:
                figure = np.asarray(h5[im["array"]["dataset"]][tuple(im["array"]["index"])], dtype=np.float32)
            nm_file = None if im["nm_per_px"] is None else float(im["nm_per_px"])
            source = "unknown (only the unknown-pixel-size path is run)" if nm_file is None else "manifest"
        elif path.suffix.lower() in (".jpg", ".jpeg", ".png"):  # a published figure panel: pixel size from its bar
            with Image.open(path) as pim:
                figure = np.asarray(pim.convert("L"), dtype=np.float32)
            nm_file = float(im["nm_per_px"])
            source = "scale bar (manifest)"
        else:
            mg = read_micrograph(path.read_bytes(), path.name, settings)
            figure = mg.data
            nm_file = mg.nm_per_px if im["nm_per_px"] == "file" else float(im["nm_per_px"])
            source = "file metadata" if im["nm_per_px"] == "file" else "manifest (file has no unit)"
        if nm_file is None and im["nm_per_px"] is not None:
            raise SystemExit(f"{im['file']}: no pixel size in the file or the manifest")
        nm = None if nm_file is None else float(nm_file)
        for crop in im["crops"]:
            if parts is not None and crop["split"] not in parts:
                continue
            r0, r1, c0, c1 = crop["box"]
            arr = figure[r0:r1, c0:c1]
            formula = im["formula"]
            if nm is None:  # nobody knows the pixel size: the unknown-pixel-size path only
                rows.append(
                    _unknown_only_row(
                        im, crop, arr, run_unknown, g_formula, g_struct, sids, by_id, s_formula, source, thr
                    )
                )
                if not crop["split"].startswith("heldout"):
                    r = rows[-1]
                    print(
                        f"  real {im['file']} {crop['box']} {crop['split']} (pixel size unknown): rank "
                        f"{r['rank_unknown_px']} estimate {r['unknown_px_estimate_nm']} nm/px top {r['top5'][:3]}",
                        flush=True,
                    )
                continue
            out = run_known(arr, 10.0 * nm)
            best = ranks_by_structure(out["score"], g_struct, len(sids))
            order = np.argsort(-best)
            top = [(by_id[sids[i]].payload().get("formula"), round(float(best[i]), 3)) for i in order[:5]]
            answered = bool(out["answered"])  # the search's rule (session 11: the top candidate's confidence)
            row: dict[str, Any] = {
                "file": im["file"],
                "box": crop["box"],
                "split": crop["split"],
                "expected": formula,
                "nm_per_px": round(nm, 6),
                "pixel_size_source": source,
                "absent_from_library": im.get("absent_from_library"),
                "top5": top,
                "answered": answered,
                "confidence": round(float(out["confidence"]), 4),
                "measured_lattice": out["qf"].cell.to_payload() if out["qf"].cell is not None else None,
            }
            if crop["split"].startswith("dev"):
                row["diagnosis"] = _diagnose(out, g_formula, g_struct, sids, by_id, formula, zones)
            if formula:
                hit = [k for k, i in enumerate(order) if s_formula[i] == formula]
                row["rank"] = hit[0] + 1 if hit else None
                absent = g_formula == formula
                ab = run_known(arr, 10.0 * nm, exclude=absent)
                row["absent_answered"] = bool(ab["answered"])
                row["absent_confidence"] = round(float(ab["confidence"]), 4)
                row |= _lookalike(out, ab, absent, g_clean_rw)
                u = run_unknown(arr)
                row["rank_unknown_px"], row["unknown_px_estimate_nm"], _, _ = _unknown_px(
                    u, g_struct, sids, s_formula, formula
                )
                # stage 1 of the unknown-pixel-size path: did any view of the expected compound reach the re-rank?
                row["unknown_px_in_candidates"] = bool(np.isfinite(u["score"][g_formula == formula]).any())
            rows.append(row)
            if not crop["split"].startswith("heldout"):  # held-out crops: aggregate rows only
                print(
                    f"  real {im['file']} {crop['box']} {crop['split']}: rank {row.get('rank')} top {top[:3]}",
                    flush=True,
                )
    return rows


def _lookalike(
    out: dict[str, Any], ab: dict[str, Any], mine: np.ndarray, g_clean_rw: np.ndarray | None
) -> dict[str, Any]:
    """Real crop, compound present (``out``) and removed (``ab``; ``mine``: the compound's gallery views): is the
    top candidate (highest abstain score) the same view in both, and how alike is the absent run's top view to the
    compound's best-scoring view (rotation/mirror correlation of their clean ring-weighted references, as the
    confidence's groups compare them; None when the compound was not scored)."""
    from matsearch.search.stem_physics import _corr

    if not len(out["cand"]) or not len(ab["cand"]):
        return {"absent_top_same": None, "lookalike_corr": None}
    k_in = int(out["cand"][int(np.argmax(out["sc"].abstain))])
    k_ab = int(ab["cand"][int(np.argmax(ab["sc"].abstain))])
    corr = None
    scored = np.nonzero(mine & np.isfinite(out["score"]))[0]
    if g_clean_rw is not None and len(scored):
        best = int(scored[np.argmax(out["score"][scored])])
        corr = round(float(_corr(g_clean_rw[k_ab][None], g_clean_rw[best][None])[0, 0]), 4)
    return {"absent_top_same": k_in == k_ab, "lookalike_corr": corr}


def _unknown_px(u: dict[str, Any], g_struct: np.ndarray, sids: list[str], s_formula: np.ndarray, formula: str) -> Any:
    """Unknown pixel size: (rank of ``formula``, the top structure's pixel-size estimate in nm/px, structure order)."""
    bu = ranks_by_structure(u["score"], g_struct, len(sids))
    ou = np.argsort(-bu)
    hu = [k for k, i in enumerate(ou) if s_formula[i] == formula]
    ti = int(ou[0])
    cand_pos = np.nonzero(g_struct[u["cand"]] == ti)[0]
    est = None
    if len(cand_pos):
        k = cand_pos[np.argmax(u["sc"].score[cand_pos])]
        sc = float(u["sc"].scale[k])
        est = round(sc * u["factor"] / 10.0, 6) if np.isfinite(sc) else None
    return (hu[0] + 1 if hu else None), est, ou, bu


def _unknown_only_row(
    im: dict[str, Any],
    crop: dict[str, Any],
    arr: np.ndarray,
    run_unknown: Any,
    g_formula: np.ndarray,
    g_struct: np.ndarray,
    sids: list[str],
    by_id: Any,
    s_formula: np.ndarray,
    source: str,
    thr: float,
) -> dict[str, Any]:
    """A crop whose pixel size nobody knows (manifest ``nm_per_px`` null): only ``rank_unknown_px`` is measured."""
    u = run_unknown(arr)
    rank_u, est, ou, bu = _unknown_px(u, g_struct, sids, s_formula, im["formula"])
    top = [(by_id[sids[i]].payload().get("formula"), round(float(bu[i]), 3)) for i in ou[:5]]
    return {
        "file": im["file"],
        "box": crop["box"],
        "split": crop["split"],
        "expected": im["formula"],
        "nm_per_px": None,
        "pixel_size_source": source,
        "absent_from_library": im.get("absent_from_library"),
        "top5": top,
        "answered": bool(np.max(u["abstain"]) >= thr),
        "measured_lattice": u["qf"].cell.to_payload() if u["qf"].cell is not None else None,
        "rank": None,
        "rank_unknown_px": rank_u,
        "unknown_px_estimate_nm": est,
        "unknown_px_in_candidates": bool(np.isfinite(u["score"][g_formula == im["formula"]]).any()),
    }


def _diagnose(
    out: dict[str, Any],
    g_formula: np.ndarray,
    g_struct: np.ndarray,
    sids: list[str],
    by_id: Any,
    formula: str | None,
    zones: list[tuple[int, ...]] | None,
) -> dict[str, Any]:
    """Per-stage numbers of the top-scoring view and of the expected compound's best view (known pixel size)."""
    cand, sc, cos = out["cand"], out["sc"], out["cos"]
    cos_rank = np.empty(len(cos), dtype=np.int64)
    cos_rank[np.argsort(-cos)] = np.arange(1, len(cos) + 1)

    def view(k: int) -> dict[str, Any]:
        d: dict[str, Any] = {
            "formula": by_id[sids[int(g_struct[k])]].payload().get("formula"),
            "structure_id": sids[int(g_struct[k])],
            "zone": list(zones[k]) if zones else None,
            "stage1_rank": int(cos_rank[k]),
        }
        pos = np.nonzero(cand == k)[0]
        if len(pos):
            j = int(pos[0])
            d |= {
                "score": round(float(sc.score[j]), 4),
                "abstain_score": round(float(sc.abstain[j]), 4),
                "spectrum": round(float(sc.spectrum[j]), 4),
                "lattice_checked": bool(sc.checked[j]),
                "lattice_ok": bool(sc.lattice_ok[j]),
                "scale_factor": round(float(sc.scale[j]), 4) if np.isfinite(sc.scale[j]) else None,
                "shape_misfit": round(float(sc.shape_misfit[j]), 4),
                "angle_diff": round(float(sc.angle_diff[j]), 2),
                "motif": None if sc.motif is None or not np.isfinite(sc.motif[j]) else round(float(sc.motif[j]), 4),
            }
        return d

    qf = out["qf"]
    diag: dict[str, Any] = {
        "query_spots": None if qf.spots is None else [round(1.0 / float(np.hypot(*g)), 3) for g in qf.spots.g[:6]],
        "query_testable": bool(qf.confident),
        "top": view(int(np.argmax(out["score"]))),
    }
    if formula:
        mine = np.nonzero(g_formula == formula)[0]
        scored = mine[np.isfinite(out["score"][mine])]
        best = scored[np.argmax(out["score"][scored])] if len(scored) else mine[np.argmax(cos[mine])]
        diag["expected_best_view"] = view(int(best))
    return diag


def print_table(results: dict[str, Any]) -> None:
    print(f"\n{'block':44s} {'n':>5s} {'top-1':>7s} {'top-5':>7s} {'MRR':>7s}")
    for name, block in results.items():
        if not isinstance(block, dict):
            continue
        for key, row in block.items():
            if isinstance(row, dict) and "top1" in row:
                n, t1, t5, mrr = row["queries"], row["top1"], row["top5"], row["mrr"]
                print(f"{name + '/' + key:44s} {n:5d} {t1:7.3f} {t5:7.3f} {mrr:7.3f}")
            elif isinstance(row, dict) and "absent_abstained" in row:
                print(f"{name + '/' + key:44s} {row}")
        for part, table in (block.get("abstain_table") or {}).items():
            cells = " ".join(
                f"{r['threshold']:.2f}: FR {r['false_reject']:.3f} FA {r['false_accept']:.3f}" for r in table
            )
            print(f"{name}/abstain_table_{part}: {cells}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())
