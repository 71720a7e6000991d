"""File names that come from a client (multipart uploads, names inside uploaded JSON): normalised to one plain name.

A client's name is a label, never a path on this machine: only the last component is kept (after turning
backslashes into separators), Unicode is NFC-normalised, surrounding whitespace is dropped, and names that are
empty, ``.``/``..``, carry control characters or are longer than 255 bytes are refused.
"""

from __future__ import annotations

import unicodedata

from matsearch.core.errors import BadInput

MAX_NAME_BYTES = 255


def plain_name(name: str | None) -> str | None:
    """The normalised last component of ``name``, or None when nothing usable is left."""
    if name is None:
        return None
    text = unicodedata.normalize("NFC", str(name)).replace("\\", "/")
    text = text.rsplit("/", 1)[-1].strip()
    if not text or text in (".", "..") or any(unicodedata.category(c) == "Cc" for c in text):
        return None
    if len(text.encode("utf-8")) > MAX_NAME_BYTES:
        return None
    return text


def upload_name(name: str | None, *, default: str | None = None, what: str = "upload") -> str:
    """``plain_name`` of an uploaded file's name; ``default`` when the client sent none; BadInput when the name is
    unusable (``..``, control characters, too long)."""
    if name is None or name == "":
        if default is None:
            raise BadInput(f"every {what} needs a file name")
        return default
    plain = plain_name(name)
    if plain is None:
        raise BadInput(f"{what} file name {name[:80]!r} is not usable (empty, '..', control characters or too long)")
    return plain
