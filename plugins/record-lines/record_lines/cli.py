"""`record-lines`: run the loader named by RECORD_LINES_LOADER and feed it RECORD lines.

Meltano starts this program as the loader's executable (see the loader's ``env`` in
``meltano.yml``); it starts the real loader with the same arguments and the same
standard output, reads the tap's messages from standard input and writes them to the
loader, each BATCH message replaced by its records. It exits with the loader's code.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from record_lines.expand import BatchError, expand, take

LOADER_VARIABLE = "RECORD_LINES_LOADER"
RECORD = b'{"type":"RECORD"'


def loader_executable() -> str:
    """The real loader: an executable beside this one, else on PATH."""
    name = os.environ.get(LOADER_VARIABLE, "").strip()
    if not name:
        msg = f"{LOADER_VARIABLE} must name the loader's executable (e.g. target-postgres)"
        raise BatchError(msg)
    here = str(Path(sys.argv[0]).resolve().parent)
    found = shutil.which(name, path=here) or shutil.which(name)
    if not found:
        raise BatchError(
            f"{LOADER_VARIABLE}: no executable {name!r} next to record-lines or on PATH"
        )
    return found


def feed(loader: subprocess.Popen[bytes]) -> tuple[int, int]:
    """Pass standard input on to the loader, BATCH messages expanded.

    Returns the batch files taken and the RECORD lines written.
    """
    sink = loader.stdin
    assert sink is not None
    files = records = 0
    for data, taken in expand(sys.stdin.buffer):
        if taken is not None:
            sink.flush()
            take(taken)
            files += 1
        else:
            sink.write(data)
            records += data.startswith(RECORD)
    sink.flush()
    return files, records


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the loader's exit code (2 for a BATCH it cannot expand)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        executable = loader_executable()
    except BatchError as exc:
        print(f"record-lines: {exc}", file=sys.stderr)
        return 2
    loader = subprocess.Popen([executable, *args], stdin=subprocess.PIPE)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda number, _frame: loader.send_signal(number))
    failed = None
    files = records = 0
    try:
        files, records = feed(loader)
    except BrokenPipeError:
        pass  # the loader stopped reading: its exit code tells why
    except BatchError as exc:
        failed = exc
        loader.terminate()
    finally:
        with contextlib.suppress(BrokenPipeError):
            loader.stdin.close()  # type: ignore[union-attr]
    code = loader.wait()
    if failed is not None:
        print(f"record-lines: {failed}", file=sys.stderr)
        return 2
    name = Path(executable).name
    print(
        f"record-lines: {files} batch file(s) taken, {records} RECORD line(s) handed to {name}",
        file=sys.stderr,
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
