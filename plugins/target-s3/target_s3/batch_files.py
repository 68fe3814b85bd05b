"""BATCH messages: records arriving as JSON-lines files instead of RECORD lines.

A tap with `batch_config` (tap-erp, or any Singer SDK tap) writes each batch of
records to a file and sends one BATCH message naming it. The file's lines become
RECORD lines of the stream's buffer, so everything after that (conversion, exactly-
once publishing, STATE only once durable) is the same as for RECORD messages. The
file's modification time stands for the records' `time_extracted`. Files are a
transport: once read they are deleted; if the run fails before they are durable in
S3, no STATE covers them and the next run extracts those records again.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
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


def record_lines(stream: str, url: str, encoding: dict) -> Iterator[bytes]:
    """RECORD message lines for every record line of one batch file."""
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
    head = b'{"type":"RECORD","stream":' + json.dumps(stream).encode() + b',"record":'
    tail = b',"time_extracted":"' + extracted.encode() + b'"}\n'
    with handle:
        for line in handle:
            body = line.rstrip(b"\r\n")
            if body:
                yield head + body + tail
