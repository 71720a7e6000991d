"""Train the ``xrd-cnn`` embedding (metric learning on augmented simulated patterns).

    nohup .venv/bin/python -m training.train_xrd --minutes 22 --seed 0 \
        > bench/results/xrd_train.log 2>&1 &

Data recipe (seeded): every library structure's simulated reflections (the peak cache of ``matsearch library
build``) except two hash-chosen held-out sets — the 5% the evaluation leaves OUT of the index (``eval_left_out``)
and a further 5% kept in the index but never trained on (``train_held_out``: measures how a new CIF is indexed
without retraining). Per class: the clean library pattern (``library_profile``) and ``--views`` experimental-like
views (``augment.experimental_like``: half ``Distortion()`` "harsh", half ``Distortion.realistic()``), each read
back through the same preprocessing as a query (background/noise removal), mapped to the ln(sin θ) axis. During
training every view is further translated by ±3 bins on that axis (±0.8% strain).

Loss: symmetric InfoNCE between the views and the clean patterns of the batch's classes (τ = 0.05: a query must
land nearest its clean library pattern) + 0.5 × a CosFace proxy loss over all training classes (global negatives;
proxies are not shipped). AdamW, cosine learning rate over a wall-clock budget, torch.set_num_threads(2).
Writes ``encoders/matsearch/encoders/weight_files/xrd-cnn.pt`` (float32 state dict, ~4.5 MB) and logs recall@1/@50 of
the train-held-out classes' views against the whole library.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
import time
from pathlib import Path

import numpy as np

WEIGHTS_OUT = Path(__file__).resolve().parents[3].parent / "encoders" / "matsearch" / "encoders" / "weight_files"


def _hash_fraction(salt: str, structure_id: str) -> float:
    return int(hashlib.sha256(f"{salt}:{structure_id}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def eval_left_out(structure_id: str, fraction: float = 0.05) -> bool:
    """Structures the evaluation leaves out of the index (never trained on)."""
    return _hash_fraction("xrd-eval-leftout", structure_id) < fraction


def train_held_out(structure_id: str, fraction: float = 0.05) -> bool:
    """Structures indexed but never trained on (unseen-class generalisation)."""
    return _hash_fraction("xrd-train-holdout", structure_id) < fraction


def make_views(peaks: list, n_views: int, seed: int, log_every: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """(clean (C, N_LOG), views (C, V, N_LOG)) float16 network inputs."""
    from matsearch.core.errors import BadInput
    from matsearch.encoders.xrd import LIB_WAVELENGTH, N_LOG, log_sin_profile
    from matsearch.encoders.xrd_pattern import Pattern, preprocess
    from matsearch.indexer.xrd.simulate import library_profile
    from training.xrd_augment import Distortion, experimental_like, pattern_range

    rng = np.random.default_rng(seed)
    dists = [Distortion(), Distortion.realistic()]
    clean = np.zeros((len(peaks), N_LOG), dtype=np.float16)
    views = np.zeros((len(peaks), n_views, N_LOG), dtype=np.float16)
    t0 = time.time()
    for c, pk in enumerate(peaks):
        clean[c] = log_sin_profile(library_profile(pk))[0]
        for v in range(n_views):
            y = experimental_like([(pk, 1.0)], rng, dists[v % 2])
            assert isinstance(y, np.ndarray)
            x, yy = pattern_range(y)
            try:
                q, _ = preprocess(Pattern(two_theta=x, intensity=yy, wavelength=LIB_WAVELENGTH))
            except BadInput:
                q = library_profile(pk)
            views[c, v] = log_sin_profile(q)[0]
        if (c + 1) % log_every == 0:
            print(f"views {c + 1}/{len(peaks)} ({time.time() - t0:.0f} s)", flush=True)
    return clean, views


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=22.0, help="wall-clock budget of the whole run")
    ap.add_argument("--views", type=int, default=6)
    ap.add_argument("--batch", type=int, default=256, help="classes per step")
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0, help="use only this many structures (smoke runs)")
    ap.add_argument("--sources", help="comma-separated structure sources (default: the whole library; smoke: ase)")
    ap.add_argument("--data-dir", type=Path, help="where the peak cache lives (default: MATSEARCH_DATA_DIR or ./data)")
    ap.add_argument("--out", type=Path, default=WEIGHTS_OUT / "xrd-cnn.pt")
    args = ap.parse_args(argv)
    start = time.time()
    budget = args.minutes * 60.0

    import warnings

    warnings.filterwarnings("ignore")
    import torch
    import torch.nn.functional as F

    from matsearch.core.settings import Settings
    from matsearch.encoders.xrd_cnn import EMBED_DIM, XRDNet
    from matsearch.indexer.structures import DEFAULT_SOURCES, load_library
    from matsearch.indexer.xrd.build import simulate_entries

    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    data_dir = args.data_dir or Settings().data_dir
    sources = tuple(args.sources.split(",")) if args.sources else DEFAULT_SOURCES
    entries = list(load_library(sources, cache_dir=data_dir / "cache"))
    peaks, _ = simulate_entries(entries, data_dir, progress=False)
    indexed = [e for e in entries if e.id in peaks and not eval_left_out(e.id)]
    if args.limit:
        indexed = indexed[: args.limit]
    train_ids = [e.id for e in indexed if not train_held_out(e.id)]
    held_ids = [e.id for e in indexed if train_held_out(e.id)]
    print(f"classes: train {len(train_ids)}, held out of training {len(held_ids)} (indexed), seed {args.seed}")
    all_ids = train_ids + held_ids
    clean_np, views_np = make_views([peaks[i] for i in all_ids], args.views, args.seed)
    print(f"views ready ({time.time() - start:.0f} s)", flush=True)
    clean = torch.from_numpy(clean_np.astype(np.float32))
    views = torch.from_numpy(views_np.astype(np.float32))
    n_train = len(train_ids)

    model = XRDNet(width=args.width)
    proxies = torch.nn.Parameter(torch.randn(n_train, EMBED_DIM) * 0.01)
    opt = torch.optim.AdamW([*model.parameters(), proxies], lr=args.lr, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(args.seed)

    def shifted(x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(x)
        shifts = torch.randint(-3, 4, (x.shape[0],), generator=gen)
        for s in shifts.unique().tolist():
            rows = (shifts == s).nonzero().squeeze(1)
            if s > 0:
                out[rows, s:] = x[rows, :-s]
            elif s < 0:
                out[rows, :s] = x[rows, -s:]
            else:
                out[rows] = x[rows]
        return out

    @torch.inference_mode()
    def evaluate() -> str:
        model.eval()
        lib = F.normalize(torch.cat([model(clean[i : i + 1024, None]) for i in range(0, len(all_ids), 1024)]), dim=1)
        held = torch.arange(n_train, len(all_ids))
        q = F.normalize(model(views[held, 0, None]), dim=1)
        rank = (q @ lib.T > (q * lib[held]).sum(1, keepdim=True)).sum(1)
        model.train()
        r1, r10, r50 = ((rank < k).float().mean().item() for k in (1, 10, 50))
        return f"held-out recall@1 {r1:.3f} @10 {r10:.3f} @50 {r50:.3f}"

    step = 0
    epoch_perm = torch.randperm(n_train, generator=gen)
    pos = 0
    last_save = time.time()
    loss_avg = 0.0
    while True:
        elapsed = time.time() - start
        if elapsed > budget:
            break
        lr = args.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, elapsed / budget)))
        for g in opt.param_groups:
            g["lr"] = lr
        if pos + args.batch > n_train:
            epoch_perm, pos = torch.randperm(n_train, generator=gen), 0
        cls = epoch_perm[pos : pos + args.batch]
        pos += args.batch
        v_idx = torch.randint(0, args.views, (cls.numel(),), generator=gen)
        xv = shifted(views[cls, v_idx])[:, None]
        xc = clean[cls][:, None]
        z = F.normalize(model(torch.cat([xv, xc])), dim=1)
        zv, zc = z[: cls.numel()], z[cls.numel() :]
        target = torch.arange(cls.numel())
        logits = zv @ zc.T / 0.05
        nce = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
        p = F.normalize(proxies, dim=1)
        cos = z @ p.T
        labels = torch.cat([cls, cls])
        cos = cos - 0.2 * F.one_hot(labels, n_train)
        proxy = F.cross_entropy(30.0 * cos, labels)
        loss = nce + 0.5 * proxy
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        loss_avg = 0.95 * loss_avg + 0.05 * float(loss) if step > 1 else float(loss)
        if step % 20 == 0:
            print(f"step {step} t {elapsed:.0f}s lr {lr:.2e} loss {loss_avg:.3f} (nce {float(nce):.3f})", flush=True)
        if time.time() - last_save > (20 if args.limit else 180):
            save(model, args)
            print(f"step {step}: saved; {evaluate()}", flush=True)
            last_save = time.time()
    save(model, args)
    print(f"done: {step} steps in {time.time() - start:.0f} s; {evaluate()}", flush=True)
    return 0


def save(model: object, args: argparse.Namespace) -> None:
    import torch

    state = {k: v.detach().clone() for k, v in model.state_dict().items()}  # type: ignore[attr-defined]
    state["_width"] = torch.tensor(args.width)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(args.out)


if __name__ == "__main__":
    sys.exit(main())
