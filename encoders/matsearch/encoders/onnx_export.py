"""ONNX Runtime for our torch models: export once into the cache, verify against torch, reuse everywhere.

An export is written to a temporary file, checked by the caller's ``verify`` (which runs the exported model next
to the original on probe inputs and raises if they differ), and only then renamed into place — a crashed or wrong
export never lands in the cache. Cache keys include the source weights' SHA-256 and the torch version.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

_LOCK = threading.Lock()


def export_verified(
    path: Path,
    module: torch.nn.Module,
    args: tuple[torch.Tensor, ...],
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: dict[str, dict[int, str]],
    verify: Callable[[str], None],
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            torch.onnx.export(
                module.eval(),
                args,
                tmp,
                input_names=list(input_names),
                output_names=list(output_names),
                dynamic_axes=dynamic_axes,
                opset_version=17,
                dynamo=False,
            )
        verify(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def session(path: str | Path) -> Any:
    """An ONNX Runtime CPU session using up to 4 threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, min(4, os.cpu_count() or 1))
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def cached_session(path: Path, export: Callable[[Path], None]) -> Any:
    """The session for ``path``, exporting it first (once, under a lock) if the cache does not have it."""
    with _LOCK:
        if not path.exists():
            export(path)
    return session(path)
