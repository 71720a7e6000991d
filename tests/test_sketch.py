"""Sketch encoder: the contour transform, the registered encoder, and retrieval of particle micrographs by drawings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from matsearch.core.settings import Settings
from matsearch.encoders import ENCODERS, get_encoder
from matsearch.encoders.sketch import contour_map
from training import figures_synth as synth


def test_contour_map_is_a_line_drawing() -> None:
    rng = np.random.default_rng(3)
    for image in (synth.particle_micrograph("cube", rng), synth.hand_sketch("cube", rng)):
        m = np.asarray(contour_map(image).convert("L"))
        assert max(m.shape) == 256
        ink = (m < 128).mean()
        assert 0.002 < ink < 0.3  # lines, not a filled or empty image
    blank = np.asarray(contour_map(Image.new("RGB", (64, 64), "gray")))
    assert blank.min() == 255


def test_sketch_encoder_registered() -> None:
    assert "sketch" in ENCODERS
    enc = get_encoder("sketch", Settings())
    v = enc.encode([synth.hand_sketch("rod", np.random.default_rng(0))])
    assert v.shape == (1, 1280) and abs(float(np.linalg.norm(v)) - 1.0) < 1e-4


def test_drawings_find_micrographs_of_the_same_shape() -> None:
    g_rng, q_rng = np.random.default_rng(41000), np.random.default_rng(51000)
    gallery, gy, queries, qy = [], [], [], []
    for k, shape in enumerate(synth.SHAPES):
        for _ in range(6):
            gallery.append(synth.particle_micrograph(shape, g_rng))
            gy.append(k)
        for _ in range(2):
            queries.append(synth.hand_sketch(shape, q_rng))
            qy.append(k)
    enc = get_encoder("sketch", Settings())
    sims = enc.encode(queries) @ enc.encode(gallery).T
    top = np.argsort(-sims, axis=1)[:, :5]
    p5 = (np.asarray(gy)[top] == np.asarray(qy)[:, None]).mean()
    assert p5 >= 0.6


def test_int8_sketch_views_stay_close_to_the_float_network() -> None:
    rng = np.random.default_rng(61000)
    images = [synth.particle_micrograph(shape, rng) for shape in synth.SHAPES] + [synth.hand_sketch("star", rng)]
    int8 = get_encoder("sketch", Settings(sketch_int8=True))
    exact = get_encoder("sketch", Settings(sketch_int8=False))
    a, b = int8.encode(images), exact.encode(images)
    assert exact._session is None  # type: ignore[attr-defined]
    if int8._session is None:  # type: ignore[attr-defined]
        # this CPU's int8 kernels failed the check when the copy was made: the float network, said by a marker
        from matsearch.encoders.image import onnx_path
        from matsearch.encoders.sketch import int8_path

        float_path = onnx_path(int8._image.cache_dir)  # type: ignore[attr-defined]
        assert int8_path(float_path).with_suffix(".failed").exists()
        assert np.allclose(a, b)
        return
    cos = (a * b).sum(axis=1)
    assert cos.min() > 0.95 and not np.allclose(a, b)  # close, but really the quantised network


def test_int8_copy_that_fails_its_check_falls_back_to_the_float_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matsearch.encoders import sketch

    def fail(float_path: Path, path: Path) -> None:
        raise sketch.Int8Mismatch("int8 sketch network differs from the float one (mean cosine 0.7447)")

    monkeypatch.setattr(sketch, "quantize_int8", fail)
    monkeypatch.setattr(sketch, "int8_path", lambda float_path: tmp_path / "net-sketch-int8-test.onnx")
    rng = np.random.default_rng(61001)
    images = [synth.hand_sketch("star", rng)]
    shared = get_encoder("sketch", Settings(sketch_int8=True))
    enc = sketch.SketchEncoder(shared._image, int8=True)  # type: ignore[attr-defined]  # a fresh one, same network
    enc._load()
    assert enc._session is None
    assert "0.7447" in (tmp_path / "net-sketch-int8-test.failed").read_text()
    exact = get_encoder("sketch", Settings(sketch_int8=False))
    assert np.allclose(enc.encode(images), exact.encode(images))
