"""STEM image encoder: a small residual CNN trained on simulated atomic-resolution images (``stem-cnn``).

Input: one grey-level image at the library pixel size (0.25 Å/px), ``INPUT_SIZE`` square; anything else is
resized here, but callers that know the pixel size should resample first (``matsearch.search.stem``).
Output: a 128-d L2-normalised embedding; images of the same structure along the same zone axis are close whatever
the rotation, noise, drift, thickness or detector (HAADF/ADF/ABF). Trained with SupCon + a cosine classifier by
``training.train_stem`` (the classifier head is not shipped).

Accepted items: 2-D numpy arrays (any dtype; scaled robustly to [0, 1]) or PIL images (converted to grey).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from matsearch.encoders.base import Encoder
from matsearch.encoders.weights import load_torch_model

INPUT_SIZE = 96
EMBED_DIM = 128


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.b1(self.c1(x)))
        return F.relu(self.b2(self.c2(y)) + self.short(x))


class StemNet(nn.Module):
    """~0.3 M parameters, ~25 M multiply-adds per 96x96 image (stride-4 stem, three residual stages)."""

    def __init__(self, width: int = 32, embed_dim: int = EMBED_DIM) -> None:
        super().__init__()
        w = width
        self.stem = nn.Sequential(
            nn.Conv2d(1, w // 2, 5, 2, 2, bias=False),
            nn.BatchNorm2d(w // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(w // 2, w, 3, 2, 1, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(inplace=True),
        )
        self.layers = nn.Sequential(_Block(w, w, 1), _Block(w, 2 * w, 2), _Block(2 * w, 4 * w, 2))
        feat = 4 * w * 2  # average + max pooled
        self.head = nn.Sequential(
            nn.Linear(feat, 256), nn.BatchNorm1d(256), nn.ReLU(inplace=True), nn.Linear(256, embed_dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, 1, H, W) standardised images -> (n, embed_dim) un-normalised embeddings."""
        f = self.layers(self.stem(x))
        pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
        return self.head(pooled)


def to_gray_array(item: Any) -> np.ndarray:
    """A 2-D float32 array in [0, 1] from a numpy array or PIL image (robust percentile stretch, NaN -> median)."""
    if isinstance(item, Image.Image):
        arr = np.asarray(item.convert("F") if item.mode not in ("I;16", "I", "F") else item, dtype=np.float64)
    else:
        arr = np.asarray(item, dtype=np.float64)
    if arr.ndim == 3:
        arr = arr[..., :3].mean(axis=2) if arr.shape[2] in (3, 4) else arr.mean(axis=2)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {arr.shape}")
    finite = np.isfinite(arr)
    if not finite.all():
        arr = np.where(finite, arr, np.median(arr[finite]) if finite.any() else 0.0)
    lo, hi = np.percentile(arr, [0.5, 99.5])
    if not hi > lo:
        lo, hi = float(arr.min()), float(arr.max())
    if not hi > lo:
        return np.zeros(arr.shape, dtype=np.float32)
    return np.clip((arr - lo) / (hi - lo), 0, 1).astype(np.float32)


def standardize(batch: torch.Tensor) -> torch.Tensor:
    """Per-image zero mean, unit variance (n, 1, H, W)."""
    mean = batch.mean(dim=(1, 2, 3), keepdim=True)
    std = batch.std(dim=(1, 2, 3), keepdim=True)
    return (batch - mean) / (std + 1e-3)


def to_tensor(items: Sequence[Any], size: int = INPUT_SIZE) -> torch.Tensor:
    arrs = []
    for item in items:
        a = to_gray_array(item)
        if a.shape != (size, size):
            a = np.asarray(Image.fromarray(a, mode="F").resize((size, size), Image.Resampling.BILINEAR))
        arrs.append(a)
    return standardize(torch.from_numpy(np.stack(arrs)[:, None].astype(np.float32)))


class StemEncoder(Encoder):
    name = "stem-cnn"
    dim = EMBED_DIM
    modality = "stem"
    batch_size = 64

    def _load(self) -> None:
        self._model = load_torch_model("stem-cnn", lambda width: StemNet(width=width), default_width=32)

    @torch.inference_mode()
    def _encode(self, items: Sequence[Any]) -> np.ndarray:
        return self._model(to_tensor(items)).numpy()

    @torch.inference_mode()
    def encode_tensor(self, x: torch.Tensor) -> np.ndarray:
        """Encode already standardised (n, 1, 96, 96) tensors; L2-normalised rows."""
        self.load()
        with self._run_lock:
            out = self._model(x)
        return F.normalize(out, dim=1).numpy()


# ---------------------------------------------------------------------------------------------------------------------
# Rotation- and translation-invariant power-spectrum descriptor (no training): where the lattice's spatial frequencies
# are (real Å⁻¹, because images arrive at the library pixel size) and how symmetric each ring is.

FFT_PX = 0.25  # Å per pixel of the inputs (the library pixel size)
FFT_K = np.linspace(0.12, 0.95, 40)  # Å⁻¹ rings (d = 8.3 ... 1.05 Å)
FFT_HARMONICS = (0, 1, 2, 3)  # angular orders over [0, π): isotropic, 2-, 4- and 6-fold content
FFT_DIM = len(FFT_K) * len(FFT_HARMONICS)  # 160
_FFT_N = 256
_N_THETA = 96


def fft_descriptor(img: np.ndarray, px: float = FFT_PX) -> np.ndarray:
    """(FFT_DIM,) float32, L2-normalised descriptor of a 2-D image at ``px`` Å/px."""
    a = np.asarray(img, dtype=np.float64)
    a = a - a.mean()
    win = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    f = np.fft.fftshift(np.fft.fft2(a * win, s=(_FFT_N, _FFT_N)))
    power = np.abs(f) ** 2
    power /= power.sum() + 1e-12
    c = _FFT_N // 2
    theta = np.linspace(0, np.pi, _N_THETA, endpoint=False)
    rr = FFT_K[:, None] * px * _FFT_N  # radius in FFT pixels
    ys = c - rr * np.sin(theta)[None, :]
    xs = c + rr * np.cos(theta)[None, :]
    from scipy import ndimage

    smooth = ndimage.gaussian_filter(power, 1.0)
    polar = ndimage.map_coordinates(smooth, [ys.ravel(), xs.ravel()], order=1).reshape(len(FFT_K), _N_THETA)
    polar = np.log1p(polar * 1e4)
    harm = np.abs(np.fft.rfft(polar, axis=1))[:, list(FFT_HARMONICS)] / _N_THETA
    harm = ndimage.gaussian_filter1d(harm, 0.8, axis=0)
    # High-pass along k: remove the smooth envelope (window, probe, noise floor) common to every image, keep the
    # lattice rings; then give each harmonic equal weight.
    harm = harm - ndimage.gaussian_filter1d(harm, 4.0, axis=0, mode="nearest")
    harm = harm / (np.linalg.norm(harm, axis=0, keepdims=True) + 1e-9)
    feat = harm.T.ravel()  # grouped by harmonic
    return (feat / (np.linalg.norm(feat) + 1e-12)).astype(np.float32)


class StemFFTEncoder(Encoder):
    """Untrained physics descriptor (see ``fft_descriptor``); also used fused with ``stem-cnn``."""

    name = "stem-fft"
    dim = FFT_DIM
    modality = "stem"
    batch_size = 64

    def _load(self) -> None:
        return None

    def _encode(self, items: Sequence[Any]) -> np.ndarray:
        return np.stack([fft_descriptor(to_gray_array(it)) for it in items])


FUSE_CNN = (
    0.3  # weight of the trained CNN's cosine (chosen on 150 held-out structures, eval --quick); FFT gets the rest
)
FUSED_DIM = EMBED_DIM + FFT_DIM  # 288


class StemFusedEncoder(Encoder):
    """What the ``stem`` collection stores: [√w · stem-cnn, √(1-w) · stem-fft], so that the cosine of two fused
    vectors is w · cos(cnn) + (1 - w) · cos(fft). On held-out structures the fusion beats either part alone
    (bench/results/eval_stem.json)."""

    name = "stem-fused"
    dim = FUSED_DIM
    modality = "stem"
    batch_size = 64

    def __init__(self, cnn: Encoder, fft: Encoder) -> None:
        super().__init__()
        self._cnn = cnn
        self._fft = fft

    def _load(self) -> None:
        self._cnn.load()
        self._fft.load()

    def _encode(self, items: Sequence[Any]) -> np.ndarray:
        """Items at the library pixel size, at least 96 px: the CNN sees the central 96², the power spectrum up
        to the central 256² (a wider field gives sharper lattice frequencies)."""
        arrs = [to_gray_array(it) for it in items]
        a = self._cnn.encode([center_crop(x, INPUT_SIZE) for x in arrs]) * np.float32(np.sqrt(FUSE_CNN))
        b = self._fft.encode([center_crop(x, 256) for x in arrs]) * np.float32(np.sqrt(1.0 - FUSE_CNN))
        return np.concatenate([a, b], axis=1)


def fuse(cnn: np.ndarray, fft: np.ndarray) -> np.ndarray:
    """Fused rows from L2-normalised CNN and FFT rows."""
    return np.concatenate([cnn * np.sqrt(FUSE_CNN), fft * np.sqrt(1.0 - FUSE_CNN)], axis=-1).astype(np.float32)


def center_crop(arr: np.ndarray, size: int) -> np.ndarray:
    h, w = arr.shape
    if h <= size and w <= size:
        return arr
    r, c = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return arr[r : r + min(size, h), c : c + min(size, w)]


# ---------------------------------------------------------------------------------------------------------------------
# Lattice spectrum (no training): the power spectrum of a zone-axis image is the 2-D reciprocal lattice of the
# projected cell, with spot intensities set by the column motif (Z^n contrast). We sample its log-power on a
# log-k × θ grid (θ over [0, π): the spectrum is centrosymmetric) and keep the angular Fourier harmonics F_m(k).
# Two images are compared by the best normalised correlation over every in-plane rotation φ and the mirror:
#     C(φ) = Σ_k Σ_m w_m Re(F_m^q(k) conj(F_m^g(k)) e^{imφ}),
# which needs the relative angles between all reflections (lattice angle, motif) to agree, not just ring radii.
# With a known pixel size k is in real Å⁻¹; without it, a scale change is a shift along log k and we search over it.

LAT_KMIN, LAT_KMAX, LAT_NK = 0.10, 1.10, 48  # Å⁻¹, log-spaced rings
LAT_NTHETA = 64
LAT_M = 16  # angular harmonics kept (m = 0..16)
LAT_KS = np.exp(np.linspace(np.log(LAT_KMIN), np.log(LAT_KMAX), LAT_NK))
LAT_VERSION = "lat2"  # lat2: the alternate references (thick HAADF, ABF) beside the clean HAADF one


def lattice_polar(img: np.ndarray, px: float, scale: float = 1.0) -> np.ndarray:
    """(LAT_NK, LAT_NTHETA) log-power spectrum of ``img`` (``px`` Å/px) on the log-k × θ grid, with the smooth
    radial envelope (window, probe, noise floor) removed. ``scale`` multiplies every ring's k (a scale hypothesis)."""
    return lattice_polar_scales(img, px, [scale])[0]


def _polar(power: np.ndarray, px: float, scale: float) -> np.ndarray:
    from scipy import ndimage

    c = _FFT_N // 2
    theta = np.linspace(0, np.pi, LAT_NTHETA, endpoint=False)
    rr = (LAT_KS * scale)[:, None] * px * _FFT_N
    ys, xs = c - rr * np.sin(theta)[None, :], c + rr * np.cos(theta)[None, :]
    pol = ndimage.map_coordinates(power, [ys.ravel(), xs.ravel()], order=1, mode="constant").reshape(LAT_NK, -1)
    pol = np.log1p(pol * 1e4)
    return pol - ndimage.gaussian_filter1d(pol.mean(axis=1, keepdims=True), 4.0, axis=0, mode="nearest")


def lattice_polar_scales(img: np.ndarray, px: float, scales: Sequence[float]) -> np.ndarray:
    """(len(scales), LAT_NK, LAT_NTHETA): ``lattice_polar`` for several scale hypotheses from one FFT."""
    from scipy import ndimage

    a = center_crop(np.asarray(img, dtype=np.float64), _FFT_N)
    a = a - a.mean()
    win = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    power = np.abs(np.fft.fftshift(np.fft.fft2(a * win, s=(_FFT_N, _FFT_N)))) ** 2
    power = ndimage.gaussian_filter(power / (power.sum() + 1e-12), 1.0)
    return np.stack([_polar(power, px, s) for s in scales])


def lattice_harmonics(polar: np.ndarray) -> np.ndarray:
    """(..., LAT_NK, LAT_M + 1) complex64 angular harmonics, normalised so that C(0) of an image with itself is 1."""
    f = np.fft.rfft(polar, axis=-1)[..., : LAT_M + 1]
    w = np.full(LAT_M + 1, 2.0)
    w[0] = 1.0
    norm = np.sqrt((w * np.abs(f) ** 2).sum(axis=(-1, -2), keepdims=True))
    return (f / (norm + 1e-12)).astype(np.complex64)


def pack_harmonics(h: np.ndarray) -> str:
    """Compact payload form (base64 of float16 real/imaginary parts, ~3.3 kB)."""
    import base64

    arr = np.stack([h.real, h.imag]).astype(np.float16)
    return base64.b64encode(arr.tobytes()).decode("ascii")


def unpack_harmonics(s: str) -> np.ndarray:
    import base64

    arr = np.frombuffer(base64.b64decode(s), dtype=np.float16).astype(np.float32).reshape(2, LAT_NK, LAT_M + 1)
    return (arr[0] + 1j * arr[1]).astype(np.complex64)


def unpack_harmonics_stack(s: str) -> np.ndarray:
    """(n, LAT_NK, LAT_M + 1) from ``pack_harmonics`` of a stack of n spectra."""
    import base64

    arr = np.frombuffer(base64.b64decode(s), dtype=np.float16).astype(np.float32).reshape(2, -1, LAT_NK, LAT_M + 1)
    return (arr[0] + 1j * arr[1]).astype(np.complex64)
