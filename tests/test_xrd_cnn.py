"""The shipped ``xrd-cnn`` embedding (real weights, real pymatgen simulation): checksummed, deterministic,
L2-normalised, and a distorted measurement lands near its own clean library pattern among other structures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from matsearch.core.settings import Settings
from matsearch.encoders import get_encoder
from matsearch.encoders.weights import WEIGHTS, locate, sha256_file
from matsearch.encoders.xrd_pattern import Pattern, preprocess
from matsearch.indexer.structures import load_library
from matsearch.indexer.xrd.build import simulate_entries
from matsearch.indexer.xrd.simulate import library_profile
from training.xrd_augment import Distortion, experimental_like, pattern_range


@pytest.fixture(scope="module")
def peaks(tmp_path_factory: pytest.TempPathFactory) -> list:
    data = tmp_path_factory.mktemp("xrdcnn") / "data"
    lib = load_library(("materials_project",), limit=40, cache_dir=data / "cache")
    out, _ = simulate_entries(list(lib), data, workers=1, progress=False)
    return [out[k] for k in sorted(out)]


def test_weights_are_registered_small_and_checksummed() -> None:
    path = locate("xrd-cnn")
    assert path.stat().st_size <= 20 * 1024 * 1024
    assert sha256_file(path) == WEIGHTS["xrd-cnn"].sha256
    assert Path(path).parent.name == "weight_files"


def test_embedding_is_normalised_and_deterministic(peaks: list) -> None:
    enc = get_encoder("xrd-cnn", Settings())
    clean = [library_profile(p) for p in peaks[:5]]
    a, b = enc.encode(clean), enc.encode(clean)
    assert a.shape == (5, enc.dim) and np.allclose(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)


def test_distorted_pattern_lands_near_its_clean_pattern(peaks: list) -> None:
    enc = get_encoder("xrd-cnn", Settings())
    lib = enc.encode([library_profile(p) for p in peaks])
    rng = np.random.default_rng(3)
    ranks = []
    for i, p in enumerate(peaks):
        y = experimental_like([(p, 1.0)], rng, Distortion.realistic())
        assert isinstance(y, np.ndarray)
        x, yy = pattern_range(y)
        q, _ = preprocess(Pattern(two_theta=x, intensity=yy, wavelength=1.54056))
        sims = lib @ enc.encode([q])[0]
        ranks.append(int((sims > sims[i]).sum()))
    ranks_a = np.asarray(ranks)
    assert np.mean(ranks_a < 5) >= 0.8, ranks
