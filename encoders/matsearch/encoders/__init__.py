"""Encoders: images, sketches, text, STEM images and spectra to vectors. See ``base.Encoder`` for the protocol.

``get_encoder(name, settings)`` is the one way in: a plain table (``ENCODERS``) maps each name to a factory that
builds the encoder from the settings the process was given (the server's or the CLI's, never the environment).
Factories import their module on first use, so importing ``matsearch.encoders`` does not load torch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from matsearch.core.settings import Settings
from matsearch.encoders.base import Encoder, l2_normalize

__all__ = ["ENCODERS", "Encoder", "get_encoder", "l2_normalize"]


def _efficientnet(settings: Settings) -> Encoder:
    from matsearch.encoders.image import EfficientNetLite0

    s = settings
    return EfficientNetLite0(backend=s.image_backend, cache_dir=s.cache_dir, threads=s.onnx_threads)


def _minilm(settings: Settings) -> Encoder:
    from matsearch.encoders.text import MiniLM

    return MiniLM(backend=settings.text_backend, cache_dir=settings.cache_dir, threads=settings.onnx_threads)


def _sketch(settings: Settings) -> Encoder:
    from matsearch.encoders.sketch import SketchEncoder

    return SketchEncoder(get_encoder("efficientnet-lite0", settings), int8=settings.sketch_int8)


def _stem_cnn(settings: Settings) -> Encoder:
    from matsearch.encoders.stem import StemEncoder

    return StemEncoder()


def _stem_fft(settings: Settings) -> Encoder:
    from matsearch.encoders.stem import StemFFTEncoder

    return StemFFTEncoder()


def _stem_fused(settings: Settings) -> Encoder:
    from matsearch.encoders.stem import StemFusedEncoder

    return StemFusedEncoder(get_encoder("stem-cnn", settings), get_encoder("stem-fft", settings))


def _xrd_profile(settings: Settings) -> Encoder:
    from matsearch.encoders.xrd import XRDProfile

    return XRDProfile()


def _xrd_cnn(settings: Settings) -> Encoder:
    from matsearch.encoders.xrd_cnn import XRDCNN

    return XRDCNN()


def _spectrum_profile(settings: Settings) -> Encoder:
    from matsearch.encoders.spectrum_profile import SpectrumProfile

    return SpectrumProfile()


ENCODERS: dict[str, Callable[[Settings], Encoder]] = {
    "efficientnet-lite0": _efficientnet,
    "all-minilm-l6-v2": _minilm,
    "sketch": _sketch,
    "stem-cnn": _stem_cnn,
    "stem-fft": _stem_fft,
    "stem-fused": _stem_fused,
    "xrd-profile": _xrd_profile,
    "xrd-cnn": _xrd_cnn,
    "spectrum-profile": _spectrum_profile,
}

_INSTANCES: dict[tuple[str, str, str, str, int, bool], Encoder] = {}
_LOCK = threading.RLock()


def get_encoder(name: str, settings: Settings) -> Encoder:
    """The shared instance of ``name`` for these settings (built on first request, weights loaded on first use).

    Instances are shared between processes' ``Service`` objects with the same encoder settings (backends, cache
    directory, threads), so a test suite or a bench that opens many stores loads each model once."""
    if name not in ENCODERS:
        raise KeyError(f"unknown encoder {name!r} (known: {sorted(ENCODERS)})")
    s = settings
    key = (name, s.image_backend, s.text_backend, str(s.cache_dir), s.onnx_threads, s.sketch_int8)
    with _LOCK:
        if key not in _INSTANCES:
            _INSTANCES[key] = ENCODERS[name](settings)
        return _INSTANCES[key]
