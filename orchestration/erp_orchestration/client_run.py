"""One client's run: `meltano --environment=<client> run <job>` in a system folder of its own.

Meltano writes each run's discovered catalog to `.meltano/run/tap-erp/`, whatever the
environment, so two clients started together from one project folder read each other's
catalog ("Invalid catalog"). Each run here gets its own `MELTANO_SYS_DIR_ROOT` (the
installed plugins linked in) while state stays where the project keeps it: the
project's system database, or `MELTANO_STATE_BACKEND_URI` when set.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from erp_orchestration.lake_audit import location_from_config, stream_loads
from erp_orchestration.run_log import (
    StreamLoad,
    error_line,
    loads_from_log,
    tail,
    target_run_id,
)
from erp_orchestration.system_db import ensure_migrated

#: The project folder: orchestration/erp_orchestration/client_run.py is two folders down.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
MELTANO = str(Path(sys.executable).parent / "meltano")
PLUGIN_KINDS = ("extractors", "loaders", "utilities", "mappers", "transformers")
#: Seconds between SIGTERM and SIGKILL when a run is cancelled.
CANCEL_GRACE_SECONDS = 10.0
SUCCEEDED, FAILED, CANCELLED = "succeeded", "failed", "cancelled"


@dataclass(frozen=True)
class ClientRun:
    """What one client's run did."""

    environment: str
    status: str  # succeeded | failed | cancelled
    started: datetime
    ended: datetime
    duration: float  # seconds
    streams: dict[str, StreamLoad] = field(default_factory=dict)
    error: str | None = None  # one line
    log_tail: str = ""
    run_id: str | None = None  # target-s3's run id (the audit records' run_id)

    @property
    def rows(self) -> int:
        """Rows landed over every stream."""
        return sum(s.rows for s in self.streams.values())

    @property
    def files(self) -> int:
        """Files written over every stream."""
        return sum(s.files for s in self.streams.values())

    @property
    def bytes(self) -> int:
        """Bytes written over every stream."""
        return sum(s.bytes for s in self.streams.values())


def private_sys_dir(root: Path, under: Path) -> Path:
    """A Meltano system folder of its own, with the project's installed plugins linked in."""
    sys_dir = under / "meltano-sys"
    sys_dir.mkdir()
    for kind in PLUGIN_KINDS:
        installed = root / ".meltano" / kind
        if installed.is_dir():
            (sys_dir / kind).symlink_to(installed)
    return sys_dir


def run_environment(root: Path, sys_dir: Path, env: Mapping[str, str] | None) -> dict[str, str]:
    """The process environment of one run: ours, the caller's overrides, the private folder.

    State stays in the project's system database unless the caller names another.
    """
    out = dict(os.environ)
    out.update(env or {})
    out.setdefault("MELTANO_DATABASE_URI", f"sqlite:///{root / '.meltano' / 'meltano.db'}")
    out.setdefault("XDG_STATE_HOME", str(root / ".meltano" / "xdg-state"))
    out["MELTANO_SYS_DIR_ROOT"] = str(sys_dir)
    out["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    out["MELTANO_CLI_DISABLE_VERSION_CHECK"] = "true"
    return out


@dataclass
class _Started:
    """A Meltano process writing to a file of its own."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def _start(cmd: list[str], root: Path, env: dict[str, str], tmp: str) -> _Started:
    log_path = Path(tmp) / f"{cmd[2]}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            cmd,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return _Started(process, log_path)


def _streams(printed: str, run_id: str | None, env: Mapping[str, str]) -> dict[str, StreamLoad]:
    """Rows, files and bytes per stream from the run audit in the lake ({} if unreadable)."""
    where = location_from_config(printed)
    if run_id is None or where is None:
        return {}
    try:
        return stream_loads(where, run_id, env)
    except Exception:
        return {}


def _stop(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM to the run's process group, then SIGKILL if it is still there."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 30.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait(process: subprocess.Popen[bytes], cancel: threading.Event | None) -> bool:
    """Wait for the process; True when it was cancelled.

    Interrupted itself (a terminated orchestrator run), it stops the process first.
    """
    try:
        while True:
            try:
                process.wait(timeout=0.5)
                return False
            except subprocess.TimeoutExpired:
                if cancel is not None and cancel.is_set():
                    _stop(process, CANCEL_GRACE_SECONDS)
                    return True
    except BaseException:
        _stop(process, CANCEL_GRACE_SECONDS)
        raise


def run_client(
    environment: str,
    *,
    job: str = "erp-to-s3",
    env: dict[str, str] | None = None,
    cancel: threading.Event | None = None,
    project: Path | None = None,
) -> ClientRun:
    """Run a Meltano job (or blocks) in one client environment; never raises for a failed run.

    `env` overrides variables of this process for the run (settings, secrets);
    setting `cancel` stops the run (SIGTERM to its process group, SIGKILL after a grace).
    """
    root = project or PROJECT_ROOT
    started = datetime.now(UTC)
    clock = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"erp-run-{environment}-") as tmp:
        sys_dir = private_sys_dir(root, Path(tmp))
        run_env = run_environment(root, sys_dir, env)
        ensure_migrated(MELTANO, root, run_env)
        meltano = [MELTANO, f"--environment={environment}"]
        # Where the lake is, resolved while the run goes on.
        lake_config = _start([*meltano, "config", "print", "erp-quality"], root, run_env, tmp)
        run = _start([*meltano, "run", *job.split()], root, run_env, tmp)
        cancelled = _wait(run.process, cancel)
        _wait(lake_config.process, cancel)
        log = run.output()
        printed = lake_config.output()
    run_id = target_run_id(log)
    streams = _streams(printed, run_id, run_env) or loads_from_log(log)
    if cancelled:
        status, error = CANCELLED, "cancelled"
    elif run.process.returncode == 0:
        status, error = SUCCEEDED, None
    else:
        status, error = FAILED, error_line(log, run.process.returncode)
    return ClientRun(
        environment=environment,
        status=status,
        started=started,
        ended=datetime.now(UTC),
        duration=round(time.monotonic() - clock, 3),
        streams=streams,
        error=error,
        log_tail=tail(log),
        run_id=run_id,
    )
