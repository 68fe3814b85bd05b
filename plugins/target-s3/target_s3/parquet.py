"""One stream's batches as Parquet files: lineage columns, date partitions, keys.

A batch (buffered RECORD message lines) is converted to an Arrow table of the
stream's schema (``convert``), gets the lineage columns, is split by the UTC date of
its partition field and written as one Parquet file per partition, named by the
run's key layout and carrying the Singer stream and schema in its metadata.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import typing as t

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from target_s3.convert import StreamConverter
from target_s3.errors import ConfigError
from target_s3.quarantine import failure, find_rejects, lines_of, split
from target_s3.types import TIMESTAMP, arrow_field, declared_non_null, stream_fields

if t.TYPE_CHECKING:
    from target_s3.contract import Contracts, Resolution
    from target_s3.layout import Layout
    from target_s3.settings import Settings

logger = logging.getLogger("target-s3")

RUN_DATE = "@run_date"
BOOKMARK = "@bookmark"


class ParquetFiles:
    """Writes the batches of one stream (one schema version) as Parquet files."""

    def __init__(
        self,
        stream: str,
        schema: dict,
        key_properties: t.Sequence[str] | None,
        *,
        settings: Settings,
        layout: Layout,
        bookmarks: list | None,
        contracts: Contracts | None = None,
    ) -> None:
        """Map the schema to Arrow, hold it to the stream's contract, pick the partition."""
        self.stream = stream
        self.settings = settings
        self.layout = layout
        self.quarantine = settings.violation_mode(stream) == "quarantine"
        self.non_null = declared_non_null(schema)
        self.contract: Resolution | None = None
        overrides = {}
        if contracts is not None:
            self.contract = contracts.resolve(
                stream,
                {n: f.arrow for n, f in stream_fields(schema).items()},
                non_null=self.non_null,
                key_properties=list(key_properties or []),
            )
            overrides = self._overrides(self.contract)
        self.converter = StreamConverter(
            stream, schema, key_properties or [], overrides=overrides, tolerant=self.quarantine
        )
        self.partition_field = self._partition_field(bookmarks)
        self._schema_json = json.dumps(schema, default=str, sort_keys=True)
        self._warned_lineage = False

    def _overrides(self, contract: Resolution) -> dict:
        """Column types the contract imposes; a violation fails unless quarantining."""
        if contract.violations and not self.quarantine:
            raise contract.violation_error()
        overrides = {}
        for name, kind in contract.write_types.items():
            field = arrow_field(kind)
            if field is None:
                raise contract.violation_error()
            overrides[name] = field
        for violation in contract.violations:
            logger.warning(
                "Stream '%s', column '%s': %s from %s to %s; kept as %s, values that do not "
                "convert are quarantined",
                self.stream,
                violation["column"],
                violation["change"],
                violation["old"],
                violation["new"],
                violation["old"],
            )
        return overrides

    def _partition_field(self, bookmarks: list | None) -> str | None:
        per_stream = self.settings.stream_partition_fields
        explicit = self.stream in per_stream
        wanted = per_stream.get(self.stream) if explicit else self.settings.partition_field
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
            msg = f"setting '{setting}': field '{wanted}' of stream '{self.stream}' {problem}"
            raise ConfigError(msg)
        logger.info(
            "Stream '%s': partition field '%s' %s; partitioning by run date",
            self.stream,
            wanted,
            problem,
        )
        return None

    def _split(self, table: pa.Table) -> list[tuple[str, pa.Table]]:
        layout = self.layout
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

    def _with_lineage(self, table: pa.Table, loaded_at: dt.datetime) -> pa.Table:
        settings = self.settings
        if not settings.add_lineage_columns:
            return table
        n = table.num_rows
        values: dict[str, pa.Array] = {
            "_client_id": pa.nulls(n, pa.string()).fill_null(settings.client_id),
            "_run_id": pa.nulls(n, pa.string()).fill_null(self.layout.run_id),
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
                        self.stream,
                        name,
                    )
                    self._warned_lineage = True
                table = table.set_column(table.column_names.index(name), name, array)
            else:
                table = table.append_column(name, array)
        return table

    def write(self, data: bytearray, rows: int, batch: int) -> tuple[list[tuple[str, bytes]], int]:
        """Convert buffered records to Parquet files: [(final key, content)], rows."""
        table, rejected = self.convert(data, rows)
        files, count = self.files(table, batch)
        if rejected is not None:
            files.append(self.rejected_file(rejected, batch))
        return files, count

    def convert(self, data: bytearray, rows: int) -> tuple[pa.Table, pa.Table | None]:
        """Buffered records as an Arrow table with the lineage columns, and the rows
        rejected by the row checks (``quarantine``; None when there are none)."""
        table = self.converter.to_table(data, rows)
        table = self._with_lineage(table, dt.datetime.now(dt.UTC))
        rejects = [
            *self.converter.rejects,
            *find_rejects(table, self.converter.fields, self.non_null),
        ]
        if not rejects:
            return table, None
        lines = lines_of(data)
        if not self.quarantine:
            raise failure(self.stream, rejects, lines)
        kept, rejected = split(table, rejects, lines, stream=self.stream, run_id=self.layout.run_id)
        logger.warning(
            "Stream '%s': %d row(s) quarantined to %s (first: column '%s', %s)",
            self.stream,
            rejected.num_rows,
            self.layout.rejected_key(self.stream, 0).rsplit("/", 2)[0] + "/",
            rejected.column("column")[0].as_py(),
            rejected.column("reason")[0].as_py(),
        )
        return kept, rejected

    def rejected_file(self, rejected: pa.Table, batch: int) -> tuple[str, bytes]:
        """Quarantined rows as one Parquet file under ``_rejected/``."""
        sink = pa.BufferOutputStream()
        pq.write_table(rejected, sink, compression=self.settings.compression)
        return self.layout.rejected_key(self.stream, batch), sink.getvalue().to_pybytes()

    def files(self, table: pa.Table, batch: int) -> tuple[list[tuple[str, bytes]], int]:
        """A converted batch as Parquet files: [(final key, content)], rows."""
        rows = table.num_rows
        if rows == 0:
            return [], 0
        if table.num_columns == 0:
            logger.warning(
                "Stream '%s': schema has no properties; %d record(s) not stored",
                self.stream,
                rows,
            )
            return [], 0
        table = table.replace_schema_metadata(
            {"singer.stream": self.stream, "singer.schema": self._schema_json}
        )
        files = []
        for part, (partition, chunk) in enumerate(self._split(table), start=1):
            sink = pa.BufferOutputStream()
            pq.write_table(
                chunk,
                sink,
                compression=self.settings.compression,
                compression_level=self.settings.compression_level,
                write_statistics=True,
            )
            key = self.layout.data_key(self.stream, partition, batch, part)
            files.append((key, sink.getvalue().to_pybytes()))
        return files, table.num_rows
