"""Check a connection: `tap-erp --discover` with its config, streams and custom fields."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tap_erp.profiles import load_profile

from erp_control_plane.bodies import ConnectionTest, StreamFound
from erp_control_plane.database import Connection

DISCOVERY_TIMEOUT_SECONDS = 120


def tap_executable() -> str:
    """The tap-erp next to this Python, else the one on PATH."""
    beside = Path(sys.executable).parent / "tap-erp"
    return str(beside) if beside.is_file() else (shutil.which("tap-erp") or "tap-erp")


def scrub(text: str, secrets: dict[str, str]) -> str:
    """The text with every secret value replaced by ***."""
    for value in secrets.values():
        if value:
            text = text.replace(value, "***")
    return text


def tap_config(connection: Connection, secrets: dict[str, str]) -> dict[str, Any]:
    """The tap's config for one connection."""
    config: dict[str, Any] = {
        "profile": connection.profile,
        "base_url": connection.base_url,
        **connection.settings,
        **secrets,
    }
    if connection.auth_method:
        config["auth_method"] = connection.auth_method
    return config


def _last_line(stderr: str) -> str:
    """The tap's one error line, without the log prefix (time | level | logger |)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return "tap-erp --discover failed without a message"
    return lines[-1].rsplit(" | ", 1)[-1].strip()


def _streams(catalog: dict[str, Any], profile: str) -> list[StreamFound]:
    known = load_profile(profile)
    found = []
    for entry in catalog.get("streams", []):
        name = entry["tap_stream_id"]
        # `_sdc_…` (e.g. `_sdc_deleted_at` of streams that send deletes) are Singer's own
        fields = {
            f for f in entry.get("schema", {}).get("properties", {}) if not f.startswith("_sdc_")
        }
        core: set[str] = set()
        if name in known.streams:
            core = set(known.load_static_schema(name).get("properties", {}))
        found.append(
            StreamFound(name=name, fields=len(fields), custom_fields=sorted(fields - core))
        )
    return found


def test_connection(connection: Connection, secrets: dict[str, str]) -> ConnectionTest:
    """Authenticate and discover; a failure is one line without any secret."""
    with tempfile.TemporaryDirectory(prefix="erp-cp-") as folder:
        path = Path(folder) / "config.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(tap_config(connection, secrets), handle)
        try:
            result = subprocess.run(
                [tap_executable(), "--config", str(path), "--discover"],
                capture_output=True,
                text=True,
                timeout=DISCOVERY_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return ConnectionTest(
                ok=False, error=f"discovery took longer than {DISCOVERY_TIMEOUT_SECONDS} s"
            )
    if result.returncode != 0:
        return ConnectionTest(ok=False, error=scrub(_last_line(result.stderr), secrets))
    try:
        catalog = json.loads(result.stdout)
    except ValueError:
        return ConnectionTest(ok=False, error="tap-erp --discover printed no catalog")
    return ConnectionTest(ok=True, streams=_streams(catalog, connection.profile))
