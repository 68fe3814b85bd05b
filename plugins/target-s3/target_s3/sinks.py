"""Parquet sink: one stream's buffer (one schema version), its flushing and its files.

The sink buffers its stream's RECORD message lines as received (the reader's fast
path appends them unparsed; the per-record path appends re-encoded records), flushes
itself when the buffer is full, and hands each batch to the run's worker thread,
which writes it as Parquet files (``parquet``). It remembers where the last STATE fell
inside its buffer, so that a batch can end exactly at a STATE, and so that records
after the input's last STATE can be left out (see ``state_gate``).
"""

from __future__ import annotations

import functools
import time
import typing as t
from decimal import Decimal

from singer_sdk.exceptions import InvalidRecord
from singer_sdk.sinks import BatchSink
from singer_sdk.sinks.core import JSONSchemaValidator

from target_s3.errors import DataError
from target_s3.parquet import ParquetFiles
from target_s3.run import BatchFiles
from target_s3.types import DELETED
from target_s3.values import json_encoder

if t.TYPE_CHECKING:
    from singer_sdk.target_base import Target

    from target_s3.delta import CurrentTable
    from target_s3.run import Run

#: Records a sink buffers between two checks of every buffer's age.
AGE_CHECK_EVERY = 2000


def record_line(record: dict, time_extracted: t.Any = None) -> bytes:
    """A RECORD message line (record and time_extracted) for the per-record path."""
    line = b'{"record": ' + json_encoder.encode(record)
    if time_extracted is not None:
        line += b', "time_extracted": ' + json_encoder.encode(time_extracted)
    return line + b"}\n"


def _offset_after_lines(data: bytes, lines: int) -> int:
    """The offset just after the first ``lines`` newline-terminated lines of ``data``."""
    offset = 0
    for _ in range(lines):
        offset = data.index(b"\n", offset) + 1
    return offset


class ParquetSink(BatchSink):
    """Buffers one stream's records as raw JSON bytes; flushes them as Parquet files.

    A new SCHEMA for the stream creates a new sink (and so new files); the old sink is
    flushed first. Nothing is ever overwritten: file names carry run id and batch.
    """

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: t.Sequence[str] | None,
    ) -> None:
        """Map the schema to Arrow, pick the partition column, join the run."""
        super().__init__(target, stream_name, schema, key_properties)
        run: Run = target.run  # type: ignore[attr-defined]
        self.run = run
        bookmarks = run.bookmarks.get(stream_name)
        self.current: CurrentTable | None = None
        if run.settings.table_format == "delta":
            self.current = run.current_table(stream_name, key_properties, bookmarks)
            schema = with_deleted_column(schema)
        run.start()
        self.files = ParquetFiles(
            stream_name,
            schema,
            key_properties,
            settings=run.settings,
            layout=run.layout,
            bookmarks=bookmarks,
            contracts=run.contracts,
        )
        self.buffer = bytearray()  # RECORD message lines as received, newline-terminated
        self.rows = 0
        self.cut: tuple[int, int, int] | None = None  # (offset, rows, STATE seq)
        self.first_state_seq = 0  # STATE messages seen before the oldest buffered record
        self.last_state_seq = 0  # ... before the newest buffered record
        self.first_at = 0.0
        self.max_rows = run.settings.batch_max_rows
        self.max_bytes = run.settings.batch_max_bytes
        self._gate = run.gate
        self._appended = 0  # records since the last age check
        run.add(self)

    def get_validator(self) -> JSONSchemaValidator | None:
        """The SDK's validator (setting validate_records), with exact ``multipleOf``.

        Records carry numbers as Decimals; the schema's float ``multipleOf`` would
        make validation fail with a TypeError, so it is validated as a Decimal.
        """
        if not self.validate_schema:
            return None
        return JSONSchemaValidator(
            _exact_multiples(self.schema), validate_formats=self.validate_field_string_format
        )

    def validate(self, record: dict) -> None:
        """Check one record against the stream's schema; a mismatch is a DataError."""
        if self._validator is None:
            return
        try:
            self._validator.validate(record)
        except InvalidRecord as exc:
            msg = f"stream '{self.stream_name}': a record does not match the schema: {exc}"
            raise DataError(msg) from None

    def _remove_sdc_metadata_from_schema(self) -> None:
        """Keep `_sdc_*` columns sent by the tap: never drop a declared column."""

    def _remove_sdc_metadata_from_record(self, record: dict) -> None:
        """Keep `_sdc_*` values sent by the tap."""

    # --- buffering --------------------------------------------------------------------

    @property
    def current_size(self) -> int:
        """Buffered records."""
        return self.rows

    @property
    def max_size(self) -> int:
        """Records per batch at most."""
        return self.max_rows

    @property
    def is_full(self) -> bool:
        """True when the buffer reached its row or byte limit."""
        return self.rows >= self.max_rows or len(self.buffer) >= self.max_bytes

    def append_line(self, line: bytes) -> None:
        """Buffer one RECORD message line as received (the reader's fast path)."""
        self._append(line if line[-1:] == b"\n" else line + b"\n", 1)

    def append_lines(self, lines: bytes, count: int) -> None:
        """Buffer ``count`` newline-terminated RECORD message lines (a BATCH file chunk).

        A chunk is split where the buffer reaches ``batch_max_rows``: batches stay full.
        """
        while count:
            room = self.max_rows - self.rows
            if count > room > 0:  # the rows that fit go into this batch
                cut = _offset_after_lines(lines, room)
                self._append(lines[:cut], room)
                lines, count = lines[cut:], count - room
                continue
            self._append(lines, count)
            return

    def append_record(self, record: dict, time_extracted: t.Any = None) -> None:
        """Buffer a record that went through the per-record path (maps, validation)."""
        self._append(record_line(record, time_extracted), 1)

    def process_record(self, record: dict, context: dict) -> None:
        """Buffer a record (the SDK's per-record entry; ``time_extracted`` in context)."""
        self.append_record(record, context.get("time_extracted"))

    def process_batch(self, context: dict) -> None:
        """Flush the buffer (the SDK's drain entry)."""
        _ = context
        self.flush()

    def _append(self, lines: bytes, count: int) -> None:
        if not self.rows:
            self.first_state_seq = self._gate.seq
            self.first_at = time.monotonic()
        self.buffer += lines
        self.rows += count
        self.last_state_seq = self._gate.seq
        if self.rows >= self.max_rows or len(self.buffer) >= self.max_bytes:
            self.flush(at_state=True)
        self._appended += count
        if self._appended >= AGE_CHECK_EVERY:
            self._appended = 0
            self.run.flush_old()

    # --- flushing ---------------------------------------------------------------------

    def flush(self, *, emit: bool = True, at_state: bool = False) -> None:
        """Hand the buffered records to the run's worker as one batch of files.

        With ``at_state`` the batch may end at the last STATE seen (``take_buffer``);
        with ``emit`` the STATEs this releases are emitted at once.
        """
        if not self.rows:
            return
        data, rows, first, last = self.take_buffer(at_state=at_state)
        to_files = functools.partial(self._to_files, data, rows)
        self.run.submit(self.stream_name, to_files, (first, last), emit=emit)

    def _to_files(self, data: bytearray, rows: int, batch: int) -> BatchFiles:
        """Worker thread: the batch's history files (and quarantined rows), and its
        current-table merge (delta). The stream's contract is stored before them."""
        table, rejected = self.files.convert(data, rows)
        files, count = self.files.files(table, batch)
        if rejected is not None:
            files.append(self.files.rejected_file(rejected, batch))
        if files and self.files.contract is not None:
            self.run.contracts.write(self.files.contract)
        rejected_rows = 0 if rejected is None else rejected.num_rows
        if self.current is None or not count:
            return BatchFiles(files, count, rejected_rows, None)
        merge = functools.partial(
            self.current.merge, table, batch, snapshot_complete=self.run.snapshots_complete
        )
        return BatchFiles(files, count, rejected_rows, merge)

    def mark_state(self, state_seq: int) -> None:
        """Remember where STATE number ``state_seq`` fell inside the buffer."""
        if self.rows:
            self.cut = (len(self.buffer), self.rows, state_seq)

    def drop_after_state(self, state_seq: int) -> int:
        """Forget the buffered records that arrived after STATE number ``state_seq``
        (the last one); returns how many."""
        if not self.rows:
            return 0
        cut, self.cut = self.cut, None
        if self.first_state_seq >= state_seq:  # all of them arrived after it
            dropped, self.rows = self.rows, 0
            self.buffer = bytearray()
            return dropped
        if cut is None or cut[2] != state_seq:  # none arrived after it
            return 0
        offset, rows, _ = cut
        dropped = self.rows - rows
        del self.buffer[offset:]
        self.rows = rows
        self.last_state_seq = state_seq - 1
        return dropped

    def take_buffer(self, *, at_state: bool = False) -> tuple[bytearray, int, int, int]:
        """Hand over buffered records: (data, rows, first, last STATE seq).

        With ``at_state``, only the records before the last STATE seen are handed over
        (when that is at least a quarter of the buffer), so the batch ends exactly at
        a STATE, which can then be emitted at once; the rest stays buffered.
        """
        cut, self.cut = self.cut, None
        first, last = self.first_state_seq, self.last_state_seq
        if at_state and cut is not None and cut[1] * 4 >= self.rows and cut[1] < self.rows:
            offset, rows, state_seq = cut
            data = self.buffer[:offset]
            del self.buffer[:offset]
            self.rows -= rows
            self.first_state_seq = state_seq
            return data, rows, first, state_seq - 1
        data, rows = self.buffer, self.rows
        self.buffer, self.rows = bytearray(), 0
        return data, rows, first, last


def with_deleted_column(schema: dict) -> dict:
    """The schema with ``_sdc_deleted_at`` (nullable date-time), so delete records apply."""
    properties = schema.get("properties") or {}
    if DELETED in properties:
        return schema
    deleted = {"type": ["null", "string"], "format": "date-time"}
    return {**schema, "properties": {**properties, DELETED: deleted}}


def _exact_multiples(node: t.Any) -> t.Any:
    """A copy of a JSON schema with every numeric ``multipleOf`` as a Decimal."""
    if isinstance(node, list):
        return [_exact_multiples(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _exact_multiples(value) for key, value in node.items()}
    multiple = out.get("multipleOf")
    if isinstance(multiple, int | float) and not isinstance(multiple, bool):
        out["multipleOf"] = Decimal(str(multiple))
    return out
