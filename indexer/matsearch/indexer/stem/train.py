"""Train the ``stem-cnn`` encoder on simulated images of the *training* structures (held-out prototypes excluded).

Reproduce the shipped weights (2 CPU threads, 22 min wall-time budget)::

    .venv/bin/python -m matsearch.indexer.stem.train --minutes 22 --seed 0 \
        --out encoders/matsearch/encoders/weights/stem-cnn.pt --log bench/results/stem_train.log

Data recipe: every library structure whose prototype is not held out (``split.is_heldout``), projected along up to
four distinct low-index zone axes of its conventional cell (``zones.select_zones``); one class per (structure, zone).
Each batch takes ``classes_per_batch`` random classes and simulates two independent acquisitions of each on the fly
(``simulate.random_params(rng, "train")``: HAADF/ADF/ABF, thickness 30-400 Å, probe 0.7-1.3 Å, ±8 % scale,
rotation, drift, line jitter, vacancies, adatoms, background, Poisson dose 20-3000 e/px, read noise), then adds
cheap image-space augmentations (gamma, blur, contrast). Losses: SupCon (NT-Xent with the two views and same-class
items as positives, τ = 0.1) on the embedding + a CosFace classifier over the classes (scale 16, margin 0.2), which
is dropped when saving. AdamW; the cosine learning-rate schedule follows the *wall-time* budget (the machine is
shared, so the step count depends on load: the log records it; same seed + same step count = same weights).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from matsearch.encoders.stem import EMBED_DIM, StemNet, standardize
from matsearch.indexer.stem.simulate import random_params, render
from matsearch.indexer.stem.views import View
from scipy import ndimage
from torch import nn


def augment(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Image-space augmentations on top of the simulated acquisition."""
    if rng.random() < 0.5:
        img = img ** float(np.exp(rng.normal(0, 0.3)))
    if rng.random() < 0.2:
        img = ndimage.gaussian_filter(img, float(rng.uniform(0.4, 1.2)))
    if rng.random() < 0.2:  # 8-bit quantisation and clipping of a saturated detector
        img = np.clip(np.round(img * rng.uniform(0.8, 1.2) * 255) / 255, 0, 1)
    return np.asarray(img, dtype=np.float32)


class ViewBatches(torch.utils.data.IterableDataset[tuple[torch.Tensor, torch.Tensor]]):
    """Endless batches: ``classes`` random classes x 2 simulated views each."""

    def __init__(self, views: list[View], classes: int, seed: int) -> None:
        super().__init__()
        self.views = views
        self.classes = classes
        self.seed = seed

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = torch.utils.data.get_worker_info()
        wid = info.id if info is not None else 0
        rng = np.random.default_rng([self.seed, wid])
        while True:
            idx = rng.choice(len(self.views), size=self.classes, replace=False)
            imgs, labels = [], []
            for k in idx:
                for _ in range(2):
                    img = render(self.views[k].projection, random_params(rng, "train"))
                    imgs.append(augment(img, rng))
                    labels.append(int(k))
            x = torch.from_numpy(np.stack(imgs)[:, None])
            yield standardize(x), torch.tensor(labels)


def supcon_loss(z: torch.Tensor, labels: torch.Tensor, tau: float = 0.1) -> torch.Tensor:
    z = F.normalize(z, dim=1)
    sim = z @ z.t() / tau
    n = z.shape[0]
    eye = torch.eye(n, dtype=torch.bool)
    sim = sim.masked_fill(eye, -1e9)
    pos = (labels[:, None] == labels[None, :]) & ~eye
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    return -(log_prob * pos).sum(1).div(pos.sum(1).clamp(min=1)).mean()


class CosFace(nn.Module):
    def __init__(self, dim: int, classes: int, scale: float = 16.0, margin: float = 0.2) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(classes, dim) * 0.01)
        self.scale, self.margin = scale, margin

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cos = F.normalize(z, dim=1) @ F.normalize(self.w, dim=1).t()
        logits = self.scale * (cos - self.margin * F.one_hot(labels, cos.shape[1]))
        return F.cross_entropy(logits, labels), (cos.argmax(1) == labels).float().mean()


def training_views(max_structures: int | None = None) -> list[View]:
    from matsearch.indexer.stem.split import is_heldout
    from matsearch.indexer.stem.views import cached_views
    from matsearch.indexer.structures import load_library

    entries = list(load_library())
    views = cached_views(entries, workers=2)  # cache shared with eval/build: all entries
    keep = {e.id for e in entries if not is_heldout(e)}
    out = [v for v in views if v.structure_id in keep]
    if max_structures is not None:
        ids = sorted({v.structure_id for v in out})[:max_structures]
        out = [v for v in out if v.structure_id in set(ids)]
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=22.0, help="wall-time budget; the LR schedule follows it")
    ap.add_argument("--steps", type=int, default=100_000, help="upper bound on steps")
    ap.add_argument("--classes-per-batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--log", type=Path, required=True)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    args.log.parent.mkdir(parents=True, exist_ok=True)
    logf = open(args.log, "w")  # noqa: SIM115

    def log(msg: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    t0 = time.time()
    views = training_views()
    n_struct = len({v.structure_id for v in views})
    log(f"config {json.dumps({k: str(v) for k, v in vars(args).items()})}")
    log(f"data: {len(views)} classes (structure x zone) from {n_struct} training structures; {time.time() - t0:.0f}s")
    model = StemNet(width=args.width)
    head = CosFace(EMBED_DIM, len(views))
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=5e-4)
    budget = 60.0 * args.minutes

    def lr_at(elapsed: float) -> float:
        """Warm-up for 4 % of the budget, then cosine to zero at the end of the wall-time budget."""
        frac = min(1.0, elapsed / budget)
        if frac < 0.04:
            return args.lr * max(frac / 0.04, 0.02)
        return args.lr * 0.5 * (1 + math.cos(math.pi * (frac - 0.04) / 0.96))

    loader = torch.utils.data.DataLoader(
        ViewBatches(views, args.classes_per_batch, args.seed),
        batch_size=None,
        num_workers=args.workers,
        prefetch_factor=4 if args.workers else None,
        persistent_workers=bool(args.workers),
    )
    model.train()
    t_start = time.time()
    avg: dict[str, float] = {}
    step = 0
    for step, (x, y) in enumerate(loader):
        elapsed = time.time() - t_start
        if step >= args.steps or elapsed >= budget:
            break
        lr = lr_at(elapsed)
        for g in opt.param_groups:
            g["lr"] = lr
        z = model(x)
        l_con = supcon_loss(z, y)
        l_cls, acc = head(z, y)
        loss = l_con + l_cls
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        for k, v in (("loss", loss.item()), ("supcon", l_con.item()), ("cls", l_cls.item()), ("acc", acc.item())):
            avg[k] = v if k not in avg else 0.95 * avg[k] + 0.05 * v
        if step % 25 == 0:
            log(f"step {step} lr {lr:.2e} " + " ".join(f"{k} {v:.3f}" for k, v in avg.items()) + f" {elapsed:.0f}s")
        if step % 200 == 199:
            save(model, args.width, args.out)
    save(model, args.width, args.out)
    log(f"done: {step} steps in {time.time() - t_start:.0f}s; saved {args.out} ({os.path.getsize(args.out)} bytes)")


def save(model: StemNet, width: int, out: Path) -> None:
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    state["_width"] = torch.tensor(width)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(out)


if __name__ == "__main__":
    main()
