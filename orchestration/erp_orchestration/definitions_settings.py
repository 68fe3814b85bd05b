"""Names and settings the definitions and the instance share."""

from __future__ import annotations

from collections.abc import Mapping

#: Run tag naming a client's ERP host; the run queue limits runs per value.
HOST_TAG = "erp/host"
#: Run tag naming the Meltano job of a scheduled run (default: erp-to-s3).
MELTANO_JOB_TAG = "erp/meltano_job"
DEFAULT_MELTANO_JOB = "erp-to-s3"


class SettingError(ValueError):
    """A setting with a value it cannot have."""


def whole_number(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole-number setting from the environment (the default when unset)."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise SettingError(f"{name}: must be a whole number >= 0, got {raw!r}")
    return int(raw)
