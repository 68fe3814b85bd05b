"""User-facing errors: one clear line, no traceback."""

from __future__ import annotations


class TargetS3Error(Exception):
    """An error the user can act on (setting, bucket, permission, data)."""


class ConfigError(TargetS3Error):
    """A setting is invalid."""


class StorageError(TargetS3Error):
    """Object storage refused or failed a request."""


class DataError(TargetS3Error):
    """A value cannot be stored in its column without losing data."""


class TerminatedError(TargetS3Error):
    """SIGTERM/SIGINT received: stop without emitting STATE for unflushed data."""


class AuditError(TargetS3Error):
    """The run audit could not be written after the data was committed."""
