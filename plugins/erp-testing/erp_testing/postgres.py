"""A real PostgreSQL server for the tests: its own cluster on a free 127.0.0.1 port.

`postgres_server()` copies a cached template cluster (built once with `initdb` under
`<checkout>/.cache/postgres/`, an ignored folder) into a fresh folder, starts it with
`pg_ctl` and stops and removes it afterwards. The server binaries come from the
Debian package (`postgresql-15`); when `initdb` is missing and apt-get can run, it is
installed. PostgreSQL refuses to run as root: as root, the cluster belongs to the
`postgres` user (or `nobody`) and its commands run as that user; when that user
cannot reach the checkout (e.g. under /root), the folder is `<tmp>/erp-elt-postgres/`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from erp_testing.project import ROOT

PACKAGE = "postgresql-15"
USER = "erp"
DATABASE = "erp"
CACHE = ROOT / ".cache" / "postgres"
OUTSIDE_CACHE = Path(tempfile.gettempdir()) / "erp-elt-postgres"
SERVER_OPTIONS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


class PostgresUnavailableError(RuntimeError):
    """PostgreSQL's server programs cannot be found or installed."""


def bin_dir() -> Path:
    """The folder of `initdb`/`pg_ctl`, installing the Debian package when missing."""
    found = _find_bin_dir()
    if found is None:
        _apt_install()
        found = _find_bin_dir()
    if found is None:
        msg = f"PostgreSQL's initdb was not found: install the Debian package {PACKAGE}"
        raise PostgresUnavailableError(msg)
    return found


def _find_bin_dir() -> Path | None:
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    return versions[0].parent if versions else None


def _apt_install() -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", PACKAGE]
    subprocess.run(install, env=env, check=False)


def run_as() -> str | None:
    """The user the cluster runs as: None (this user) unless this is root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise PostgresUnavailableError("running as root and neither user postgres nor nobody exists")


def _give(path: Path, user: str | None) -> None:
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for folder, _dirs, files in os.walk(path):
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        for name in files:
            os.chown(Path(folder) / name, entry.pw_uid, entry.pw_gid)


def _run(args: list[str], user: str | None) -> None:
    result = subprocess.run(args, user=user, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        msg = f"{Path(args[0]).name} failed ({result.returncode}): {result.stderr.strip()[-2000:]}"
        raise PostgresUnavailableError(msg)


def cache_dir(user: str | None) -> Path:
    """Where clusters live: the checkout's `.cache/postgres/` if `user` can reach it."""
    CACHE.mkdir(parents=True, exist_ok=True)
    if user is None:
        return CACHE
    probe = subprocess.run(["test", "-x", str(CACHE)], user=user, check=False)
    if probe.returncode == 0:
        return CACHE
    OUTSIDE_CACHE.mkdir(parents=True, exist_ok=True)
    return OUTSIDE_CACHE


def template_cluster(binaries: Path, user: str | None, cache: Path) -> Path:
    """The cached, never started cluster that each server copies (built once)."""
    version = binaries.parent.name
    template = cache / f"template-{version}"
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (template / "PG_VERSION").exists():
            return template
        building = cache / f"building-{uuid.uuid4().hex[:8]}"
        building.mkdir()
        _give(building, user)
        initdb = [str(binaries / "initdb"), "-D", str(building), "-U", USER, "-A", "trust"]
        _run([*initdb, "-E", "UTF8", "--locale=C", "--no-sync"], user)
        building.rename(template)
    return template


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Postgres:
    """A running server: where it listens and how Meltano's loader reaches it."""

    host: str
    port: int
    user: str = USER
    database: str = DATABASE

    @property
    def dsn(self) -> str:
        """libpq connection string (psycopg)."""
        return f"host={self.host} port={self.port} user={self.user} dbname={self.database}"

    def loader_env(self) -> dict[str, str]:
        """Plugin setting variables that point target-postgres at this server."""
        return {
            "TARGET_POSTGRES_HOST": self.host,
            "TARGET_POSTGRES_PORT": str(self.port),
            "TARGET_POSTGRES_USER": self.user,
            "TARGET_POSTGRES_PASSWORD": "unused",  # trust authentication on loopback
            "TARGET_POSTGRES_DATABASE": self.database,
        }


@contextlib.contextmanager
def postgres_server() -> Iterator[Postgres]:
    """Start a fresh cluster (a copy of the template) on a free port; stop and remove it."""
    binaries = bin_dir()
    user = run_as()
    cache = cache_dir(user)
    template = template_cluster(binaries, user, cache)
    data = cache / f"run-{uuid.uuid4().hex[:12]}"
    shutil.copytree(template, data, symlinks=True)
    _give(data, user)
    data.chmod(0o700)
    port = free_port()
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 {SERVER_OPTIONS}"
    pg_ctl = str(binaries / "pg_ctl")
    log = data / "server.log"
    try:
        _run([pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "start"], user)
        server = Postgres(host="127.0.0.1", port=port)
        _run([str(binaries / "createdb"), "-h", server.host, "-p", str(port), "-U", USER,
              DATABASE], user)  # fmt: skip
        yield server
    finally:
        subprocess.run(
            [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
            user=user,
            capture_output=True,
            check=False,
        )
        shutil.rmtree(data, ignore_errors=True)
