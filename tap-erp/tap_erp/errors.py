"""Errors the tap reports to its user as one line (no traceback)."""

from __future__ import annotations

import typing as t


class TapERPError(Exception):
    """A fatal, user-facing error: printed as one line, exit code 1."""


class AuthenticationError(TapERPError):
    """Credentials were rejected (after a token refresh where possible)."""


class HTTPStatusError(TapERPError):
    """The server answered a non-retryable error status (e.g. 400, 404)."""

    def __init__(self, message: str, *, status: int) -> None:
        """Keep the status code."""
        super().__init__(message)
        self.status = status


class ProfileError(TapERPError):
    """An ERP profile file is missing or invalid."""


class RetryableError(Exception):
    """A transient failure of one request (5xx, 429, timeout, cut body, bad JSON)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        """Keep the server's requested delay, if any."""
        super().__init__(message)
        self.retry_after = retry_after


def redact(text: str, secrets: t.Iterable[str | None]) -> str:
    """Replace every secret value occurring in ``text`` with ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, "***")
    return text
