"""Records as JSON-lines files with Singer BATCH messages (the SDK's `batch_config`).

With `batch_config` set, each stream writes its (mapped) records to files of
`batch_size` records and sends one BATCH message per file, followed by the STATE
that covers exactly the records written so far. A loader that reads such files
(target-s3 does) then gets a few messages per batch instead of one per record.
Only local storage (`file://` or a path) and the `jsonl` encoding (plain or gzip)
are written; a stream whose maps evaluate expressions sends RECORD messages.

A failure of the file system (disk full, no permission, the folder gone) is one
line naming the path and the setting. Files hold client data: a run removes the
files it wrote that the loader has not taken when it ends, and the next start
removes those of runs that died (their writer process is gone, or they are old).
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import os
import re
import socket
import time
import typing as t
import urllib.parse
import uuid
from pathlib import Path

from singer_sdk.contrib.msgspec import encoder

from tap_erp.errors import TapERPError

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from singer_sdk.helpers._batch import BaseBatchFileEncoding, BatchConfig

#: Bytes of encoded records collected before a write to the open file.
WRITE_BYTES = 1 << 20

#: Files this process wrote (removed at the end of the run if still there).
WRITTEN: set[Path] = set()

#: How long a failed run lets the loader finish taking its files before removing them.
UNTAKEN_GRACE_SECONDS = 10.0

#: A batch file's name ends with its writer's host and process id, and a random part.
_WRITER = re.compile(r"-(?P<host>[A-Za-z0-9.]+)-(?P<pid>\d+)-[0-9a-f]{32}\.jsonl(\.gz)?$")


def writer_tag() -> str:
    """`<host>-<pid>` of this process, as batch file names carry it."""
    host = re.sub(r"[^A-Za-z0-9.]", ".", socket.gethostname()) or "host"
    return f"{host}-{os.getpid()}"


_REMEDY = {
    errno.ENOSPC: "the disk is full: free space there or point {setting} at another folder",
    errno.EDQUOT: "the disk quota is used up: free space or point {setting} at another folder",
    errno.EACCES: "no permission to write there: fix its permissions or change {setting}",
    errno.EPERM: "no permission to write there: fix its permissions or change {setting}",
    errno.EROFS: "the file system is read-only: point {setting} at a writable folder",
    errno.ENOENT: "the folder is missing (removed during the run?): create it or change {setting}",
    errno.ENOTDIR: "a part of the path is a file, not a folder: change {setting}",
    errno.EEXIST: "a part of the path is a file, not a folder: change {setting}",
}
SETTING = "batch_config.storage.root"


def os_error_line(action: str, path: Path, exc: OSError) -> str:
    """One line for a file-system failure: what, where, why and which setting to change."""
    reason = exc.strerror or str(exc)
    remedy = _REMEDY.get(exc.errno or 0, "check the folder or change {setting}")
    return f"setting 'batch_config': cannot {action} {path}: {reason}; " + remedy.format(
        setting=SETTING
    )


@contextlib.contextmanager
def _file_system(action: str, path: Path) -> Iterator[None]:
    """Turn an `OSError` of the block into one `TapERPError` line."""
    try:
        yield
    except OSError as exc:
        raise TapERPError(os_error_line(action, path, exc)) from None


def local_root(batch_config: BatchConfig) -> Path:
    """The folder of `batch_config.storage.root` (a file:// URL or a path)."""
    root = batch_config.storage.root
    if urllib.parse.urlsplit(root).scheme not in ("", "file"):
        msg = f"setting 'batch_config': storage root {root!r} must be a local folder (file://)"
        raise TapERPError(msg)
    path = local_path_of(root).expanduser()
    with _file_system("create folder", path):
        path.mkdir(parents=True, exist_ok=True)
    return path


def check_encoding(encoding: BaseBatchFileEncoding) -> None:
    """Only JSON lines, plain or gzip."""
    if encoding.format != "jsonl" or (encoding.compression or "none") not in ("none", "gzip"):
        msg = (
            "setting 'batch_config': encoding must be format 'jsonl' with compression "
            f"'none' or 'gzip', not {encoding.format!r}/{encoding.compression!r}"
        )
        raise TapERPError(msg)


def write_batches(
    pages: Iterable[list[dict]],
    transform: Callable[[dict], dict | None],
    batch_config: BatchConfig,
    stream: str,
    *,
    after_rows: Callable[[list[dict]], None],
    before_yield: Callable[[], None] = lambda: None,
) -> Iterator[tuple[BaseBatchFileEncoding, list[str]]]:
    """Write transformed records into files of `batch_size` records; yield
    (encoding, [file URL]) per file.

    `after_rows(rows)` runs once the rows are in the file being written (or were
    filtered out): the stream advances its bookmark there, so at each yield the
    bookmark covers exactly the records of the files yielded so far. `before_yield()`
    runs before each file is handed out (to settle a bookmark kept lazily).
    """
    encoding = batch_config.encoding
    check_encoding(encoding)
    root = local_root(batch_config)
    gz = encoding.compression == "gzip"
    size = max(1, int(batch_config.batch_size))
    prefix = batch_config.storage.prefix or ""
    buffer = bytearray()
    path: Path | None = None
    handle: t.Any = None
    count = 0
    try:
        for page in pages:
            rows = page
            while rows:
                outs = list(map(transform, rows))
                mapped = [out for out in outs if out is not None]
                taken = len(rows)
                if count + len(mapped) > size:  # the file fills up inside this page
                    taken = _rows_for(outs, size - count)
                    mapped = mapped[: size - count]
                if mapped:
                    if handle is None:
                        name = f"{prefix}{stream}-{writer_tag()}-{uuid.uuid4().hex}.jsonl"
                        path = root / (name + (".gz" if gz else ""))
                        with _file_system("write batch file", path):
                            handle = _create(path, gz=gz)
                    buffer += encoder.encode_lines(mapped)
                    count += len(mapped)
                after_rows(rows[:taken] if taken < len(rows) else rows)
                rows = rows[taken:]
                if len(buffer) >= WRITE_BYTES:
                    with _file_system("write batch file", t.cast("Path", path)):
                        handle.write(buffer)
                    buffer.clear()
                if count >= size:
                    before_yield()
                    yield _close(handle, buffer, path, encoding)
                    handle, count = None, 0
        before_yield()
        if handle is not None:
            yield _close(handle, buffer, path, encoding)
            handle = None
    finally:
        if handle is not None:  # an error mid-file: nothing refers to it
            with contextlib.suppress(OSError):
                handle.close()
            if path is not None:
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)


def _rows_for(outs: list[t.Any], wanted: int) -> int:
    """How many rows (their mapped records `outs`, None if filtered) give the first
    `wanted` mapped records."""
    mapped = 0
    for index, out in enumerate(outs):
        if out is not None:
            mapped += 1
            if mapped == wanted:
                return index + 1
    return len(outs)


def _create(path: Path, *, gz: bool) -> t.IO[bytes]:
    """A new file only its owner can read (it holds the client's records)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    WRITTEN.add(path)
    # reopened by name, the file keeps its mode; the handle stays open across yields
    return gzip.open(path, "wb", compresslevel=1) if gz else path.open("wb")


def _writer_gone(path: Path) -> bool:
    """Whether the process that wrote `path` (named in it) ran on this host and is
    gone (a writer on another host sharing the folder is never judged from here)."""
    match = _WRITER.search(path.name)
    here = writer_tag().rsplit("-", 1)[0]
    if match is None or match["host"] != here:
        return False
    pid = int(match["pid"])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it runs, as another user
        return False
    return False


def sweep_stale(root: Path, older_than: float) -> int:
    """Remove batch files left by runs that died: their writer process is gone, or
    they were not touched for `older_than` seconds."""
    cutoff = time.time() - older_than
    removed = 0
    for path in root.glob("*.jsonl*"):
        with contextlib.suppress(OSError):
            if _writer_gone(path) or path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed


def forget_written() -> None:
    """Start a run: files written before it are not this run's to remove."""
    WRITTEN.clear()


def remove_untaken(grace: float = 0.0) -> int:
    """Remove the files this process wrote that are still there after `grace` seconds
    (a loader still reading gets that long to take them): the run failed, and they
    hold client data. Returns how many."""
    deadline = time.monotonic() + grace
    while any(p.exists() for p in WRITTEN) and time.monotonic() < deadline:
        time.sleep(0.05)
    removed = 0
    for path in list(WRITTEN):
        with contextlib.suppress(OSError):
            if path.exists():
                path.unlink()
                removed += 1
        WRITTEN.discard(path)
    return removed


def _close(
    handle: t.Any, buffer: bytearray, path: Path | None, encoding: BaseBatchFileEncoding
) -> tuple[BaseBatchFileEncoding, list[str]]:
    assert path is not None
    with _file_system("write batch file", path):
        handle.write(buffer)
        handle.close()
    buffer.clear()
    return encoding, [path.resolve().as_uri()]


def wait_until_taken(manifest: list[str], seconds: float, poll: float = 0.005) -> None:
    """Block until no file of `manifest` exists; fail after `seconds`."""
    paths = [local_path_of(url) for url in manifest]
    deadline = time.monotonic() + seconds
    delay = poll
    while any(p.exists() for p in paths):
        if time.monotonic() > deadline:
            msg = (
                f"the loader has not read batch file {paths[0]} after {seconds:.0f} s: "
                "it may not support BATCH messages (target-s3 does). Unset "
                "'batch_config' for this loader; no STATE was sent for these records"
            )
            raise TapERPError(msg)
        time.sleep(delay)
        delay = min(delay * 1.5, 0.02)  # the next BATCH message waits on this


def local_path_of(url: str) -> Path:
    """The path of a file:// URL."""
    parts = urllib.parse.urlsplit(url)
    return Path(urllib.parse.unquote(parts.path) if parts.scheme else url)
