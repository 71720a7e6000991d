"""Encoders: images, sketches, text, STEM images and spectra to vectors. See ``base.Encoder`` for the protocol."""

from __future__ import annotations

import importlib

from matsearch.encoders.base import Encoder, available_encoders, get_encoder, l2_normalize, register

__all__ = ["Encoder", "available_encoders", "get_encoder", "l2_normalize", "register"]

# Modules that register encoders when imported. Add yours here (one line), keep imports light at module level.
BUILTIN_MODULES = [
    "matsearch.encoders.image",
    "matsearch.encoders.text",
    "matsearch.encoders.stem",
    "matsearch.encoders.xrd",
    "matsearch.encoders.xrd_cnn",
    "matsearch.encoders.sketch",
]
_done = False


def _register_builtins() -> None:
    global _done
    if _done:
        return
    _done = True
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
