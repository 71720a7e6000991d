"""Optional open_clip backend: loads a checkpoint the user points to (``MATSEARCH_CLIP_CHECKPOINT``).

No CLIP weights ship on any registry, so nothing in matsearch's defaults depends on this. Install the extra
(``pip install -e .[clip]``) and point the setting at a local file; with ``checkpoint=None`` the model is randomly
initialised (used by tests for shapes and normalisation only — its vectors mean nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from matsearch.encoders.base import Encoder


class OpenClip(Encoder):
    name = "open-clip"
    dim = 512
    modality = "image+text"
    batch_size = 16

    def __init__(self, model_name: str = "ViT-B-32", checkpoint: Path | None = None) -> None:
        super().__init__()
        self.model_name = model_name
        self.checkpoint = checkpoint

    def _load(self) -> None:
        from matsearch.encoders import tv_compat

        tv_compat.apply()
        import open_clip

        if self.checkpoint is not None and not Path(self.checkpoint).is_file():
            raise FileNotFoundError(f"CLIP checkpoint not found: {self.checkpoint}")
        pretrained = str(self.checkpoint) if self.checkpoint is not None else None
        model, _, preprocess = open_clip.create_model_and_transforms(self.model_name, pretrained=pretrained)
        model.eval()
        self._model = model
        self._preprocess = preprocess
        self._tokenizer = open_clip.get_tokenizer(self.model_name)
        embed_dim = int(model.text_projection.shape[1]) if hasattr(model, "text_projection") else self.dim
        if embed_dim != self.dim:
            self.dim = embed_dim  # type: ignore[misc]

    @torch.inference_mode()
    def _encode(self, items: Sequence[Any]) -> np.ndarray:
        if all(isinstance(i, Image.Image) for i in items):
            x = torch.stack([self._preprocess(im.convert("RGB")) for im in items])
            return self._model.encode_image(x).float().numpy()
        if all(isinstance(i, str) for i in items):
            return self._model.encode_text(self._tokenizer(list(items))).float().numpy()
        raise TypeError("open-clip encodes a batch of PIL images or a batch of strings, not a mix")
