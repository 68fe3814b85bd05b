"""Meltano's system database, migrated once before runs share it.

Every Meltano command migrates the system database first when it is new; two started
together on a new database both create its tables and one fails ("table job already
exists"). The first run migrates it under a file lock; later runs find it ready.
"""

from __future__ import annotations

import fcntl
import sqlite3
import subprocess
from collections.abc import Mapping
from pathlib import Path

SQLITE = "sqlite:///"


def _sqlite_ready(uri: str) -> bool:
    """True when a SQLite system database exists with Meltano's tables."""
    path = Path(uri.removeprefix(SQLITE))
    if not path.is_file():
        return False
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        found = con.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        ).fetchone()
    return found is not None


def ensure_migrated(meltano: str, root: Path, env: Mapping[str, str]) -> None:
    """Migrate a new SQLite system database once (other databases: `meltano upgrade database`)."""
    uri = env.get("MELTANO_DATABASE_URI", "")
    if not uri.startswith(SQLITE) or _sqlite_ready(uri):
        return
    lock_path = Path(uri.removeprefix(SQLITE) + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _sqlite_ready(uri):
            subprocess.run(
                [meltano, "upgrade", "database"],
                cwd=root,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=False,
            )
