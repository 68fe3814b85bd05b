"""What the orchestration reads from the Meltano project: client environments, their
ERP host and their schedules (`clients/*.meltano.yml`)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
UNKNOWN_HOST = "unknown"


@dataclass(frozen=True)
class MeltanoSchedule:
    """A Meltano schedule: a job at a cron interval (UTC)."""

    name: str
    job: str
    interval: str


@dataclass(frozen=True)
class ClientEnvironment:
    """One client company: its Meltano environment, ERP host and schedules."""

    name: str
    erp_host: str  # host[:port] of tap-erp's base_url, or "unknown"
    schedules: tuple[MeltanoSchedule, ...] = ()


def read_env_file(path: Path) -> dict[str, str]:
    """NAME=value lines of a file like `.env` ({} when there is none)."""
    out: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and not line.lstrip().startswith("#"):
                out[name.strip()] = value.strip().strip("'\"")
    return out


def dotenv(root: Path) -> dict[str, str]:
    """The project's `.env`, as Meltano reads it."""
    return read_env_file(root / ".env")


def expand(text: str, *scopes: Mapping[str, str]) -> str:
    """`$NAME` / `${NAME}` replaced from the first scope that has it ('' otherwise)."""

    def value(m: re.Match[str]) -> str:
        name = m[1] or m[2]
        return next((s[name] for s in scopes if name in s), "")

    return VARIABLE.sub(value, text)


def _tap_base_url(environment: Mapping) -> str:
    plugins = (environment.get("config") or {}).get("plugins") or {}
    for plugin in plugins.get("extractors") or []:
        if plugin.get("name") == "tap-erp":
            return str((plugin.get("config") or {}).get("base_url") or "")
    return ""


def erp_host(base_url: str) -> str:
    """host[:port] of a URL ('unknown' when it has none)."""
    return urlsplit(base_url).netloc.rsplit("@", 1)[-1].lower() or UNKNOWN_HOST


def client_environments(
    root: Path, env: Mapping[str, str] = os.environ, only: list[str] | None = None
) -> list[ClientEnvironment]:
    """Every environment of `clients/*.meltano.yml` (or those named in `only`), by name.

    The ERP host resolves tap-erp's base_url as a run would: TAP_ERP_BASE_URL, then the
    process environment, `.env` and the environment's own `env:`.
    """
    found: dict[str, ClientEnvironment] = {}
    file_env = dotenv(root)
    for path in sorted((root / "clients").glob("*.meltano.yml")):
        document = yaml.safe_load(path.read_text()) or {}
        schedules = tuple(
            MeltanoSchedule(s["name"], s.get("job") or "erp-to-s3", s["interval"])
            for s in document.get("schedules") or []
            if s.get("interval")
        )
        for environment in document.get("environments") or []:
            name = environment["name"]
            own_env = {k: str(v) for k, v in (environment.get("env") or {}).items()}
            url = env.get("TAP_ERP_BASE_URL") or _tap_base_url(environment)
            host = erp_host(expand(url, env, file_env, own_env))
            found[name] = ClientEnvironment(name, host, schedules)
    if only:
        missing = [n for n in only if n not in found]
        if missing:
            raise ValueError(
                f"ERP_ORCHESTRATION_CLIENTS: unknown environment(s) {', '.join(missing)}; "
                f"known: {', '.join(sorted(found))}"
            )
        return [found[n] for n in only]
    return [found[n] for n in sorted(found)]
