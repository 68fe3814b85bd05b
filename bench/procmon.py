"""Run a command and measure its wall time and the peak RSS of every process in its tree.

A thread polls `/proc/<pid>/status` (VmHWM, the kernel's resident high-water mark)
of the command and all its descendants every `interval` seconds. Growth in the last
interval before a process exits can be missed. (`wait4`'s ru_maxrss is not used: on
Linux it is the largest of the child and its reaped descendants.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

PROC = Path("/proc")


@dataclass
class Measurement:
    """What one run of a command cost."""

    seconds: float
    returncode: int
    peak_mb: dict[str, float] = field(default_factory=dict)  # by process label
    stderr_tail: str = ""
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # user+system, by label


def label(pid: int) -> str:
    """A readable name for a process: the script for Python interpreters, else argv[0]."""
    try:
        argv = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    args = [a.decode(errors="replace") for a in argv if a]
    if not args:
        return "?"
    name = Path(args[0]).name
    if name.startswith("python") and len(args) > 1:
        if args[1] == "-m" and len(args) > 2:
            return args[2]
        if not args[1].startswith("-"):
            return Path(args[1]).name.removesuffix(".py")
    return name


def children(pid: int) -> list[int]:
    """Direct children of a process (over all its threads)."""
    found: list[int] = []
    try:
        tasks = list((PROC / str(pid) / "task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def vm_hwm_kb(pid: int) -> int:
    """VmHWM of a process in KiB (0 if gone or a zombie)."""
    try:
        with (PROC / str(pid) / "status").open() as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid: int) -> int:
    """User plus system CPU time of a process so far, in clock ticks (0 if gone)."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[11]) + int(fields[12])


class TreeWatcher:
    """Polls a process tree; remembers each process's label and peak VmHWM."""

    def __init__(self, root: int, interval: float = 0.1) -> None:
        self.root = root
        self.interval = interval
        self.peaks: dict[tuple[int, str], int] = {}  # (pid, label) -> KiB
        self.ticks: dict[tuple[int, str], int] = {}  # (pid, label) -> CPU ticks seen
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def poll(self) -> None:
        """One pass over the tree (bounded: at most 10,000 processes)."""
        todo, seen = [self.root], set()
        while todo and len(seen) < 10_000:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            hwm = vm_hwm_kb(pid)
            if hwm:
                # re-read each time: a child polled between fork and exec still shows
                # its parent's command line, and exec resets VmHWM
                key = (pid, label(pid))
                self.peaks[key] = max(self.peaks.get(key, 0), hwm)
                self.ticks[key] = max(self.ticks.get(key, 0), cpu_ticks(pid))
            todo += children(pid)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.interval)

    def _final_labels(self) -> dict[int, str]:
        """Each process's last readable label ('?' only if it never had another)."""
        labels: dict[int, str] = {}
        for pid, name in self.peaks:
            if name != "?" or pid not in labels:
                labels[pid] = name
        return labels

    def cpu_seconds_by_label(self) -> dict[str, float]:
        """CPU seconds per process label (summed over processes; the last poll's view)."""
        labels = self._final_labels()
        per_pid: dict[int, int] = {}
        for (pid, _), ticks in self.ticks.items():
            per_pid[pid] = max(per_pid.get(pid, 0), ticks)
        out: dict[str, float] = {}
        for pid, ticks in per_pid.items():
            out[labels[pid]] = out.get(labels[pid], 0.0) + ticks / TICKS
        return out

    def peak_mb_by_label(self) -> dict[str, float]:
        """Largest peak per process label, in MB (10^6 bytes)."""
        labels = self._final_labels()
        out: dict[str, float] = {}
        for (pid, _), kb in self.peaks.items():
            name = labels[pid]
            out[name] = max(out.get(name, 0.0), kb * 1024 / 1e6)
        return out


def run_measured(
    cmd: list[str],
    env: Mapping[str, str],
    *,
    cwd: Path | None = None,
    stdin: IO[bytes] | None = None,
    stdout: IO[bytes] | None = None,
    timeout: float = 3600.0,
    interval: float = 0.1,
) -> Measurement:
    """Run `cmd` to completion; wall seconds, exit status, peak RSS per process label."""
    with Path(os.devnull).open("wb") as devnull, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=dict(env),
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=stdout if stdout is not None else devnull,
            stderr=err,
            start_new_session=True,
        )
        with TreeWatcher(proc.pid, interval) as watcher:
            status = _wait(proc, timeout)
            elapsed = time.monotonic() - started
        peaks = watcher.peak_mb_by_label()
        cpu = watcher.cpu_seconds_by_label()
        err.seek(0)
        tail = err.read()[-4000:].decode(errors="replace")
    return Measurement(elapsed, status, peaks, tail, cpu)


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """Wait for the child (a timer kills its process group on timeout); its exit status."""
    timer = threading.Timer(timeout, os.killpg, (proc.pid, signal.SIGKILL))
    timer.start()
    try:
        return proc.wait()  # blocking waitpid: the end is seen at once
    finally:
        timer.cancel()
