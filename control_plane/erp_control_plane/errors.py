"""Errors the control plane reports as one line."""


class ControlPlaneError(Exception):
    """A failure worth one clear line to the user."""


class SettingError(ControlPlaneError):
    """A setting of the control plane is missing or wrong."""


class ConflictError(ControlPlaneError):
    """The request conflicts with what exists (HTTP 409)."""


class NotFoundError(ControlPlaneError):
    """No such connection, pipeline or run (HTTP 404)."""
