"""Synthetic but structured embeddings for the store benchmark.

Uniform noise is a bad HNSW benchmark (no neighbourhood structure, recall collapses, and it says nothing about real
embeddings). Instead: a mixture of Gaussian clusters of uneven sizes, whose centres and within-cluster noise both
follow a decaying (power-law) spectrum in random rotations, plus a shared mean direction (real image/text embeddings
are far from centred: most pairwise cosines are positive), L2-normalised. The intrinsic dimension is moderate
(``participation_ratio`` reports it) and nearest neighbours are mostly, but not only, from the same cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

KEYWORDS = ("a", "b", "c", "d", "e", "f", "g", "h", "i", "j")
# "a" covers 10% of the points (the filtered query's keyword); the rest are uneven, as real categories are.
KEYWORD_P = (0.10, 0.22, 0.16, 0.12, 0.11, 0.09, 0.07, 0.06, 0.04, 0.03)
RANGE = (0.45, 0.55)  # x is uniform in [0, 1): this range keeps 10% of the points


@dataclass
class Mixture:
    """The generative model: sample as many points from it as you like (data and held-out queries alike)."""

    dim: int
    centres: np.ndarray  # (k, dim) float32
    weights: np.ndarray  # (k,) cluster probabilities
    scales: np.ndarray  # (k,) within-cluster noise scale
    noise_basis: np.ndarray  # (dim, dim) float32, rows scaled by sqrt(noise spectrum)

    @classmethod
    def make(
        cls,
        dim: int,
        n_clusters: int,
        rng: np.random.Generator,
        *,
        decay: float = 1.0,
        noise_decay: float = 1.0,
        noise: float = 1.0,
        mean_weight: float = 0.6,
        sub: float = 0.5,
        mean_dir: np.ndarray | None = None,
    ) -> Mixture:
        k = np.arange(1, dim + 1, dtype=np.float64)
        centre_spec = k**-decay
        centre_spec /= centre_spec.sum()
        noise_spec = k**-noise_decay
        noise_spec /= noise_spec.sum()
        rot_c = _orthogonal(dim, rng)
        rot_n = _orthogonal(dim, rng)
        mean = rng.standard_normal(dim) if mean_dir is None else np.asarray(mean_dir, dtype=np.float64)
        mean *= mean_weight / np.linalg.norm(mean)
        # two levels, as real collections have (microscopy > TEM > HRTEM of nanorods): topics, then clusters in them
        n_topics = max(2, n_clusters // 10)
        topics = (rng.standard_normal((n_topics, dim)) * np.sqrt(centre_spec)) @ rot_c.T
        offsets = (rng.standard_normal((n_clusters, dim)) * np.sqrt(centre_spec)) @ rot_c.T
        centres = topics[rng.integers(0, n_topics, n_clusters)] + sub * offsets + mean
        weights = rng.lognormal(0.0, 0.8, n_clusters)
        weights /= weights.sum()
        scales = noise * rng.lognormal(0.0, 0.25, n_clusters)
        return cls(
            dim=dim,
            centres=centres.astype(np.float32),
            weights=weights,
            scales=scales.astype(np.float32),
            noise_basis=(np.sqrt(noise_spec)[:, None] * rot_n.T).astype(np.float32),
        )

    def sample(self, n: int, rng: np.random.Generator, chunk: int = 65_536) -> tuple[np.ndarray, np.ndarray]:
        """``n`` L2-normalised float32 vectors and their cluster labels (generated in chunks to bound memory)."""
        out = np.empty((n, self.dim), dtype=np.float32)
        labels = rng.choice(len(self.weights), size=n, p=self.weights)
        for start in range(0, n, chunk):
            lab = labels[start : start + chunk]
            z = rng.standard_normal((len(lab), self.dim), dtype=np.float32)
            block = self.centres[lab] + (z @ self.noise_basis) * self.scales[lab, None]
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            out[start : start + len(lab)] = block
        return out, labels


def _orthogonal(dim: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))


def clustered(
    n: int, dim: int, n_queries: int, seed: int = 0, noise: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` data vectors, ``n_queries`` held-out queries from the same mixture (about ``n/100`` clusters), labels.

    ``noise`` scales the within-cluster spread: larger is harder (clusters overlap, higher intrinsic dimension)."""
    rng = np.random.default_rng(seed)
    mixture = Mixture.make(dim, max(8, n // 100), rng, noise=noise)
    data, labels = mixture.sample(n, rng)
    queries, _ = mixture.sample(n_queries, rng)
    return data, queries, labels


def payloads(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per point: keyword ``kind`` (index into KEYWORDS), float ``x`` uniform in [0, 1), integer ``year``."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(len(KEYWORDS), size=n, p=KEYWORD_P)
    x = rng.random(n)
    year = rng.integers(1990, 2025, size=n)
    return kind, x, year


def payload(i: int, kind: np.ndarray, x: np.ndarray, year: np.ndarray) -> dict[str, Any]:
    return {"kind": KEYWORDS[int(kind[i])], "x": float(x[i]), "year": int(year[i]), "n": i}


def participation_ratio(data: np.ndarray, sample: int = 20_000, seed: int = 0) -> float:
    """Effective dimension (sum λ)² / sum λ² of the covariance spectrum: ~1 for a line, ``dim`` for isotropic noise."""
    rng = np.random.default_rng(seed)
    rows = data[rng.choice(len(data), size=min(sample, len(data)), replace=False)].astype(np.float64)
    rows -= rows.mean(axis=0)
    lam = np.linalg.svd(rows, compute_uv=False) ** 2
    return float(lam.sum() ** 2 / (lam**2).sum())
