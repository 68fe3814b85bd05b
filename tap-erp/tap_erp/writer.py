"""Singer output: msgspec encoding, buffered so that RECORDs do not cost a syscall each.

The SDK's msgspec writer flushes stdout after every message. Here RECORD lines
collect in one buffer that is written out when it holds ``FLUSH_BYTES``, and before
any other message (SCHEMA, STATE, BATCH, ...) is written, so a STATE never reaches
the reader ahead of the records it covers.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import stat
import sys
import typing as t

from singer_sdk.contrib.msgspec import MsgSpecWriter, encoder
from singer_sdk.singerlib.messages import SingerMessageType

if t.TYPE_CHECKING:
    from singer_sdk.singerlib.messages import Message

#: RECORD bytes kept before a write to stdout.
FLUSH_BYTES = 256 * 1024
#: Capacity asked for a pipe on stdout (Linux caps it at /proc/sys/fs/pipe-max-size).
PIPE_BYTES = 1 << 20


def widen_pipe(fd: int, size: int = PIPE_BYTES) -> None:
    """Let a pipe hold `size` bytes instead of 64 KiB, so that the tap and the process
    reading it stall less on each other; nothing happens for files or terminals."""
    with contextlib.suppress(OSError, AttributeError, ValueError):
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)


class BufferedMsgSpecWriter(MsgSpecWriter):
    """msgspec-encoded Singer messages; RECORDs buffered, everything else flushes."""

    def __init__(self) -> None:
        """Start with an empty buffer; whatever is left is written at exit."""
        super().__init__()
        self._buffer = bytearray()
        atexit.register(self.flush)
        widen_pipe(1)

    def write_message(self, message: Message) -> None:
        """Buffer a RECORD; write the buffer (and any other message) out."""
        self._buffer += self.format_message(message)
        if message.type != SingerMessageType.RECORD or len(self._buffer) >= FLUSH_BYTES:
            self.flush()

    def write_record(self, head: bytes, record: t.Any, tail: bytes) -> None:
        """Buffer one RECORD message: `head`, the encoded `record`, `tail`."""
        buffer = self._buffer
        buffer += head
        encoder.encode_into(record, buffer, -1)
        buffer += tail
        if len(buffer) >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write every buffered byte to stdout."""
        if self._buffer:
            sys.stdout.buffer.write(self._buffer)
            self._buffer.clear()
        sys.stdout.flush()
