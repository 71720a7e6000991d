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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported by the export only: a session alone (OCR, cached models) needs no torch
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
    import torch

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


def default_threads() -> int:
    """Intra-op threads when the settings say 0 (``onnx_threads``): up to 2. More threads than cores only add
    contention; on a shared machine a second core is often not there at all. Ingest workers use 1."""
    return max(1, min(2, os.cpu_count() or 1))


def session(path: str | Path, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session (``threads`` intra-op threads; None or 0: :func:`default_threads`).

    Thread spinning is off: by default ORT's idle workers busy-wait for the next op, which on a loaded 2-core
    machine roughly doubled the CPU time of an ingest (26.9 vs 15.0 CPU-s for the bench's 20 figures) for no gain.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def cached_session(path: Path, export: Callable[[Path], None], threads: int | None = None) -> Any:
    """The session for ``path``, exporting it first (once, under a lock) if the cache does not have it."""
    with _LOCK:
        if not path.exists():
            export(path)
    return session(path, threads)
