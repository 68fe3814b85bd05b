"""Buffered RECORD message lines to an Arrow table of the stream's schema.

A batch is the RECORD message lines of one stream exactly as received (each line a
JSON object with a ``record`` member), concatenated. Fast path:
``pyarrow.json.read_json`` with an explicit schema ``{record: struct<...>}`` over the
whole buffer (multi-threaded C++, exact decimals, offsets in timestamps converted to
UTC), then vectorised casts. Columns that need Python (JSON text, integers beyond
decimal128) are extracted per record with a msgspec struct that decodes only those
fields. When the fast path rejects a batch (a value of another JSON type than
declared, sub-microsecond digits, ...), the batch is converted per value, which
coerces losslessly or fails with a clear error naming stream, column and value.
"""

from __future__ import annotations

import logging
import typing as t

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from target_s3.errors import DataError
from target_s3.quarantine import Reject
from target_s3.types import TIMESTAMP, FieldType, stream_fields
from target_s3.values import BadValueError, json_decoder, to_timestamp

logger = logging.getLogger("target-s3")

_BLOCK_SIZE = 16 << 20


class StreamConverter:
    """Converts batches of one stream (one schema version) to Arrow tables."""

    def __init__(
        self,
        stream: str,
        schema: dict,
        key_properties: t.Sequence[str],
        *,
        overrides: t.Mapping[str, FieldType] | None = None,
        tolerant: bool = False,
    ) -> None:
        """Map the schema once; everything per batch is vectorised.

        ``overrides``: column types that replace the schema's (the contract's types);
        ``tolerant``: values that do not convert become null and are listed in
        ``rejects`` instead of failing the batch (quarantine mode).
        """
        self.stream = stream
        self.fields: dict[str, FieldType] = {**stream_fields(schema), **(overrides or {})}
        self.tolerant = tolerant
        self.rejects: list[Reject] = []
        self.arrow_schema = pa.schema([pa.field(n, f.arrow) for n, f in self.fields.items()])
        self.read_schema = pa.schema(
            [pa.field(n, f.read) for n, f in self.fields.items() if f.read is not None]
        )
        self.python_columns = [n for n, f in self.fields.items() if f.read is None]
        self.key_properties = [k for k in key_properties if k in self.fields]
        self._warned: set[str] = set()
        self._fallback_logged = False
        self._extractor: msgspec.json.Decoder | None = None
        self._sampled = False
        self._message_schema = pa.schema(
            [
                pa.field("record", pa.struct(list(self.read_schema))),
                pa.field("time_extracted", TIMESTAMP),
            ]
        )
        self.extracted_at: pa.Array = pa.array([], TIMESTAMP)
        if self.python_columns:
            names = [f"c{i}" for i in range(len(self.python_columns))]
            inner = msgspec.defstruct(
                "PythonColumns",
                [(n, msgspec.Raw, msgspec.Raw(b"null")) for n in names],
                rename=dict(zip(names, self.python_columns, strict=True)),
            )
            outer = msgspec.defstruct("RecordMessage", [("record", inner)])
            self._extractor = msgspec.json.Decoder(outer)
            self._attrs = names
        for name, field in self.fields.items():
            if field.note:
                logger.debug("Stream '%s' column '%s': %s", stream, name, field.note)

    # --- public -------------------------------------------------------------------

    def to_table(self, data: bytes | bytearray, rows: int) -> pa.Table:
        """Convert a buffer of ``rows`` RECORD message lines to a table."""
        self.rejects = []
        if not self._sampled:
            self._sampled = True
            self._check_fields(_lines(data)[:1000])
        if not self.fields:
            return pa.table({"_": pa.nulls(rows)}).drop_columns(["_"])
        try:
            table = self._fast(data, rows)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            if not self._fallback_logged:
                logger.info(
                    "Stream '%s': a batch needs per-value conversion (%s)",
                    self.stream,
                    str(exc).splitlines()[0][:200],
                )
                self._fallback_logged = True
            table = self._slow(_lines(data))
        self._check_keys(table)
        return table

    # --- paths --------------------------------------------------------------------

    def _fast(self, data: bytes | bytearray, rows: int) -> pa.Table:
        parse = pj.ParseOptions(
            explicit_schema=self._message_schema, unexpected_field_behavior="ignore"
        )
        try:
            read = pj.read_json(
                pa.BufferReader(pa.py_buffer(data)),
                read_options=pj.ReadOptions(block_size=_BLOCK_SIZE, use_threads=False),
                parse_options=parse,
            )
        except pa.ArrowInvalid as exc:
            if "straddling" not in str(exc) and "block size" not in str(exc):
                raise
            read = pj.read_json(
                pa.BufferReader(pa.py_buffer(data)),
                read_options=pj.ReadOptions(block_size=len(data) + 1),
                parse_options=parse,
            )
        if read.num_rows != rows:
            msg = f"read {read.num_rows} rows from {rows} records"
            raise pa.ArrowInvalid(msg)
        self.extracted_at = read.column("time_extracted").combine_chunks()
        records = read.column("record").combine_chunks()
        if records.null_count:
            msg = "a RECORD message has no 'record' object"
            raise pa.ArrowInvalid(msg)
        children = dict(zip(self.read_schema.names, records.flatten(), strict=True))
        python_values = self._python_columns(_lines(data)) if self.python_columns else {}
        columns = []
        for name, field in self.fields.items():
            if field.read is None:
                columns.append(python_values[name])
                continue
            column = pa.chunked_array([children[name]], type=field.read)
            if column.type != field.arrow:
                column = self._cast(name, field, column)
            columns.append(column)
        return pa.Table.from_arrays(columns, schema=self.arrow_schema)

    def _cast(self, name: str, field: FieldType, column: pa.ChunkedArray) -> pa.ChunkedArray:
        try:
            return column.cast(field.arrow)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            values = column.to_pylist()
            return pa.chunked_array([self._array(name, field, values)], type=field.arrow)

    def _python_columns(self, lines: list[bytes]) -> dict[str, pa.Array]:
        decode = self._extractor.decode  # type: ignore[union-attr]
        attrs = self._attrs
        raw_columns: list[list[bytes]] = [[] for _ in attrs]
        for line in lines:
            obj = decode(line).record
            for i, attr in enumerate(attrs):
                raw_columns[i].append(getattr(obj, attr))
        out = {}
        for name, raws in zip(self.python_columns, raw_columns, strict=True):
            field = self.fields[name]
            values = [None if bytes(r) == b"null" else json_decoder.decode(r) for r in raws]
            out[name] = self._array(name, field, values)
        return out

    def _slow(self, lines: list[bytes]) -> pa.Table:
        records, extracted = _records_and_times(self.stream, lines)
        try:
            self.extracted_at = pa.array([to_timestamp(v) for v in extracted], TIMESTAMP)
        except BadValueError as exc:
            msg = f"stream '{self.stream}': time_extracted of a RECORD message: {exc.reason}"
            raise DataError(msg) from None
        self._check_fields(lines, records)
        arrays = [
            self._array(name, field, [r.get(name) for r in records])
            for name, field in self.fields.items()
        ]
        return pa.Table.from_arrays(arrays, schema=self.arrow_schema)

    def _array(self, name: str, field: FieldType, values: list) -> pa.Array:
        convert = field.convert
        converted = []
        for row, value in enumerate(values):
            try:
                converted.append(convert(value))
            except BadValueError as exc:
                where = f"{name}.{exc.path}" if exc.path else name
                if self.tolerant:
                    self.rejects.append(Reject(row, name, f"{where}: {exc.reason}"))
                    converted.append(None)
                    continue
                msg = f"stream '{self.stream}', column '{where}': {exc.reason}"
                raise DataError(msg) from None
        try:
            return pa.array(converted, type=field.arrow)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            msg = f"stream '{self.stream}', column '{name}': {str(exc).splitlines()[0][:200]}"
            raise DataError(msg) from None

    # --- checks -------------------------------------------------------------------

    def _check_fields(self, lines: list[bytes], records: list[dict] | None = None) -> None:
        """Warn about record fields the schema does not declare (they are not stored)."""
        seen: set[str] = set()
        for record in records if records is not None else _records(self.stream, lines):
            seen.update(record)
        self._warn_extra(sorted(seen.difference(self.fields)))

    def _warn_extra(self, names: t.Iterable[str]) -> None:
        new = [n for n in names if n not in self._warned]
        if new:
            self._warned.update(new)
            logger.warning(
                "Stream '%s': records carry fields missing from its schema, not stored: %s",
                self.stream,
                ", ".join(new),
            )

    def _check_keys(self, table: pa.Table) -> None:
        from singer_sdk.exceptions import MissingKeyPropertiesError

        rejected = {r.row for r in self.rejects}
        for key in self.key_properties:
            column = table.column(key)
            missing = column.null_count
            if missing and rejected:
                nulls = pc.indices_nonzero(pc.is_null(column)).to_pylist()
                missing = len(set(nulls) - rejected)
            if missing:
                msg = (
                    f"stream '{self.stream}': {missing} record(s) "
                    f"without a value for key property '{key}'"
                )
                raise MissingKeyPropertiesError(msg)


def _lines(data: bytes | bytearray) -> list[bytes]:
    return [line for line in bytes(data).split(b"\n") if line.strip()]


def _records(stream: str, lines: list[bytes]) -> list[dict]:
    """The ``record`` objects of RECORD message lines (exact Decimals)."""
    return _records_and_times(stream, lines)[0]


def _records_and_times(stream: str, lines: list[bytes]) -> tuple[list[dict], list[str | None]]:
    """The ``record`` objects and ``time_extracted`` values of RECORD message lines."""
    records, times = [], []
    for line in lines:
        try:
            message = json_decoder.decode(line)
        except msgspec.DecodeError as exc:
            msg = f"stream '{stream}': a RECORD message is not valid JSON ({exc})"
            raise DataError(msg) from None
        record = message.get("record") if isinstance(message, dict) else None
        if not isinstance(record, dict):
            msg = f"stream '{stream}': a RECORD message has no 'record' object"
            raise DataError(msg)
        records.append(record)
        times.append(message.get("time_extracted"))
    return records, times
