"""Errors that carry an HTTP status, so the server, the CLI and the SDK all report the same problem the same way."""

from __future__ import annotations


class MatsearchError(Exception):
    """Base error: ``status`` is the HTTP status the server answers with; the message names the problem."""

    status: int = 400

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class BadInput(MatsearchError):
    status = 400


class UnsupportedMedia(MatsearchError):
    status = 415


class TooLarge(MatsearchError):
    status = 413


class NotFound(MatsearchError):
    status = 404


class InvalidFilter(MatsearchError):
    status = 422


class Unauthorized(MatsearchError):
    status = 401


class StoreUnavailable(MatsearchError):
    status = 503
