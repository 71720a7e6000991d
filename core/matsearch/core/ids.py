"""Content-derived point ids: the same item always gets the same id, so re-ingesting is idempotent."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

_NAMESPACE = uuid.UUID("6f1d7c52-5b0e-4a8e-9d43-6d6174736561")  # fixed namespace for matsearch ids


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def point_id(*parts: Any) -> str:
    """A UUIDv5 (string) from the given parts, e.g. ``point_id("figure", image_sha256, bbox)``."""
    key = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return str(uuid.uuid5(_NAMESPACE, key))
