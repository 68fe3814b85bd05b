"""BATCH messages: records arriving as JSON-lines files instead of RECORD lines.

A tap with `batch_config` (tap-erp, or any Singer SDK tap) writes each batch of
records to a file and sends one BATCH message naming it. The file's lines become
RECORD lines of the stream's buffer, wrapped a chunk at a time, so everything after
that (conversion, exactly-once publishing, STATE only once durable) is the same as
for RECORD messages. The file's modification time stands for the records'
`time_extracted`. Files are a transport: once read they are deleted; if the run
fails before they are durable in S3, no STATE covers them and the next run extracts
those records again.
"""

from __future__ import annotations

import datetime as dt
import gzip
import typing as t
import urllib.parse
from pathlib import Path

from target_s3.errors import DataError

if t.TYPE_CHECKING:
    from collections.abc import Iterator


def local_path(url: str) -> Path:
    """The local path of a `file://` URL (or a plain path) from a manifest."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("", "file"):
        msg = f"BATCH file {url!r}: only local files (file://) can be read"
        raise DataError(msg)
    return Path(urllib.parse.unquote(parts.path) if parts.scheme else url)


#: Bytes read from a batch file at a time (whole lines are handed on).
CHUNK_BYTES = 1 << 20


def record_chunks(stream: str, url: str, encoding: dict) -> Iterator[tuple[bytes, int]]:
    """(buffer lines, how many) for every ~1 MiB of one batch file's records.

    A buffer line is a RECORD message without ``type`` and ``stream``:
    ``{"record": ..., "time_extracted": ...}``. Each chunk is wrapped by one bytes
    replace; chunks with blank lines or carriage returns are wrapped line by line.
    """
    fmt, compression = encoding.get("format"), encoding.get("compression") or "none"
    if fmt != "jsonl" or compression not in ("none", "gzip"):
        msg = (
            f"stream '{stream}': BATCH encoding {fmt!r}/{compression!r} is not supported "
            "(jsonl, with compression none or gzip)"
        )
        raise DataError(msg)
    path = local_path(url)
    try:
        mtime = path.stat().st_mtime
        handle = gzip.open(path, "rb") if compression == "gzip" else path.open("rb")  # noqa: SIM115
    except OSError as exc:
        msg = f"stream '{stream}': cannot read BATCH file {path}: {exc.strerror or exc}"
        raise DataError(msg) from None
    extracted = dt.datetime.fromtimestamp(mtime, dt.UTC).isoformat(timespec="microseconds")
    # The stream's buffer needs only these two members of a RECORD message.
    head = b'{"record":'
    tail = b',"time_extracted":"' + extracted.encode() + b'"}\n'
    rest = b""
    with handle:
        while block := handle.read(CHUNK_BYTES):
            block = rest + block
            cut = block.rfind(b"\n") + 1
            rest = block[cut:]
            lines, count = _wrap(block[:cut], head, tail)
            if count:
                yield lines, count
    lines, count = _wrap(rest + b"\n", head, tail)
    if count:
        yield lines, count


def _wrap(lines: bytes, head: bytes, tail: bytes) -> tuple[bytes, int]:
    """Newline-terminated record lines → RECORD message lines and their count."""
    if b"\r" in lines or b"\n\n" in lines or lines[:1] == b"\n":
        bodies = [line.rstrip(b"\r") for line in lines.split(b"\n")]
        kept = [body for body in bodies if body]
        return b"".join(head + body + tail for body in kept), len(kept)
    count = lines.count(b"\n")
    return head + lines[:-1].replace(b"\n", tail + head) + tail, count
