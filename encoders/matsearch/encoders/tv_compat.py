"""torchvision compatibility on CPU-only torch — import this module before anything imports torchvision.

Why: the PyPI torchvision 0.28.0 wheel is a CUDA build. Next to the CPU build of torch 2.13.0 its compiled extension
cannot load, and ``import torchvision`` then fails with ``operator torchvision::nms does not exist`` (which also
breaks ``open_clip`` and ``sentence_transformers``). Where the extension loads (a normal install) this does nothing.
Where it does not, we declare the ``torchvision::nms``/``qnms`` schemas ourselves, register a pure-torch CPU NMS
kernel and make ``_assert_has_ops`` a no-op. Models, transforms, ``ops.nms`` and ``roi_align`` then work;
``torchvision.io`` decoders do not (we use Pillow).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

_APPLIED = False
_LIB: torch.library.Library | None = None  # kept alive: the registration lasts as long as this object


def _nms_cpu(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.long, device=boxes.device)
    x1, y1, x2, y2 = boxes.unbind(1)
    areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    order = scores.argsort(descending=True)
    keep: list[int] = []
    suppressed = torch.zeros(boxes.shape[0], dtype=torch.bool)
    for idx in order.tolist():
        if suppressed[idx]:
            continue
        keep.append(idx)
        xx1 = torch.maximum(x1[idx], x1)
        yy1 = torch.maximum(y1[idx], y1)
        xx2 = torch.minimum(x2[idx], x2)
        yy2 = torch.minimum(y2[idx], y2)
        inter = (xx2 - xx1).clamp(min=0) * (yy2 - yy1).clamp(min=0)
        iou = inter / (areas[idx] + areas - inter).clamp(min=1e-12)
        suppressed |= iou > iou_threshold
    return torch.tensor(keep, dtype=torch.long, device=boxes.device)


def _extension_loads() -> bool:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return False
    for location in spec.submodule_search_locations:
        for so in Path(location).glob("_C*.so"):
            try:
                torch.ops.load_library(str(so))
                return True
            except (OSError, RuntimeError):
                return False
    return False


def apply() -> None:
    """Idempotent. Call before the first ``import torchvision`` (the encoders package does)."""
    global _APPLIED, _LIB
    if _APPLIED:
        return
    _APPLIED = True
    if _extension_loads():
        return
    lib = torch.library.Library("torchvision", "FRAGMENT")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.impl("nms", _nms_cpu, "CPU")
    lib.impl("qnms", _nms_cpu, "CPU")
    _LIB = lib
    import torchvision.ops.boxes as tv_boxes  # noqa: E402 - must come after the schemas above

    tv_boxes._assert_has_ops = lambda: None
    import torchvision.extension as tv_ext

    tv_ext._assert_has_ops = lambda: None
