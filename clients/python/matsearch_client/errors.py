"""HTTP errors from the server as exceptions that carry the status and the server's message."""

from __future__ import annotations


class MatsearchError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


class BadRequest(MatsearchError):
    """400: the input is malformed (corrupt or empty image, bad parameter)."""


class Unauthorized(MatsearchError):
    """401/403: a write endpoint needs a valid API key."""


class NotFound(MatsearchError):
    """404: unknown collection, point or image."""


class PayloadTooLarge(MatsearchError):
    """413: the upload or image is over the server's limits."""


class UnsupportedMedia(MatsearchError):
    """415: not a supported file format."""


class InvalidRequest(MatsearchError):
    """422: a parameter or filter does not validate."""


class ServerError(MatsearchError):
    """5xx, or the server could not be reached (status 0)."""


_BY_STATUS: dict[int, type[MatsearchError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Unauthorized,
    404: NotFound,
    413: PayloadTooLarge,
    415: UnsupportedMedia,
    422: InvalidRequest,
}


def error_for(status: int, detail: str) -> MatsearchError:
    cls = _BY_STATUS.get(status, ServerError if status >= 500 or status == 0 else MatsearchError)
    return cls(status, detail)
