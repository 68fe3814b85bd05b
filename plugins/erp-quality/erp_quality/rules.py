"""Quality rules: which key, version and not-null columns each stream has."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml


class RulesError(Exception):
    """The rules file is missing or malformed."""


@dataclass(frozen=True)
class StreamRule:
    """What to check on one stream."""

    primary_key: list[str]
    version_column: str | None = None
    not_null: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Rules:
    """All rules of a project (transforms/quality.yml)."""

    streams: dict[str, StreamRule]
    max_row_drop: float = 0.10
    max_null_rate: float = 0.0
    freshness_hours: float | None = None  # newest version_column older than this: warning

    @classmethod
    def load(cls, path: Path) -> Rules:
        """Read and validate a rules file."""
        try:
            raw = yaml.safe_load(path.read_text())
        except FileNotFoundError as exc:
            raise RulesError(f"rules file not found: {path}") from exc
        except yaml.YAMLError as exc:
            raise RulesError(f"rules file {path} is not valid YAML: {exc}") from exc
        if not isinstance(raw, dict) or not isinstance(raw.get("streams"), dict):
            raise RulesError(f"rules file {path} needs a 'streams' mapping")
        streams = {}
        for name, spec in raw["streams"].items():
            if not isinstance(spec, dict) or not spec.get("primary_key"):
                raise RulesError(f"rules file {path}: stream {name!r} needs a primary_key list")
            streams[name] = StreamRule(
                primary_key=list(spec["primary_key"]),
                version_column=spec.get("version_column"),
                not_null=list(spec.get("not_null", [])),
            )
        return cls(
            streams=streams,
            max_row_drop=float(raw.get("max_row_drop", 0.10)),
            max_null_rate=float(raw.get("max_null_rate", 0.0)),
            freshness_hours=_hours(path, raw.get("freshness_hours")),
        )


def _hours(path: Path, value: object) -> float | None:
    if value is None or value == "":
        return None
    try:
        hours = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        hours = -1.0
    if hours <= 0:
        raise RulesError(f"rules file {path}: freshness_hours must be a positive number of hours")
    return hours
