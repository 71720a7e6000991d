"""STEM search end to end with the real simulator and the shipped encoder weights: library build into a store,
queries in other orientations with noise and drift, distinct-structure hits, filters, abstain, bad input."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from matsearch.core.errors import BadInput, MatsearchError, TooLarge, UnsupportedMedia
from matsearch.core.filters import parse_filter
from matsearch.core.schemas import Hit
from matsearch.core.settings import Settings
from matsearch.encoders.stem_library import LIBRARY_PX
from matsearch.indexer.stem.build import build_stem_points
from matsearch.indexer.stem.simulate import SimParams, project_structure, render
from matsearch.indexer.stem.zones import analyzer, equivalent_zones
from matsearch.indexer.structures import StructureEntry, load_library
from matsearch.search import stem as Q
from matsearch.search.figures import search_image
from matsearch.server.service import Service


@pytest.fixture(scope="module")
def entries() -> list[StructureEntry]:
    lib = load_library(("ase", "cod", "dans_diffraction"))
    return list(lib)[:40]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, entries: list[StructureEntry]) -> Iterator[Service]:
    data = tmp_path_factory.mktemp("stemdata")
    svc = Service(Settings(data_dir=Path(data)))
    stats = build_stem_points(svc, entries, cache_dir=Path(data) / "cache", workers=1)
    assert stats["points_written"] == stats["views"] > len(entries)
    # Idempotent: a second build writes nothing new.
    again = build_stem_points(svc, entries, cache_dir=Path(data) / "cache", workers=1)
    assert again["points_written"] == 0 and again["points_current"] == stats["views"]
    yield svc
    svc.close()


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def png16_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray((np.clip(arr, 0, 1) * 65535).astype(np.uint16)).save(buf, format="PNG")
    return buf.getvalue()


def noisy_query(entry: StructureEntry, px: float, seed: int, size: tuple[int, int] = (150, 190)) -> np.ndarray:
    """The entry along a symmetry-equivalent variant of its first library zone, with noise, drift and mistilt."""
    from matsearch.indexer.stem.zones import select_zones

    conv = entry.conventional
    sga = analyzer(conv, 0.1)
    _, views = select_zones(conv, is_conventional=True)
    eq = equivalent_zones(views[0].zone, sga)
    zone = eq[-1]
    params = SimParams(
        size=size,
        px=px,
        rotation=33.0,
        thickness=140.0,
        probe_fwhm=1.0,
        drift=(0.02, -0.01),
        line_jitter=0.3,
        dose=300.0,
        read_noise=0.02,
        background=0.15,
        seed=seed,
    )
    return render(project_structure(conv, zone), params)


def test_held_out_orientation_with_noise_finds_structure(service: Service, entries: list[StructureEntry]) -> None:
    found = 0
    picks = entries[5::6][:6]
    for k, entry in enumerate(picks):
        px = 0.18 + 0.04 * k
        img = noisy_query(entry, px, seed=k)
        hits = search_image(
            service.store,
            service.settings,
            png16_bytes(img),
            filename="q.png",
            collection="stem",
            nm_per_px=px / 10,
            limit=5,
            score_threshold=0.0,
        )
        ids = [h.payload["structure_id"] for h in hits]
        assert len(ids) == len(set(ids)), "hits must be distinct structures"
        for h in hits:
            for key in ("formula", "elements", "spacegroup_symbol", "spacegroup_number", "zone_axis", "structure_id"):
                assert key in h.payload
        found += entry.id in ids
    assert found >= 5, f"only {found}/6 queries found their structure in the top 5"


def test_formats_filters_and_unknown_scale(service: Service, entries: list[StructureEntry]) -> None:
    entry = next(e for e in entries if e.id == "ase-Co")
    img = noisy_query(entry, 0.2, seed=11)
    element = entry.elements[0]
    for data, name in (
        (npy_bytes(img), "q.npy"),
        (png16_bytes(img), "q.png"),
        (_tiff16(img), "q.tif"),
        (_rgb_png(img), "q_rgb.png"),
    ):
        hits = search_image(
            service.store,
            service.settings,
            data,
            filename=name,
            collection="stem",
            nm_per_px=0.02,
            flt=parse_filter({"elements": {"all": [element]}}),
            limit=3,
            score_threshold=0.0,
        )
        assert hits and all(element in h.payload["elements"] for h in hits)
        assert hits[0].payload["structure_id"] == entry.id, name
    hits = search_image(
        service.store,
        service.settings,
        npy_bytes(img),
        filename="q.npy",
        collection="stem",
        limit=5,
        score_threshold=0.0,
    )
    assert hits and (hits[0].model_extra or {}).get("query_scale_assumed") is True
    none = search_image(
        service.store,
        service.settings,
        npy_bytes(img),
        filename="q.npy",
        collection="stem",
        nm_per_px=0.02,
        flt=parse_filter({"spacegroup_number": 999}),
        limit=3,
        score_threshold=0.0,
    )
    assert none == []


def test_abstains_on_noise(service: Service) -> None:
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(128, 128))

    def noise_search(threshold: float | None) -> list[Hit]:
        return search_image(
            service.store,
            service.settings,
            npy_bytes(noise),
            filename="noise.npy",
            collection="stem",
            nm_per_px=0.025,
            limit=5,
            score_threshold=threshold,
        )

    raw = noise_search(0.0)  # every candidate, whatever its score
    assert raw, "the un-thresholded search returns the nearest structures"
    assert raw[0].score < Q.DEFAULT_SCORE_THRESHOLD, f"noise scored {raw[0].score:.3f}"
    assert noise_search(None) == []  # the default threshold abstains


def _tiff16(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, (np.clip(arr, 0, 1) * 65535).astype(np.uint16))
    return buf.getvalue()


def _rgb_png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray((np.clip(arr, 0, 1) * 255).astype(np.uint8)).convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "name", "error", "words"),
    [
        (b"", "e.png", BadInput, "empty"),
        (b"not an image at all", "x.png", UnsupportedMedia, "not a recognised"),
        (npy_bytes(np.full((64, 64), 3.0)), "c.npy", BadInput, "constant"),
        (npy_bytes(np.full((64, 64), np.nan)), "n.npy", BadInput, "NaN"),
        (npy_bytes(np.zeros((8, 8)) + np.eye(8)), "t.npy", BadInput, "at least 16"),
        (npy_bytes(np.zeros((4, 32, 32, 2))), "v.npy", BadInput, "2-D"),
        (npy_bytes(np.array(["a", "b"])), "s.npy", UnsupportedMedia, "dtype"),
        (b"\x93NUMPY garbage", "g.npy", BadInput, ".npy"),
        (b"II*\x00garbage", "g.tif", BadInput, "TIFF"),
    ],
)
def test_bad_files(data: bytes, name: str, error: type[MatsearchError], words: str) -> None:
    with pytest.raises(error) as info:
        Q.decode_array(data, name, Settings())
    assert words.lower() in info.value.message.lower()


def test_huge_image_and_bad_pixel_sizes() -> None:
    settings = Settings(max_image_pixels=100_000)
    with pytest.raises(TooLarge):
        Q.decode_array(npy_bytes(np.random.default_rng(0).random((400, 400))), "big.npy", settings)
    for bad in (0.0, -0.02, float("nan"), float("inf"), 1.0, 1e-6):
        with pytest.raises(BadInput):
            Q.check_nm_per_px(bad)
    arr = np.random.default_rng(1).random((64, 64))
    with pytest.raises(BadInput, match="field of view"):
        Q.prepare(arr, 0.002)  # 64 px at 0.02 Å/px: 1.3 Å across — nothing to match


def test_nan_pixels_filled_and_non_square_16bit_resampled() -> None:
    from pymatgen.core import Lattice, Structure

    from matsearch.indexer.stem.simulate import simulate

    sto = Structure(
        Lattice.cubic(3.905),
        ["Sr", "Ti", "O", "O", "O"],
        [[0.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]],
    )
    img = simulate(sto, (0, 0, 1), SimParams(size=(300, 520), px=0.1))
    img[5:9, 5:9] = np.nan
    arr = Q.decode_array(npy_bytes(img), "q.npy", Settings())
    assert np.isfinite(arr).all()
    prep = Q.prepare(arr, 0.01)
    crops = prep.groups[0]
    assert len(crops) >= 2 and all(c.shape == (96, 96) for c in crops)
    # After resampling to the library pixel size the lattice period is a / 0.25 Å px.
    f = np.fft.fft2(crops[0] - crops[0].mean())
    ac = np.real(np.fft.ifft2(f * np.conj(f)))[0]
    lag = 8 + int(np.argmax(ac[8:30]))
    assert abs(lag - 3.905 / LIBRARY_PX) <= 1.0
    assert Q.dominant_period_px(img[:, :300] if np.isfinite(img).all() else np.nan_to_num(img)) > 0


def test_lattice_cache_same_answer_and_follows_rebuilt_points(service: Service, entries: list[StructureEntry]) -> None:
    """Stage 1 fetches only ids + build keys and takes the stored spectra from a per-process cache: a warm cache
    gives the same answer as a cold one, and a point whose payload changed (new build key) is not served stale."""
    from matsearch.encoders.stem_library import LATTICE_KEY, MOTIF_KEY, SPOTS_KEY

    entry = entries[11]
    data = png16_bytes(noisy_query(entry, 0.22, seed=5))

    def run() -> list[Hit]:
        return Q.search_stem(service.store, service.settings, data, filename="q.png", nm_per_px=0.022, limit=5)

    Q._FEATURE_CACHE.clear()
    cold = run()
    assert cold and len(Q._FEATURE_CACHE) > 0
    warm = run()
    assert [(h.id, round(h.score, 6)) for h in warm] == [(h.id, round(h.score, 6)) for h in cold]
    assert all(k not in h.payload for h in warm for k in (LATTICE_KEY, SPOTS_KEY, MOTIF_KEY))
    assert warm[0].payload["lattice_match"]["motif_score"] is not None, "the column motif was compared"
    assert all(h.payload["formula"] for h in warm), "returned hits carry the full payload"
    # Rebuild the top point with another structure's spectrum (and a new build key): the answer must change.
    top = cold[0]
    (rec,) = service.store.retrieve("stem", [top.id])
    other = next(
        p
        for p in service.store.scroll("stem", limit=200)[0]
        if p.payload["structure_id"] != top.payload["structure_id"]
        and p.payload["projected_cell"]["a"] > 1.6 * rec.payload["projected_cell"]["a"]
    )
    swapped = {k: other.payload[k] for k in (LATTICE_KEY, SPOTS_KEY, MOTIF_KEY)} | {"build_key": "rebuilt"}
    service.store.set_payload("stem", [top.id], swapped)
    try:
        after = {h.id: h.score for h in run()}
        assert after.get(top.id, 0.0) < top.score - 0.05
    finally:
        keep = {k: rec.payload[k] for k in (LATTICE_KEY, SPOTS_KEY, MOTIF_KEY, "build_key")}
        service.store.set_payload("stem", [top.id], keep)
