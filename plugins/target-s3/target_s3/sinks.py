"""Parquet sink: buffers raw record JSON of one stream (one schema version)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import typing as t
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from singer_sdk.exceptions import InvalidRecord
from singer_sdk.sinks import BatchSink
from singer_sdk.sinks.core import JSONSchemaValidator

from target_s3.convert import StreamConverter
from target_s3.errors import ConfigError, DataError
from target_s3.types import TIMESTAMP, json_encoder

if t.TYPE_CHECKING:
    from target_s3.target import TargetS3

logger = logging.getLogger("target-s3")

RUN_DATE = "@run_date"
BOOKMARK = "@bookmark"
LINEAGE = ("_client_id", "_run_id", "_extracted_at", "_loaded_at", "_source_system")


def record_line(record: dict) -> bytes:
    """A RECORD message line for a record that went through the per-record path."""
    return b'{"record": ' + json_encoder.encode(record) + b"}\n"


class ParquetSink(BatchSink):
    """Buffers one stream's records as raw JSON bytes; flushes them as Parquet files.

    A new SCHEMA for the stream creates a new sink (and so new files); the old sink is
    flushed first. Nothing is ever overwritten: file names carry run id and batch.
    """

    def __init__(
        self,
        target: TargetS3,
        stream_name: str,
        schema: dict,
        key_properties: t.Sequence[str] | None,
    ) -> None:
        """Map the schema to Arrow and pick the partition column."""
        super().__init__(target, stream_name, schema, key_properties)
        self.s3_target = target
        self.settings = target.settings
        self.converter = StreamConverter(stream_name, schema, key_properties or [])
        self.buffer = bytearray()  # RECORD message lines as received, newline-terminated
        self.rows = 0
        self.cut: tuple[int, int, int] | None = None  # (offset, rows, STATE seq)
        self.first_state_seq = 0  # STATE messages seen before the oldest buffered record
        self.last_state_seq = 0  # ... before the newest buffered record
        self.first_at = 0.0
        self.max_rows = self.settings.batch_max_rows
        self.max_bytes = self.settings.batch_max_bytes
        self.partition_field = self._partition_field(target.bookmarks.get(stream_name))
        self._schema_json = json.dumps(schema, default=str, sort_keys=True)
        self._warned_lineage = False

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

    # --- partitioning ---------------------------------------------------------------

    def _partition_field(self, bookmarks: list | None) -> str | None:
        per_stream = self.settings.stream_partition_fields
        explicit = self.stream_name in per_stream
        wanted = per_stream.get(self.stream_name) if explicit else self.settings.partition_field
        if not wanted or wanted == RUN_DATE:
            return None
        if wanted == BOOKMARK:
            wanted = bookmarks[0] if bookmarks else None
            explicit = False
            if not wanted:
                return None
        field = self.converter.fields.get(wanted)
        problem = None
        if field is None:
            problem = "is not in the stream schema"
        elif field.temporal is None:
            problem = "is not a date or date-time column"
        if problem is None:
            return wanted
        setting = "stream_partition_fields" if explicit else "partition_field"
        if explicit:
            msg = f"setting '{setting}': field '{wanted}' of stream '{self.stream_name}' {problem}"
            raise ConfigError(msg)
        logger.info(
            "Stream '%s': partition field '%s' %s; partitioning by run date",
            self.stream_name,
            wanted,
            problem,
        )
        return None

    def _split(self, table: pa.Table) -> list[tuple[str, pa.Table]]:
        layout = self.s3_target.layout
        if self.partition_field is None:
            return [(layout.partition(layout.run_date), table)]
        days = table.column(self.partition_field)
        if days.type != pa.date32():
            days = days.cast(pa.date32())
        unique = pc.unique(days)
        paths = [layout.partition(d) for d in unique.to_pylist()]
        if len(set(paths)) == 1:
            return [(paths[0], table)]
        ordered = sorted(set(paths))
        group_of = pa.array([ordered.index(p) for p in paths], pa.int32())
        groups = pc.take(group_of, pc.index_in(days, value_set=unique, skip_nulls=False))
        order = pc.sort_indices(groups)
        table = table.take(order)
        counts = pc.value_counts(pc.take(groups, order)).to_pylist()
        out, start = [], 0
        for item in counts:
            n = item["counts"]
            out.append((ordered[item["values"]], table.slice(start, n)))
            start += n
        return out

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

    def process_record(self, record: dict, context: dict) -> None:
        """Buffer a record that came through the SDK's per-record path."""
        _ = context
        self.s3_target.append_line(self, record_line(record))

    def process_batch(self, context: dict) -> None:
        """Flush through the target (keeps STATE bookkeeping in one place)."""
        _ = context
        self.s3_target.flush(self)

    # --- flushing ---------------------------------------------------------------------

    def mark_state(self, state_seq: int) -> None:
        """Remember where STATE number ``state_seq`` fell inside the buffer."""
        if self.rows:
            self.cut = (len(self.buffer), self.rows, state_seq)

    def drop_after_state(self, state_seq: int) -> int:
        """Forget the buffered records that arrived after STATE number `state_seq`
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

    def _with_lineage(self, table: pa.Table, loaded_at: dt.datetime) -> pa.Table:
        settings = self.settings
        if not settings.add_lineage_columns:
            return table
        n = table.num_rows
        values: dict[str, pa.Array] = {
            "_client_id": pa.nulls(n, pa.string()).fill_null(settings.client_id),
            "_run_id": pa.nulls(n, pa.string()).fill_null(self.s3_target.run_id),
            "_extracted_at": self.converter.extracted_at,
            "_loaded_at": pa.nulls(n, TIMESTAMP).fill_null(pa.scalar(loaded_at, TIMESTAMP)),
        }
        if settings.source_system:
            values["_source_system"] = pa.nulls(n, pa.string()).fill_null(settings.source_system)
        for name, array in values.items():
            if name in table.column_names:
                if not self._warned_lineage:
                    logger.warning(
                        "Stream '%s' has its own '%s' column; it is replaced by the lineage value",
                        self.stream_name,
                        name,
                    )
                    self._warned_lineage = True
                table = table.set_column(table.column_names.index(name), name, array)
            else:
                table = table.append_column(name, array)
        return table

    def to_files(
        self, data: bytearray, rows: int, batch: int
    ) -> tuple[list[tuple[str, bytes]], int]:
        """Convert buffered records to Parquet files: [(final key, content)], rows."""
        table = self.converter.to_table(data, rows)
        table = self._with_lineage(table, dt.datetime.now(dt.UTC))
        if table.num_columns == 0:
            logger.warning(
                "Stream '%s': schema has no properties; %d record(s) not stored",
                self.stream_name,
                rows,
            )
            return [], 0
        table = table.replace_schema_metadata(
            {"singer.stream": self.stream_name, "singer.schema": self._schema_json}
        )
        files = []
        layout = self.s3_target.layout
        for part, (partition, chunk) in enumerate(self._split(table), start=1):
            sink = pa.BufferOutputStream()
            pq.write_table(
                chunk,
                sink,
                compression=self.settings.compression,
                compression_level=self.settings.compression_level,
                write_statistics=True,
            )
            key = layout.data_key(self.stream_name, partition, batch, part)
            files.append((key, sink.getvalue().to_pybytes()))
        return files, table.num_rows


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
