"""The request guard: a pure-ASGI middleware in front of every route.

1. **Origin policy.** A browser page on another site can send a "simple" cross-origin POST (a multipart form) to a
   key-less server on the user's machine. Unsafe methods (anything but GET, HEAD, OPTIONS) are therefore refused
   with 403 when the request carries an ``Origin`` that is neither this server's own origin nor listed in
   ``MATSEARCH_CORS_ORIGINS``, or (without ``Origin``) a ``Sec-Fetch-Site: cross-site|same-site``. Requests without
   either header (curl, the SDK, the CLI) are not browsers and pass. On a server without an API key a same-origin
   request is trusted only when its ``Host`` is a loopback name: that stops DNS rebinding (``evil.example``
   resolving to 127.0.0.1, where Origin and Host agree) from writing to a key-less server. (A key-less server
   reached under another name — ``--insecure`` — needs that origin in ``MATSEARCH_CORS_ORIGINS`` for its page.)
2. **Body limit on the stream.** ``Content-Length`` above ``MATSEARCH_MAX_REQUEST_BYTES`` is refused before a byte is
   read; otherwise the bytes actually received are counted (chunked bodies included) and the request fails with 413
   the moment the count passes the limit — nothing past it is read, spooled or parsed.

Both answers are JSON ``{"detail": ...}`` like every other error. CORS headers themselves come from Starlette's
``CORSMiddleware`` when ``MATSEARCH_CORS_ORIGINS`` is set; without it no origin is allowed to read responses.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when the body passes the limit. An HTTPException, so that FastAPI's body parsing lets
    it through (it wraps other errors into a 400) and the exception middleware answers 413 with the detail."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than the limit of {limit} bytes (MATSEARCH_MAX_REQUEST_BYTES)")


def is_loopback_host(host: str) -> bool:
    """``localhost``, ``*.localhost``, 127.0.0.0/8 and ::1 (brackets allowed)."""
    host = host.strip().strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_host_port(value: str) -> tuple[str, str | None]:
    """``host[:port]`` / ``[v6][:port]`` → (host, port or None)."""
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else None
    host, sep, port = value.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, port
    return value, None


def normalise_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


async def send_json(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 413:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """See the module docstring. ``trust_same_origin`` is True when any same-origin Host may be trusted."""

    def __init__(
        self, app: ASGIApp, *, max_body: int, cors_origins: Iterable[str] = (), trust_same_origin: bool = False
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.cors_origins = {normalise_origin(o) for o in cors_origins}
        self.trust_same_origin = trust_same_origin

    def origin_problem(self, scope: Scope) -> str | None:
        """Why this request is refused (None: allowed)."""
        if scope.get("method", "GET") in SAFE_METHODS:
            return None
        headers: dict[str, str] = {}
        for key, value in scope.get("headers", []):
            headers[key.decode("latin-1").lower()] = value.decode("latin-1")
        origin = headers.get("origin")
        if origin is None:
            site = headers.get("sec-fetch-site", "").strip().lower()
            if site in ("cross-site", "same-site"):
                return f"cross-site write refused (Sec-Fetch-Site: {site})"
            return None
        wanted = normalise_origin(origin)
        if wanted in self.cors_origins or "*" in self.cors_origins:
            return None
        host_header = headers.get("host", "").strip().lower()
        parts = urlsplit(wanted)
        if wanted != "null" and parts.scheme in ("http", "https") and host_header and parts.netloc == host_header:
            host, _ = split_host_port(host_header)
            if self.trust_same_origin or is_loopback_host(host):
                return None
            return (
                f"write from origin {origin!r} refused: {host!r} is not a loopback name and the server has no API key "
                "(DNS rebinding?); list the origin in MATSEARCH_CORS_ORIGINS to allow it"
            )
        return (
            f"write from foreign origin {origin!r} refused (same origin only; allow others with MATSEARCH_CORS_ORIGINS)"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = self.origin_problem(scope)
        if problem is not None:
            await send_json(send, 403, problem)
            return
        limit = self.max_body
        for key, value in scope.get("headers", []):
            if key.lower() == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    await send_json(send, 400, "malformed Content-Length header")
                    return
                if length > limit:
                    await send_json(
                        send,
                        413,
                        f"request body of {length} bytes is larger than the limit of {limit} bytes "
                        "(MATSEARCH_MAX_REQUEST_BYTES)",
                    )
                    return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge as exc:  # raised outside the exception middleware (e.g. a streaming read)
            if started:
                raise
            await send_json(send, 413, str(exc.detail))
