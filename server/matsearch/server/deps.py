"""Dependencies for route functions: the Service, parsed filters, and the API-key check for writes."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Query, Request

from matsearch.core.errors import Unauthorized
from matsearch.core.filters import Filter, parse_filter
from matsearch.server.service import Service


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


def key_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of the header (Starlette decodes header bytes as latin-1) with the configured key.
    Any malformed value — missing, empty, non-ASCII, control characters — simply does not match (401, not 500)."""
    if not given:
        return False
    given_bytes = given.encode("latin-1", errors="replace")
    return hmac.compare_digest(given_bytes, expected.encode("utf-8"))


def require_api_key(request: Request, x_api_key: Annotated[str | None, Header()] = None) -> None:
    expected = get_service(request).settings.api_key
    if expected and not key_matches(x_api_key, expected):
        raise Unauthorized("this endpoint needs a valid X-API-Key header")


WriteAuth = Depends(require_api_key)


def filter_param(
    filter: Annotated[
        str | None,
        Query(
            description='Payload filter as JSON, e.g. {"type": "microscopy", "year": {"gte": 2015}}',
            examples=['{"type": "microscopy"}'],
        ),
    ] = None,
) -> Filter | None:
    return parse_filter(filter)


FilterDep = Annotated[Filter | None, Depends(filter_param)]
Limit = Annotated[int, Query(ge=1, le=200, description="How many hits at most.")]
Threshold = Annotated[
    float | None, Query(description="Drop hits scoring below this (cosine similarity); 'no match' gives [].")
]
