"""Current-state tables (Delta Lake, ``table_format: delta``): one per stream, merged by key.

Each batch, once its history files are published, is merged into the stream's table
``{prefix}/{client}/_current/{stream}/`` in one Delta commit (whole or absent):

* within the batch only each key's newest version counts (by the replication key,
  ties broken by arrival order);
* a matched row is replaced only by a newer version (greater replication key), or by
  an equal one whose values differ; re-sent identical versions change nothing, so
  merging a batch again (a rerun after a crash, lookback) leaves the table as it was;
* a record with ``_sdc_deleted_at`` set removes its key;
* a stream without a replication key (full table) is a snapshot: at the end of a
  complete run the keys the run did not send are removed (in the same commit when the
  whole snapshot came in one batch).

Each commit names its run and batch as a Delta app transaction
(``target-s3/{run_id}/{stream}``, version = batch), so a retried commit that did land is
not merged twice. Commits use S3 conditional writes (delta-rs 1.x): of two runs that
commit at once, the second sees a conflict and merges again on the new version (the
merge is order-independent); after ``DELTA_ATTEMPTS`` conflicts the run fails with one
line. The table's primary key is kept in its description; a different key later is an
error naming the stream and the setting.
"""

from __future__ import annotations

import json
import logging
import random
import time
import typing as t

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, Transaction, WriterProperties
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from target_s3.errors import ConfigError, DataError, StorageError
from target_s3.layout import join_key, safe_segment
from target_s3.types import DELETED, TIMESTAMP
from target_s3.widening import holds

if t.TYPE_CHECKING:
    from target_s3.layout import Layout
    from target_s3.settings import Settings

logger = logging.getLogger("target-s3")

CURRENT_FOLDER = "_current"
RUN_ID = "_run_id"
LINEAGE = ("_client_id", "_run_id", "_extracted_at", "_loaded_at", "_source_system")
DELTA_ATTEMPTS = 8
# a MERGE's working memory (join, sort) beyond this spills to local disk
MERGE_MEMORY_BYTES = 32 << 20
# files a MERGE rewrites are written in row groups of this many rows (arrow-rs buffers a
# whole row group, 1M rows by default)
MERGE_ROW_GROUP_ROWS = 16 * 1024
# a data file is written in memory, then uploaded: files of at most this size
TARGET_FILE_BYTES = 16 << 20
_ORDER = "__target_s3_order"


def storage_options(settings: Settings) -> dict[str, str]:
    """delta-rs (object_store) options equivalent to the loader's S3 settings."""
    options: dict[str, str] = {}
    pairs = {
        "AWS_ENDPOINT_URL": settings.endpoint_url,
        "AWS_REGION": settings.region,
        "AWS_ACCESS_KEY_ID": settings.aws_access_key_id,
        "AWS_SECRET_ACCESS_KEY": settings.aws_secret_access_key,
        "AWS_SESSION_TOKEN": settings.aws_session_token,
        "AWS_PROFILE": settings.aws_profile,
        "AWS_SERVER_SIDE_ENCRYPTION": settings.sse,
        "AWS_SSE_KMS_KEY_ID": settings.sse_kms_key_id,
    }
    options.update({k: v for k, v in pairs.items() if v})
    if (settings.endpoint_url or "").startswith("http://"):
        options["AWS_ALLOW_HTTP"] = "true"
    if settings.s3_addressing_style == "virtual":
        options["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "true"
    elif settings.s3_addressing_style == "path" or settings.endpoint_url:
        options["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "false"
    return options


def current_uri(settings: Settings, layout: Layout, stream: str) -> str:
    """Where a stream's current-state table lives."""
    path = join_key(layout.prefix, layout.client, CURRENT_FOLDER, safe_segment(stream))
    return f"s3://{settings.bucket}/{path}"


def _q(column: str) -> str:
    return "`" + column.replace("`", "``") + "`"


def newest_versions(table: pa.Table, keys: list[str], replication_key: str | None) -> pa.Table:
    """Each key's newest row: greatest replication key, then latest arrival."""
    table = table.append_column(_ORDER, pa.array(range(table.num_rows), pa.int64()))
    ordered = table
    if replication_key:
        sort_keys = [(replication_key, "ascending"), (_ORDER, "ascending")]
        ordered = table.take(pc.sort_indices(table, sort_keys=sort_keys, null_placement="at_start"))
    last = ordered.group_by(keys, use_threads=False).aggregate([(_ORDER, "last")])
    rows = last.column(f"{_ORDER}_last")
    rows = pc.take(rows, pc.sort_indices(rows))
    return table.take(rows).drop_columns([_ORDER])


def fit_numbers(target: pa.Schema, source: pa.Table, stream: str, uri: str) -> pa.Table:
    """Exact numbers as the current table stores them; a widening it cannot take fails.

    A Delta merge casts a source column to the table's type silently (2.125 into an
    int64 column lands as 2), so a narrower type is cast here (lossless) and a wider
    one (a schema contract widened the column) stops the stream with one line.
    """
    for index, name in enumerate(source.column_names):
        if name not in target.names:
            continue
        stored, incoming = target.field(name).type, source.schema.field(name).type
        numbers = [k for k in (stored, incoming) if pa.types.is_int64(k) or pa.types.is_decimal(k)]
        if len(numbers) < 2 or stored.equals(incoming):
            continue
        if not holds(stored, incoming):
            msg = (
                f"stream '{stream}', column '{name}': the current table {uri} "
                f"stores {stored} and cannot widen it in place to {incoming}; move that "
                "table aside and run the stream from the start to rebuild it"
            )
            raise DataError(msg)
        source = source.set_column(index, name, source.column(name).cast(stored))
    return source


class CurrentTable:
    """The current-state Delta table of one stream (shared by its schema versions)."""

    def __init__(
        self,
        stream: str,
        key_properties: t.Sequence[str] | None,
        bookmarks: t.Sequence[str] | None,
        *,
        settings: Settings,
        layout: Layout,
    ) -> None:
        """Check the stream can have a current table and that its key did not change."""
        if not key_properties:
            msg = (
                f"stream '{stream}' has no key properties: setting 'table_format' = delta "
                "merges by primary key (declare the stream's key, or use table_format parquet)"
            )
            raise ConfigError(msg)
        self.stream = stream
        self.keys = list(key_properties)
        self.replication_key = bookmarks[0] if bookmarks else None
        self.snapshot = not bookmarks  # a full-table stream: each complete run is the table
        self.uri = current_uri(settings, layout, stream)
        self.options = storage_options(settings)
        self.app_id = f"target-s3/{layout.run_id}/{stream}"
        self.run_id = layout.run_id
        self.vacuum_hours = settings.delta_vacuum_retention_hours
        self.batches = 0  # batches merged by this run
        self.seen: list[pa.Table] = []  # keys sent by this run (full-table streams)
        self._check_key(self._open())

    # --- the table -----------------------------------------------------------------

    def _open(self) -> DeltaTable | None:
        try:
            return DeltaTable(self.uri, storage_options=self.options)
        except TableNotFoundError:
            return None
        except (DeltaError, OSError) as exc:
            msg = f"stream '{self.stream}': cannot read the current table {self.uri}: {exc}"
            raise StorageError(" ".join(msg.split())) from None

    def _check_key(self, table: DeltaTable | None) -> None:
        if table is None:
            return
        try:
            declared = json.loads(table.metadata().description or "{}").get("primary_key")
        except ValueError:
            declared = None
        if declared is not None and declared != self.keys:
            msg = (
                f"stream '{self.stream}': key properties changed from {declared} to {self.keys}, "
                f"but the current table {self.uri} is merged by {declared} (setting "
                "'table_format' = delta); move that table aside or restore the key"
            )
            raise ConfigError(msg)

    def _create(self, schema: pa.Schema) -> DeltaTable:
        description = json.dumps({"stream": self.stream, "primary_key": self.keys})
        try:
            return DeltaTable.create(
                self.uri,
                schema,
                mode="ignore",
                description=description,
                configuration={"delta.targetFileSize": str(TARGET_FILE_BYTES)},
                storage_options=self.options,
            )
        except (DeltaError, OSError):  # created meanwhile by another run
            table = self._open()
            if table is None:
                raise
            return table

    # --- merging -------------------------------------------------------------------

    def merge(self, table: pa.Table, batch: int, *, snapshot_complete: bool = False) -> None:
        """Merge one batch (converted, with lineage columns) in one commit."""
        if DELETED not in table.column_names:
            table = table.append_column(DELETED, pa.nulls(table.num_rows, TIMESTAMP))
        rk = self.replication_key if self.replication_key in table.column_names else None
        source = newest_versions(table, self.keys, rk)
        if self.snapshot:
            live = source.filter(pc.is_null(source.column(DELETED)))
            self.seen.append(live.select(self.keys))
        self.batches += 1
        whole_snapshot = snapshot_complete and self.batches == 1 and self.snapshot
        self._commit(source, batch, rk, whole_snapshot=whole_snapshot)
        if whole_snapshot:
            self.seen = []

    def complete(self, batch: int) -> None:
        """End of a complete run: a full-table stream keeps only the keys it was sent.

        ``batch`` is a batch number of its own (app transaction versions only grow).
        """
        if not self.snapshot or not self.seen:
            return
        keys = pa.concat_tables(self.seen)
        self.seen = []
        self._attempt(lambda dt: self._remove_unseen(dt, keys, batch), batch)

    def _commit(
        self, source: pa.Table, batch: int, rk: str | None, *, whole_snapshot: bool
    ) -> None:
        def merge(dt: DeltaTable) -> dict:
            return self._merge(dt, source, batch, rk, whole_snapshot=whole_snapshot)

        started = time.monotonic()
        metrics = self._attempt(merge, batch, schema=source.drop_columns([DELETED]).schema)
        if metrics is not None:
            logger.info(
                "Stream '%s': current table merged batch %d: %d inserted, %d updated, "
                "%d deleted, %.2fs",
                self.stream,
                batch,
                metrics.get("num_target_rows_inserted", 0),
                metrics.get("num_target_rows_updated", 0),
                metrics.get("num_target_rows_deleted", 0),
                time.monotonic() - started,
            )

    def _attempt(
        self,
        action: t.Callable[[DeltaTable], dict | None],
        batch: int,
        schema: pa.Schema | None = None,
    ) -> dict | None:
        """Run one commit, again on the newer version after a concurrent commit."""
        for attempt in range(1, DELTA_ATTEMPTS + 1):
            dt = self._open()
            if dt is None:
                if schema is None:
                    return None
                dt = self._create(schema)
            self._check_key(dt)
            if (dt.transaction_version(self.app_id) or 0) >= batch:
                return None  # this batch's commit already landed
            try:
                return action(dt)
            except CommitFailedError as exc:
                if attempt == DELTA_ATTEMPTS:
                    msg = (
                        f"stream '{self.stream}': the current table {self.uri} was changed by "
                        f"another run {DELTA_ATTEMPTS} times while merging batch {batch}; "
                        f"nothing of it was committed ({' '.join(str(exc).split())[:200]})"
                    )
                    raise StorageError(msg) from None
                logger.info(
                    "Stream '%s': batch %d met a concurrent commit; merging again on the "
                    "new version (attempt %d of %d)",
                    self.stream, batch, attempt + 1, DELTA_ATTEMPTS,
                )  # fmt: skip
                # jittered: two runs retrying in step would collide again
                time.sleep(random.uniform(0.1, 0.4) * attempt)
            except (DeltaError, OSError) as exc:
                msg = f"stream '{self.stream}': merge into {self.uri} failed: {exc}"
                raise StorageError(" ".join(msg.split())[:1000]) from None
        return None

    def _properties(self, batch: int, action: str) -> CommitProperties:
        return CommitProperties(
            custom_metadata={
                "target_s3.run_id": self.run_id,
                "target_s3.batch": str(batch),
                "target_s3.action": action,
            },
            app_transactions=[Transaction(self.app_id, batch)],
        )

    def _merge(
        self, dt: DeltaTable, source: pa.Table, batch: int, rk: str | None, *, whole_snapshot: bool
    ) -> dict:
        source = fit_numbers(pa.schema(dt.schema().to_arrow()), source, self.stream, self.uri)
        target = set(dt.schema().to_arrow().names)
        on = " AND ".join(f"t.{_q(k)} = s.{_q(k)}" for k in self.keys)
        values = [
            c
            for c in source.column_names
            if c not in self.keys and c not in LINEAGE and c != DELETED
        ]
        # each term in parentheses: delta-rs 1.6 mis-parses unparenthesised IS DISTINCT FROM
        changed = [f"(s.{_q(c)} IS DISTINCT FROM t.{_q(c)})" for c in values if c in target]
        changed += [f"(s.{_q(c)} IS NOT NULL)" for c in values if c not in target]
        differs = " OR ".join(changed) or "FALSE"
        if rk:
            r = _q(rk)
            newer = (
                f"s.{r} > t.{r} OR ((s.{r} = t.{r} OR s.{r} IS NULL OR t.{r} IS NULL) "
                f"AND ({differs}))"
            )
        else:
            newer = differs
        merger = (
            dt.merge(
                source,
                on,
                source_alias="s",
                target_alias="t",
                merge_schema=True,
                streamed_exec=False,  # the batch's key range prunes the target's files
                max_spill_size=MERGE_MEMORY_BYTES,
                writer_properties=WriterProperties(max_row_group_size=MERGE_ROW_GROUP_ROWS),
                commit_properties=self._properties(batch, "merge"),
            )
            .when_matched_delete(f"s.{_q(DELETED)} IS NOT NULL")
            .when_matched_update_all(newer, except_cols=[DELETED])
            .when_not_matched_insert_all(f"s.{_q(DELETED)} IS NULL", except_cols=[DELETED])
        )
        if whole_snapshot:
            merger = merger.when_not_matched_by_source_delete()
        return merger.execute()

    def _remove_unseen(self, dt: DeltaTable, keys: pa.Table, batch: int) -> dict:
        on = " AND ".join(f"t.{_q(k)} = s.{_q(k)}" for k in self.keys)
        return (
            dt.merge(
                keys,
                on,
                source_alias="s",
                target_alias="t",
                max_spill_size=MERGE_MEMORY_BYTES,
                commit_properties=self._properties(batch, "snapshot"),
            )
            .when_not_matched_by_source_delete()
            .execute()
        )

    def vacuum(self) -> None:
        """Remove files no version needs any more and files of commits that never landed,
        once older than ``delta_vacuum_retention_hours``."""
        dt = self._open()
        if dt is None:
            return
        try:
            removed = dt.vacuum(
                retention_hours=self.vacuum_hours,
                dry_run=False,
                enforce_retention_duration=False,
                full=True,
            )
        except (DeltaError, OSError) as exc:
            logger.warning("Stream '%s': vacuum of %s failed: %s", self.stream, self.uri, exc)
            return
        if removed:
            logger.info(
                "Stream '%s': vacuum removed %d unreferenced file(s)", self.stream, len(removed)
            )
