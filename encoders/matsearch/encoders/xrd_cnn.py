"""``xrd-cnn``: a small 1-D CNN embedding of powder patterns, trained with metric learning on augmented simulated
patterns (``training.train_xrd``; log in ``bench/results/xrd_train.log``).

Input: like ``xrd-profile`` — a 1-D intensity array on the library 2θ grid (``GRID_2THETA``), background removed,
any scale; it is mapped onto the ``ln(sin θ)`` axis (``log_sin_profile``, 1024 bins), where a lattice strain is a
translation. Output: a 128-d L2-normalised vector. A library structure is indexed by embedding its clean simulated
pattern, so a new CIF needs no retraining; a measured pattern lands near the clean pattern of its phase whatever
the noise, background, texture, Kα2, broadening, impurity peaks and (within ~±1%) strain.

The network keeps positions (a flattened feature map, no global pooling): in XRD, *where* the peaks are is the
identity of the phase.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from matsearch.encoders.base import Encoder
from matsearch.encoders.weights import load_torch_model
from matsearch.encoders.xrd import N_LOG, as_grid_array, log_sin_profile

EMBED_DIM = 128


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm1d(cout), nn.ReLU(True))


class XRDNet(nn.Module):
    """(n, 1, 1024) √intensity on the ln(sin θ) axis → (n, EMBED_DIM). ~1.1 M parameters, ~3 M MACs/pattern."""

    def __init__(self, width: int = 16, embed_dim: int = EMBED_DIM) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            _conv(1, w, 9, 2),  # 512
            nn.MaxPool1d(2),  # 256
            _conv(w, 2 * w, 5),
            nn.MaxPool1d(2),  # 128
            _conv(2 * w, 4 * w, 5),
            nn.MaxPool1d(2),  # 64
            _conv(4 * w, 8 * w, 3),
            nn.MaxPool1d(2),  # 32
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(0.1),
            nn.Linear(8 * w * (N_LOG // 32), 256),
            nn.ReLU(True),
            nn.Linear(256, embed_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def to_input(items: Sequence[Any]) -> torch.Tensor:
    """Grid patterns → (n, 1, N_LOG) float32 network input."""
    x = log_sin_profile(np.stack([as_grid_array(y) for y in items]))
    return torch.from_numpy(np.ascontiguousarray(x[:, None, :], dtype=np.float32))


class XRDCNN(Encoder):
    name = "xrd-cnn"
    dim = EMBED_DIM
    modality = "xrd"
    batch_size = 256

    def _load(self) -> None:
        self._model = load_torch_model("xrd-cnn", lambda width: XRDNet(width=width), default_width=16)

    @torch.inference_mode()
    def _encode(self, items: Sequence[Any]) -> np.ndarray:
        return self._model(to_input(items)).numpy()
