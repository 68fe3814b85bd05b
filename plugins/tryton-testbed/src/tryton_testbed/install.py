"""Install Tryton into its own venv and build the cached template database.

Everything lives under one cache folder (see `cache_dir`)::

    venv/                  Tryton's own virtual environment (+ .testbed-stamp)
    template-<key>/        erp.sqlite (modules activated, demo data) + summary.json
    .lock                  file lock held while installing or building

Both steps are idempotent and safe when several processes call them at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TRYTON_REQUIREMENTS = (
    "trytond>=8.2,<8.3",
    "trytond_sale>=8.2,<8.3",
    "trytond_purchase>=8.2,<8.3",
    "trytond_stock>=8.2,<8.3",
    "trytond_product>=8.2,<8.3",
    "trytond_party>=8.2,<8.3",
    "trytond_company>=8.2,<8.3",
    "trytond_currency>=8.2,<8.3",
)
MODULES = ("sale", "purchase", "stock")
DATABASE = "erp"
ADMIN_LOGIN = "admin"
ADMIN_PASSWORD = "admin"
ADMIN_EMAIL = "admin@example.com"
# Bump to rebuild every cached template (demo_data.py changes do so by themselves).
TEMPLATE_VERSION = "1"
DEMO_SCRIPT = Path(__file__).with_name("demo_data.py")


@dataclass(frozen=True)
class Template:
    """A built template database and what the demo data created in it."""

    directory: Path
    database: str
    summary: dict[str, Any]

    @property
    def database_file(self) -> Path:
        """The SQLite file of the template database."""
        return self.directory / f"{self.database}.sqlite"


def cache_dir() -> Path:
    """`$TRYTON_TESTBED_CACHE`, else `<work tree>/.cache/tryton`, else `~/.cache/...`."""
    env = os.environ.get("TRYTON_TESTBED_CACHE")
    if env:
        return Path(env).resolve()
    for parent in Path(__file__).resolve().parents:
        if (parent / ".git").exists():
            return parent / ".cache" / "tryton"
    return Path.home() / ".cache" / "tryton-testbed"


def venv_dir() -> Path:
    """Tryton's own virtual environment."""
    return cache_dir() / "venv"


def venv_bin(name: str) -> Path:
    """A script or the Python of Tryton's venv."""
    return venv_dir() / "bin" / name


def clean_env() -> dict[str, str]:
    """The environment for Tryton's processes: no TRYTOND_* overrides, UTC clock."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TRYTOND_") and k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["TZ"] = "UTC"
    return env


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fingerprint(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _venv_key() -> str:
    return _fingerprint(*TRYTON_REQUIREMENTS, sys.version.split()[0])


def _template_key() -> str:
    return _fingerprint(
        _venv_key(),
        TEMPLATE_VERSION,
        DATABASE,
        ADMIN_LOGIN,
        ADMIN_PASSWORD,
        " ".join(MODULES),
        DEMO_SCRIPT.read_bytes(),
    )


def _run(cmd: list[str | Path], log: Path, env: dict[str, str] | None = None) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(map(str, cmd))}\n")
        out.flush()
        result = subprocess.run(
            [str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT, env=env, check=False
        )
    if result.returncode:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"command failed ({result.returncode}): {cmd[0]} ...\n{tail}")


def _find_uv() -> str | None:
    beside = Path(sys.executable).with_name("uv")
    if beside.exists():
        return str(beside)
    return shutil.which("uv")


def ensure_venv(log: Path | None = None) -> Path:
    """Create Tryton's venv and install the pinned series once; return its Python."""
    root = cache_dir()
    stamp = venv_dir() / ".testbed-stamp"
    key = _venv_key()
    if stamp.exists() and stamp.read_text() == key:
        return venv_bin("python")
    with _locked(root):
        if stamp.exists() and stamp.read_text() == key:
            return venv_bin("python")
        log = log or root / "install.log"
        shutil.rmtree(venv_dir(), ignore_errors=True)
        uv = _find_uv()
        base_python = getattr(sys, "_base_executable", sys.executable)
        if uv:
            _run([uv, "venv", "--quiet", "--python", base_python, venv_dir()], log)
            _run(
                [
                    uv,
                    "pip",
                    "install",
                    "--quiet",
                    "--python",
                    venv_bin("python"),
                    *TRYTON_REQUIREMENTS,
                ],
                log,
            )
        else:
            _run([base_python, "-m", "venv", venv_dir()], log)
            _run(
                [venv_bin("python"), "-m", "pip", "install", "--quiet", *TRYTON_REQUIREMENTS],
                log,
            )
        # Bytecode once now rather than at every start of trytond.
        _run([venv_bin("python"), "-m", "compileall", "-q", "-j", "0", venv_dir() / "lib"], log)
        stamp.write_text(key)
    return venv_bin("python")


def write_config(path: Path, database_dir: Path, listen: str | None = None) -> Path:
    """A trytond config using SQLite files in database_dir."""
    lines = ["[database]", "uri = sqlite://", f"path = {database_dir}", ""]
    if listen:
        lines += ["[web]", f"listen = {listen}", ""]
    path.write_text("\n".join(lines))
    return path


def _build_template(directory: Path, log: Path) -> dict[str, Any]:
    """Activate the modules and load the demo data into directory/<db>.sqlite."""
    env = clean_env()
    timings: dict[str, float] = {}
    conf = write_config(directory / "trytond.conf", directory)
    (directory / f"{DATABASE}.sqlite").touch()
    passfile = directory / "admin.pass"
    passfile.write_text(ADMIN_PASSWORD + "\n")
    env["TRYTONPASSFILE"] = str(passfile)
    started = time.monotonic()
    _run(
        [
            *(venv_bin("trytond-admin"), "-c", conf, "-d", DATABASE),
            *("--all", "-u", *MODULES, "--activate-dependencies"),
            *("--email", ADMIN_EMAIL, "--login", ADMIN_LOGIN),
        ],
        log,
        env,
    )
    timings["activate_modules_s"] = round(time.monotonic() - started, 2)
    started = time.monotonic()
    summary_file = directory / "summary.json"
    _run(
        [venv_bin("python"), DEMO_SCRIPT, conf, DATABASE, summary_file],
        log,
        env,
    )
    timings["demo_data_s"] = round(time.monotonic() - started, 2)
    passfile.unlink()
    conf.unlink()
    summary = json.loads(summary_file.read_text())
    summary["timings"] = timings
    summary["database"] = DATABASE
    summary["admin_login"] = ADMIN_LOGIN
    summary["admin_password"] = ADMIN_PASSWORD
    summary_file.write_text(json.dumps(summary, indent=2, sort_keys=True))
    return summary


def ensure_template(log: Path | None = None) -> Template:
    """Install Tryton if needed and build the template database once."""
    root = cache_dir()
    target = root / f"template-{_template_key()}"
    summary_file = target / "summary.json"
    if not summary_file.exists():
        ensure_venv(log)
        with _locked(root):
            if not summary_file.exists():
                log = log or root / "install.log"
                building = root / f"building-{os.getpid()}"
                shutil.rmtree(building, ignore_errors=True)
                building.mkdir(parents=True)
                try:
                    _build_template(building, log)
                    for old in root.glob("template-*"):
                        shutil.rmtree(old, ignore_errors=True)
                    building.rename(target)
                finally:
                    shutil.rmtree(building, ignore_errors=True)
    return Template(target, DATABASE, json.loads(summary_file.read_text()))
