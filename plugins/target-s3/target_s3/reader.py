"""Singer message reader with a fast path for RECORD lines.

RECORD lines of streams without stream maps or validation are handed as received to
their stream's line consumer (a sink's ``append_line``, in ``routes``); the sink
converts a whole batch at once with ``pyarrow.json``. Lines that start like
``{"type": "RECORD", "stream": "name", ...`` (what Singer SDK taps write) are routed
by that prefix alone; any other line is decoded once into a small msgspec struct
whose ``record`` stays raw JSON (``msgspec.Raw``), so no per-field Python objects are
built. Every other message is
decoded fully and dispatched like the SDK does.
"""

from __future__ import annotations

import contextlib
import fcntl
import sys
import typing as t
from collections import Counter

import msgspec
from singer_sdk.singerlib.encoding.base import GenericSingerReader
from singer_sdk.singerlib.exceptions import InvalidInputLine

from target_s3.exits import stdin_is_pipe
from target_s3.values import json_decoder


def widen_stdin_pipe(size: int = 1 << 20) -> None:
    """Let a pipe on stdin hold `size` bytes instead of 64 KiB (Linux; capped by
    /proc/sys/fs/pipe-max-size), so the producer stalls less while we convert."""
    if stdin_is_pipe():
        with contextlib.suppress(OSError, AttributeError, ValueError):
            fcntl.fcntl(0, fcntl.F_SETPIPE_SZ, size)


class _Envelope(msgspec.Struct):
    type: str
    stream: str | None = None
    record: msgspec.Raw = msgspec.Raw(b"")


_envelope = msgspec.json.Decoder(_Envelope)
_plain = msgspec.json.Decoder()
_PREFIXES = (b'{"type": "RECORD", "stream": "', b'{"type":"RECORD","stream":"')


#: Takes one RECORD message line of a stream, as received.
LineConsumer = t.Callable[[bytes], None]


class FastSingerReader(GenericSingerReader[bytes]):
    """Reads Singer messages as bytes; RECORD lines bypass per-record Python work."""

    #: Stream name -> consumer of its RECORD lines (streams on the fast path only).
    routes: dict[str, LineConsumer] | None = None
    #: Called once before the first line is read.
    on_start: t.Callable[[], None] | None = None

    @property
    def default_input(self) -> t.IO[bytes]:
        """Standard input as bytes."""
        return sys.stdin.buffer

    def deserialize_json(self, line: bytes) -> dict:  # type: ignore[override]
        """Decode a full message (record numbers as exact Decimals)."""
        try:
            return json_decoder.decode(line)  # type: ignore[no-any-return]
        except msgspec.DecodeError:
            msg = f"Unable to parse line as JSON: {line[:200]!r}"
            raise InvalidInputLine(msg) from None

    def process_lines(  # type: ignore[override]
        self,
        file_input: t.IO | None,
        callbacks: dict[str, t.Callable[[dict], None]],
    ) -> t.Counter[str]:
        """Read every line; RECORDs for fast streams go straight to their consumer."""
        routes = self.routes if self.routes is not None else {}
        long_prefix, short_prefix = _PREFIXES
        long_len, short_len = len(long_prefix), len(short_prefix)
        widen_stdin_pipe()
        if self.on_start is not None:
            self.on_start()
        stats: Counter[str] = Counter()
        fast_records = 0
        decode = _envelope.decode
        for line in file_input or self.default_input:
            data = line.encode() if isinstance(line, str) else line
            if data.startswith(long_prefix):
                start = long_len
            elif data.startswith(short_prefix):
                start = short_len
            else:
                start = 0
            if start:
                end = data.find(b'"', start)
                append = routes.get(data[start:end].decode()) if end > 0 else None
                if append is not None and b"\\" not in data[start:end]:
                    append(data)
                    fast_records += 1
                    continue
            try:
                envelope = decode(data)
            except (msgspec.DecodeError, msgspec.ValidationError):
                if not data.strip():
                    continue
                msg = f"Unable to parse line as a Singer message: {data[:200]!r}"
                raise InvalidInputLine(msg) from None
            kind = envelope.type
            if kind == "RECORD":
                append = routes.get(envelope.stream)  # type: ignore[arg-type]
                if append is not None and envelope.record:
                    append(data)
                    fast_records += 1
                    continue
                message = json_decoder.decode(data)
            else:
                message = _plain.decode(data)
            self._current_message = line
            callback = callbacks.get(kind)
            if callback is None:
                self._process_unknown_message(message)
            else:
                callback(message)
            stats[kind] += 1
        stats["RECORD"] += fast_records
        return stats
