"""Run a command line of the project the way a user does, and read what it said.

`run_cli` runs a command in its own process group, can `kill -9` one of its plugin
processes at a chosen moment, and always leaves nothing running behind it.
`error_line` finds the one line a failed run shows its user.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
import time
import typing as t
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from erp_testing.project import ROOT

RUN_TIMEOUT = 240.0
PLUGINS = ("tap-erp", "target-s3")
PLUGIN_PREFIX = re.compile(r"^.*?\|\s*(?:ERROR|INFO)\s*\|\s*\S+\s*\|\s*")
MELTANO_PREFIX = re.compile(r"^\S+Z \[\w+\s*\] (?:\S+\s{2,})?")


@dataclass
class Run:
    """One finished (or killed) command."""

    rc: int | None  # None: still running at the timeout
    stdout: str
    stderr: str
    seconds: float
    killed: str | None = None  # the plugin killed with SIGKILL
    lifetimes: dict[str, float] = field(default_factory=dict)  # plugin -> seconds seen

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _group(pgid: int) -> Iterator[tuple[int, set[str]]]:
    """Processes of a process group with the names of their executable (argv 0 and 1)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")[:2]
        except (OSError, ValueError, IndexError):
            continue
        yield int(entry.name), {Path(a.decode(errors="replace")).name for a in argv}


@dataclass(frozen=True)
class After:
    """A point in a run's output: once `count` lines of its stdout contain `text`."""

    text: str
    count: int

    def reached(self, stdout: bytes) -> bool:
        return sum(self.text.encode() in line for line in stdout.splitlines()) >= self.count


class _Watch:
    """How long each plugin process of a group has been seen; kills the victim once,
    `delay` seconds after it appeared (or after the output reached `after`)."""

    def __init__(self, victim: str | None, delay: float, after: After | None) -> None:
        self.victim, self.delay, self.after = victim, delay, after
        self.seen: dict[str, list[float]] = {}
        self.killed: str | None = None
        self.since: float | None = None if after else 0.0

    def look(self, pgid: int, stdout: t.IO[bytes]) -> None:
        now = time.monotonic()
        if self.since is None and self.after and self.after.reached(_peek(stdout)):
            self.since = now
        for pid, names in _group(pgid):
            for name in PLUGINS:
                if name not in names:
                    continue
                first = self.seen.setdefault(name, [now, now])
                first[1] = now
                start = None if self.since is None else max(first[0], self.since)
                if (
                    name == self.victim
                    and self.killed is None
                    and start is not None
                    and now >= start + self.delay
                ):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                        self.killed = name


def _peek(file: t.IO[bytes]) -> bytes:
    """What a command wrote to `file` so far."""
    return os.pread(file.fileno(), 1 << 24, 0)


def run_cli(
    cmd: list[str],
    env: dict[str, str],
    *,
    stdin: bytes | None = None,
    timeout: float = RUN_TIMEOUT,
    victim: str | None = None,
    delay: float = 0.0,
    after: After | None = None,
    watch: bool = False,
) -> Run:
    """Run a command in its own process group, optionally `kill -9` its plugin process
    `victim` `delay` seconds after it appears (or after its output reached `after`);
    the group is always killed at the end."""
    watcher = _Watch(victim, delay, after) if (victim or watch) else None
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        try:
            if stdin is not None:
                assert proc.stdin is not None
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.write(stdin)
                proc.stdin.close()
            while proc.poll() is None and time.monotonic() - start < timeout:
                if watcher:
                    watcher.look(proc.pid, out)
                time.sleep(0.01)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, timeout - (time.monotonic() - start)))
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        return Run(
            rc=proc.returncode if seconds < timeout else None,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
            seconds=seconds,
            killed=watcher.killed if watcher else None,
            lifetimes={k: v[1] - v[0] for k, v in watcher.seen.items()} if watcher else {},
        )


def error_line(run: Run, pattern: str | None = None) -> str:
    """The user-facing line of a failed run (the last one matching `pattern` if given)."""
    lines = [MELTANO_PREFIX.sub("", line).strip() for line in run.output.splitlines()]
    lines = [line for line in lines if line]
    if pattern:
        # The last matching line: errors come after the informational lines.
        errors = [PLUGIN_PREFIX.sub("", line).strip() for line in lines if "| ERROR" in line]
        for line in reversed(lines + errors):
            if re.search(pattern, line, re.IGNORECASE):
                return line
        return ""
    # The plugins' own error lines first (SDK log format "| ERROR | plugin | text"),
    # then Meltano's summary lines.
    for line in lines:
        if "| ERROR" in line or "target-s3 failed:" in line:
            return PLUGIN_PREFIX.sub("", line).strip()
    for line in reversed(lines):
        if re.search(r"error|failed|invalid|denied|not exist", line, re.IGNORECASE):
            return line
    return lines[-1] if lines else ""
