"""Leaving after a failure without breaking the pipe of the process feeding us.

When a target exits while its producer is still writing, the producer's next write
fails with a broken pipe; Meltano (up to 4.4 at least) then prints a long
``BrokenPipeError`` traceback after our one-line error. A short-lived child keeps
reading (and discarding) stdin for a moment instead, so Meltano first sees the
target's exit, stops the tap itself and reports "Loader failed" cleanly.
"""

from __future__ import annotations

import contextlib
import os
import select
import stat
import sys
import time
import typing as t

#: How long the drainer keeps the pipe open at most (an orchestrator stops the
#: producer within this time; a plain shell pipe then ends as usual).
DRAIN_SECONDS = 30.0


def stdin_is_pipe() -> bool:
    """Whether standard input is a pipe (not a file or a terminal)."""
    try:
        return stat.S_ISFIFO(os.fstat(0).st_mode)
    except OSError:
        return False


def _drain(deadline: float) -> None:
    """Read stdin until EOF or the deadline (child process)."""
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([0], [], [], min(left, 1.0))
        if ready and not os.read(0, 1 << 20):
            return


def exit_failed(code: int = 1, drain_seconds: float = DRAIN_SECONDS) -> t.NoReturn:
    """Exit with ``code``; a detached child drains a piped stdin for a while first."""
    sys.stdout.flush()
    sys.stderr.flush()
    if stdin_is_pipe() and hasattr(os, "fork"):
        with contextlib.suppress(OSError):
            if os.fork() == 0:  # the child: no stdout/stderr, so readers of ours see EOF
                try:
                    devnull = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(devnull, 1)
                    os.dup2(devnull, 2)
                    _drain(time.monotonic() + drain_seconds)
                finally:
                    os._exit(0)
    sys.exit(code)
