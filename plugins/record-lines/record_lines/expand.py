"""BATCH messages → RECORD lines, everything else passed on unchanged."""

from __future__ import annotations

import gzip
import json
import typing as t
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse


class BatchError(Exception):
    """A BATCH message this program cannot expand (one line for the user)."""


def manifest_path(url: str) -> Path:
    """The local path of a manifest entry (``file://`` URLs or plain paths)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("", "file"):
        msg = (
            f"BATCH file {url!r} is not a local file: the tap's batch_config storage root "
            "must be file:// for loaders that read RECORD lines"
        )
        raise BatchError(msg)
    return Path(unquote(parsed.path))


def _open(path: Path, compression: str) -> t.BinaryIO:
    if compression == "gzip":
        return t.cast(t.BinaryIO, gzip.open(path, "rb"))
    if compression in ("none", ""):
        return path.open("rb")
    msg = f"BATCH file {path}: compression {compression!r} is not supported (gzip or none)"
    raise BatchError(msg)


def record_lines(message: dict) -> Iterator[tuple[bytes, Path | None]]:
    """One BATCH message's records as RECORD lines; after each file, ``(b"", path)``.

    The caller removes the path once the lines before it are passed on.
    """
    encoding = message.get("encoding") or {}
    fmt = encoding.get("format", "jsonl")
    if fmt != "jsonl":
        msg = f"BATCH encoding format {fmt!r} is not supported: use jsonl in batch_config"
        raise BatchError(msg)
    head = b'{"type":"RECORD","stream":' + json.dumps(message["stream"]).encode() + b',"record":'
    for url in message.get("manifest") or []:
        path = manifest_path(url)
        try:
            with _open(path, encoding.get("compression") or "none") as lines:
                for raw in lines:
                    line = raw.rstrip(b"\r\n")
                    if line:
                        yield head + line + b"}\n", None
        except FileNotFoundError:
            raise BatchError(f"BATCH file {path} is missing") from None
        yield b"", path


def expand(lines: Iterable[bytes]) -> Iterator[tuple[bytes, Path | None]]:
    """Every input line, BATCH messages replaced by the RECORD lines of their files."""
    for line in lines:
        if b'"BATCH"' in line:
            message = json.loads(line)
            if message.get("type") == "BATCH":
                yield from record_lines(message)
                continue
        yield line, None


def take(path: Path) -> None:
    """Remove a batch file whose records were passed on (the tap then sends its STATE)."""
    path.unlink(missing_ok=True)
