"""target-s3: Singer target landing streams as Parquet in S3, exactly once."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import copy
import datetime as dt
import logging
import time
import typing as t
import uuid
from dataclasses import dataclass, field

import pyarrow as pa
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import PluginCapabilities, TargetCapabilities
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.plugin_base import PluginBase
from singer_sdk.target_base import Target

from target_s3.batch_files import local_path, record_chunks
from target_s3.errors import ConfigError, TargetS3Error
from target_s3.exits import exit_failed
from target_s3.layout import DEFAULT_KEY_TEMPLATE, DEFAULT_PARTITION_TEMPLATE, Layout
from target_s3.reader import FastSingerReader, widen_stdin_pipe
from target_s3.sinks import ParquetSink, record_line
from target_s3.storage import Batch, Publisher, S3Settings, Storage
from target_s3.types import json_decoder

if t.TYPE_CHECKING:
    from types import FrameType

    from singer_sdk.sinks import Sink

logger = logging.getLogger("target-s3")

# The system allocator hands freed batch memory back at once; Arrow's default pool
# (mimalloc) keeps it, which raised peak RSS by ~25 % at equal speed.
pa.set_memory_pool(pa.system_memory_pool())

COMPRESSIONS = ("zstd", "snappy", "gzip", "none")
SSE_MODES = ("AES256", "aws:kms")
#: Record JSON buffered per stream before a flush. Parsing, converting and writing a
#: batch while the next one fills takes several times its size; at 16 MiB a loader
#: peaks near 250 MB whatever the volume (bench/RESULTS.md).
DEFAULT_BATCH_MAX_BYTES = 16 << 20


class TerminatedError(TargetS3Error):
    """SIGTERM/SIGINT received: stop without emitting STATE for unflushed data."""


def _text(config: t.Mapping[str, t.Any], key: str, default: str = "") -> str:
    value = config.get(key)
    return default if value is None or value == "" else str(value)


def _number(config: t.Mapping[str, t.Any], key: str, default: int, minimum: int = 1) -> int:
    value = config.get(key)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        msg = f"setting '{key}' must be an integer (got {value!r})"
        raise ConfigError(msg) from None
    if number < minimum:
        msg = f"setting '{key}' must be at least {minimum} (got {number})"
        raise ConfigError(msg)
    return number


def _flag(config: t.Mapping[str, t.Any], key: str, default: bool) -> bool:
    value = config.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


@dataclass(frozen=True)
class Settings:
    """Validated settings of one run."""

    s3: S3Settings
    client_id: str
    prefix: str
    key_template: str
    partition_template: str
    staging_prefix: str
    partition_field: str
    stream_partition_fields: dict[str, str]
    compression: str
    compression_level: int | None
    batch_max_rows: int
    batch_max_bytes: int
    batch_max_age_seconds: int
    add_lineage_columns: bool
    source_system: str
    validate_records: bool
    write_audit: bool
    run_lease_seconds: int
    extra: dict[str, t.Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any]) -> Settings:
        """Read and check settings; raise ConfigError naming the setting."""
        bucket = _text(config, "bucket")
        if not bucket:
            raise ConfigError("setting 'bucket' is required")
        client_id = _text(config, "client_id")
        if not client_id:
            raise ConfigError("setting 'client_id' is required (the client company's id)")
        compression = _text(config, "compression", "zstd").lower()
        if compression not in COMPRESSIONS:
            msg = f"setting 'compression' must be one of {', '.join(COMPRESSIONS)}"
            raise ConfigError(msg)
        sse = _text(config, "sse") or None
        if sse is not None and sse not in SSE_MODES:
            msg = f"setting 'sse' must be empty, AES256 or aws:kms (got {sse!r})"
            raise ConfigError(msg)
        kms_key = _text(config, "sse_kms_key_id") or None
        if kms_key and sse != "aws:kms":
            raise ConfigError("setting 'sse_kms_key_id' requires sse = aws:kms")
        style = _text(config, "s3_addressing_style", "auto")
        if style not in ("auto", "path", "virtual"):
            raise ConfigError("setting 's3_addressing_style' must be auto, path or virtual")
        per_stream = config.get("stream_partition_fields") or {}
        if not isinstance(per_stream, dict):
            raise ConfigError("setting 'stream_partition_fields' must be an object")
        level = config.get("compression_level")
        s3 = S3Settings(
            bucket=bucket,
            region=_text(config, "region") or None,
            endpoint_url=_text(config, "endpoint_url") or None,
            access_key_id=_text(config, "aws_access_key_id") or None,
            secret_access_key=_text(config, "aws_secret_access_key") or None,
            session_token=_text(config, "aws_session_token") or None,
            profile=_text(config, "aws_profile") or None,
            addressing_style=style,
            sse=sse,
            sse_kms_key_id=kms_key,
            max_attempts=_number(config, "s3_max_attempts", 5),
            connect_timeout=_number(config, "s3_connect_timeout_seconds", 10),
            read_timeout=_number(config, "s3_read_timeout_seconds", 60),
        )
        if bool(s3.access_key_id) != bool(s3.secret_access_key):
            raise ConfigError(
                "settings 'aws_access_key_id' and 'aws_secret_access_key' must be set together"
            )
        return cls(
            s3=s3,
            client_id=client_id,
            prefix=_text(config, "prefix").strip("/"),
            key_template=_text(config, "key_template", DEFAULT_KEY_TEMPLATE),
            partition_template=_text(config, "partition_template", DEFAULT_PARTITION_TEMPLATE),
            staging_prefix=_text(config, "staging_prefix", "_staging").strip("/"),
            partition_field=_text(config, "partition_field"),
            stream_partition_fields={str(k): str(v or "") for k, v in per_stream.items()},
            compression=compression,
            compression_level=(
                None if level in (None, "") else _number(config, "compression_level", 0, -7)
            ),
            batch_max_rows=_number(config, "batch_max_rows", 500_000),
            batch_max_bytes=_number(config, "batch_max_bytes", DEFAULT_BATCH_MAX_BYTES),
            batch_max_age_seconds=_number(config, "batch_max_age_seconds", 300),
            add_lineage_columns=_flag(config, "add_lineage_columns", True),
            source_system=_text(config, "source_system"),
            validate_records=_flag(config, "validate_records", False),
            write_audit=_flag(config, "write_audit", True),
            run_lease_seconds=_number(config, "run_lease_seconds", 300, 10),
        )


def _new_run_id() -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


_P = th.Property
CONFIG_SCHEMA = th.PropertiesList(
    _P("bucket", th.StringType, required=True, description="S3 bucket to land Parquet in."),
    _P(
        "client_id",
        th.StringType,
        required=True,
        description="Client company id (e.g. `acme`): second level of every key and the "
        "`_client_id` lineage value. Letters, digits, `_ . -`; must not start with `_`.",
    ),
    _P(
        "prefix",
        th.StringType,
        default="",
        description="Key prefix inside the bucket (first level of every key).",
    ),
    _P("region", th.StringType, description="S3 region (default: the AWS chain's)."),
    _P(
        "endpoint_url",
        th.StringType,
        description="S3 API endpoint of an S3-compatible store, e.g. `http://127.0.0.1:9000` "
        "(empty for AWS).",
    ),
    _P(
        "aws_access_key_id",
        th.StringType,
        secret=True,
        description="Access key id (empty: standard AWS credential chain).",
    ),
    _P("aws_secret_access_key", th.StringType, secret=True, description="Secret access key."),
    _P(
        "aws_session_token",
        th.StringType,
        secret=True,
        description="Session token for temporary credentials.",
    ),
    _P("aws_profile", th.StringType, description="Named AWS profile to use instead of keys."),
    _P(
        "s3_addressing_style",
        th.StringType,
        default="auto",
        allowed_values=["auto", "path", "virtual"],
        description="Bucket addressing: `auto`, `path` (most S3-compatible stores) or `virtual`.",
    ),
    _P(
        "sse",
        th.StringType,
        description="Server-side encryption of every object: empty, `AES256` or `aws:kms`.",
    ),
    _P(
        "sse_kms_key_id",
        th.StringType,
        description="KMS key id or ARN for `sse: aws:kms` (empty: the bucket's default key).",
    ),
    _P(
        "compression",
        th.StringType,
        default="zstd",
        allowed_values=list(COMPRESSIONS),
        description="Parquet compression codec: `zstd`, `snappy`, `gzip` or `none`.",
    ),
    _P("compression_level", th.IntegerType, description="Codec level (empty: codec default)."),
    _P(
        "key_template",
        th.StringType,
        default=DEFAULT_KEY_TEMPLATE,
        description="Template of data object keys. Fields: `{prefix}`, `{client}`, `{stream}`, "
        "`{partition}`, `{run_id}`, `{batch}`, `{part}`, `{run_date}`; `{client}`, `{stream}`, "
        "`{run_id}`, `{batch}` and `{part}` are required (unique names, nothing overwritten). "
        "Empty segments are dropped.",
    ),
    _P(
        "partition_template",
        th.StringType,
        default=DEFAULT_PARTITION_TEMPLATE,
        description="Hive-style partition path from the partition date. Fields: `{year}`, "
        "`{month}`, `{day}`; e.g. `dt={year}-{month}-{day}` or `year={year}/month={month}`.",
    ),
    _P(
        "partition_field",
        th.StringType,
        default="",
        description="Default date/date-time record field whose (UTC) date partitions every "
        "stream; `@bookmark` = the stream's replication key from its SCHEMA message; empty or "
        "`@run_date` = the run date. Streams without that field use the run date.",
    ),
    _P(
        "stream_partition_fields",
        th.ObjectType(additional_properties=th.StringType),
        description="Per-stream partition field, overriding `partition_field` "
        '(e.g. `{"orders": "order_date", "items": "@run_date"}`); a field that is '
        "missing or not a date is an error.",
    ),
    _P(
        "staging_prefix",
        th.StringType,
        default="_staging",
        description="Folder under `prefix` for staged files, journals and run leases "
        "(outside every client's data tree).",
    ),
    _P(
        "batch_max_rows",
        th.IntegerType,
        default=500_000,
        description="Flush a stream's buffer at this many records.",
    ),
    _P(
        "batch_max_bytes",
        th.IntegerType,
        default=DEFAULT_BATCH_MAX_BYTES,
        description="Flush a stream's buffer at this many bytes of record JSON.",
    ),
    _P(
        "batch_max_age_seconds",
        th.IntegerType,
        default=300,
        description="Flush a stream's buffer when its oldest record is this old (checked as "
        "messages arrive), so STATE keeps moving for slow streams.",
    ),
    _P(
        "add_lineage_columns",
        th.BooleanType,
        default=True,
        description=(
            "Add `_client_id`, `_run_id`, `_extracted_at` (the RECORD's time_extracted) "
            "and `_loaded_at` columns to every row."
        ),
    ),
    _P(
        "source_system",
        th.StringType,
        description="If set, also add a `_source_system` lineage column with this value.",
    ),
    _P(
        "validate_records",
        th.BooleanType,
        default=False,
        description="Validate each record against its JSON schema (slow; numbers are "
        "checked as exact decimals; a mismatch stops the run with one clear error).",
    ),
    _P(
        "write_audit",
        th.BooleanType,
        default=True,
        description="Write one audit JSON object per run and stream under "
        "`{prefix}/{client}/_audit/`.",
    ),
    _P(
        "run_lease_seconds",
        th.IntegerType,
        default=300,
        description="A run whose lease was not renewed for this long counts as dead and its "
        "unfinished batches are rolled back by the next run of the same client.",
    ),
    _P(
        "s3_max_attempts",
        th.IntegerType,
        default=5,
        description="Attempts per S3 request (retries with backoff) before the run fails.",
    ),
    _P("s3_connect_timeout_seconds", th.IntegerType, default=10, description="S3 connect timeout."),
    _P("s3_read_timeout_seconds", th.IntegerType, default=60, description="S3 read timeout."),
).to_dict()


class TargetS3(Target):
    """Lands Singer streams as Parquet in S3-compatible storage, exactly once."""

    name = "target-s3"
    config_jsonschema = CONFIG_SCHEMA
    default_sink_class = ParquetSink
    message_reader_class = FastSingerReader
    capabilities: t.ClassVar[list] = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
        PluginCapabilities.BATCH,
        TargetCapabilities.VALIDATE_RECORDS,
    ]

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Read settings; nothing touches S3 until the first message."""
        self.bookmarks: dict[str, list] = {}
        self.routes: dict[str, ParquetSink] = {}
        self.state_seq = 0
        super().__init__(*args, **kwargs)
        self.settings = Settings.from_config(self.config)
        self.run_id = _new_run_id()
        self.started_at = dt.datetime.now(dt.UTC)
        self.layout = Layout(
            prefix=self.settings.prefix,
            client=self.settings.client_id,
            run_id=self.run_id,
            run_date=self.started_at.date(),
            key_template=self.settings.key_template,
            partition_template=self.settings.partition_template,
            staging_prefix=self.settings.staging_prefix,
        )
        self.storage = Storage(self.settings.s3)
        self.publisher = Publisher(self.storage, self.layout, self.settings.run_lease_seconds)
        self._started = False
        self._live = False  # bucket checked, lease written
        self._finished = False
        self._pending_states: list[tuple[int, dict]] = []
        self._last_emitted: dict | None = None
        self._all_sinks: list[ParquetSink] = []
        self._streams_seen: dict[str, None] = {}
        self._tick = 0
        self._worker = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="flush")
        self._inflight: tuple[int, cf.Future] | None = None
        if isinstance(self.message_reader, FastSingerReader):
            self.message_reader.target = self

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict) -> None:
        """Stream maps and flattening only; metadata/load-method settings do not apply."""
        PluginBase.append_builtin_config.__func__(cls, config_jsonschema)  # type: ignore[attr-defined]

    # --- run lifecycle --------------------------------------------------------------

    def ensure_started(self) -> None:
        """Check the bucket, write the run lease, roll back dead runs (once)."""
        if self._started:
            return
        self._started = True
        widen_stdin_pipe()
        self.logger.info(
            "Run %s for client '%s' into s3://%s/%s",
            self.run_id,
            self.settings.client_id,
            self.settings.s3.bucket,
            self.settings.prefix,
        )
        self.publisher.start()
        self._live = True

    def process_endofpipe(self) -> None:
        """Load what the input's last STATE covers, emit that STATE, audit.

        Records after the last STATE are not loaded when the input had STATE
        messages: a tap that ends normally covers its records with a final STATE, so
        such records come from a tap that stopped early (killed, failed), which sends
        them again from that STATE; loading them now would duplicate them. Input
        without any STATE (no bookmarks) is loaded whole.
        """
        self.ensure_started()
        uncovered = 0
        if self.state_seq:
            uncovered = sum(sink.drop_after_state(self.state_seq) for sink in self._all_sinks)
        for sink in list(self._all_sinks):
            if sink.rows:
                self.flush(sink, emit=False)
        self.wait_inflight()
        self._worker.shutdown(wait=True)
        if self.state_seq:
            self._emit_covered()
            removed = self.publisher.rollback_pending() if self.publisher.pending else 0
            if uncovered or removed:
                self.logger.warning(
                    "%d record(s) arrived after the last STATE and were not loaded (%d "
                    "file(s) removed): the input ended without covering them, and the tap "
                    "sends them again from that STATE",
                    uncovered,
                    removed,
                )
        else:
            self.publisher.commit(None)
        self._finished = True
        self.publisher.close(success=True)
        self._audit("succeeded", None)

    def fail(self, error: str) -> None:
        """Best-effort cleanup after an error: roll back uncommitted batches, audit."""
        if not self._live or self._finished:
            return
        self._finished = True
        if self._inflight is not None:
            with contextlib.suppress(BaseException):
                self._inflight[1].result()
            self._inflight = None
        self._worker.shutdown(wait=True)
        try:
            removed = self.publisher.rollback_pending()
            if removed:
                self.logger.info("Removed %d file(s) not covered by an emitted STATE", removed)
        except TargetS3Error as exc:
            self.logger.info("Unfinished batches stay for the next run to roll back: %s", exc)
        try:
            self.publisher.close(success=False)
        except Exception:
            self.logger.debug("closing after failure", exc_info=True)
        try:
            self._audit("failed", error)
        except TargetS3Error as exc:
            self.logger.info("Could not write the audit record: %s", exc)

    def _audit(self, status: str, error: str | None) -> None:
        finished = dt.datetime.now(dt.UTC)
        duration = round((finished - self.started_at).total_seconds(), 3)
        streams = list(dict.fromkeys([*self._streams_seen, *self.publisher.totals]))
        for stream in streams:
            totals = self.publisher.totals.get(stream)
            record = {
                "run_id": self.run_id,
                "client_id": self.settings.client_id,
                "stream": stream,
                "rows": totals.rows if totals else 0,
                "files": totals.files if totals else 0,
                "bytes": totals.bytes if totals else 0,
                "duration_seconds": duration,
                "status": status,
                "error": error,
                "started_at": self.started_at.isoformat(),
                "finished_at": finished.isoformat(),
            }
            if self.settings.write_audit:
                self.storage.put_json(self.layout.audit_key(stream), record)
            self.logger.info(
                "Summary %s: stream=%s rows=%d files=%d bytes=%d duration=%.1fs status=%s",
                self.run_id,
                stream,
                record["rows"],
                record["files"],
                record["bytes"],
                duration,
                status,
            )

    # --- messages -------------------------------------------------------------------

    def _process_schema_message(self, message_dict: dict) -> None:
        stream = message_dict.get("stream")
        self._assert_line_requires(message_dict, requires={"stream", "schema"})
        self._assert_line_requires(message_dict["schema"], requires={"properties"})
        maps = self.mapper.stream_maps.get(stream)
        if maps and (
            maps[0].raw_schema != message_dict["schema"]
            or maps[0].raw_key_properties != message_dict.get("key_properties")
        ):
            for stream_map in maps:
                sink = self._sinks_active.get(stream_map.stream_alias)
                if isinstance(sink, ParquetSink) and sink.rows:
                    self.flush(sink, emit=False)
            self.wait_inflight()  # the old schema version is fully published first
            self._emit_covered()
        self.bookmarks[stream] = list(message_dict.get("bookmark_properties") or [])
        self._streams_seen.setdefault(stream, None)
        super()._process_schema_message(message_dict)
        self._route(stream)

    def _route(self, stream: str) -> None:
        """Use the raw fast path when records land unchanged in one sink."""
        maps = self.mapper.stream_maps.get(stream) or []
        sink = self._sinks_active.get(stream)
        fast = (
            len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and maps[0].stream_alias == stream
            and not maps[0].flattening_enabled
            and not self.settings.validate_records
            and isinstance(sink, ParquetSink)
        )
        if fast:
            self.routes[stream] = sink  # type: ignore[assignment]
        else:
            self.routes.pop(stream, None)
        for stream_map in maps:
            active = self._sinks_active.get(stream_map.stream_alias)
            if isinstance(active, ParquetSink) and active not in self._all_sinks:
                self._all_sinks.append(active)
            self._streams_seen.setdefault(stream_map.stream_alias, None)

    def _process_record_message(self, message_dict: dict) -> None:
        """Per-record path: stream maps, flattening or validation are configured."""
        self._assert_line_requires(message_dict, requires={"stream", "record"})
        stream = message_dict["stream"]
        if stream not in self.mapper.stream_maps:
            self._assert_sink_exists(stream)
        for stream_map in self.mapper.stream_maps[stream]:
            record = stream_map.transform(copy.copy(message_dict["record"]))
            if record is None:
                continue
            self._assert_sink_exists(stream_map.stream_alias)
            sink = self.get_sink(stream_map.stream_alias, record=record)
            if self.settings.validate_records:
                sink.validate(record)
            self.append_line(sink, record_line(record))  # type: ignore[arg-type]

    def _process_batch_message(self, message_dict: dict) -> None:
        """Records in files (BATCH): each line goes the way of a RECORD line."""
        self._assert_line_requires(message_dict, requires={"stream", "encoding", "manifest"})
        stream = message_dict["stream"]
        self._assert_sink_exists(stream)
        sink = self.routes.get(stream)
        for url in message_dict["manifest"]:
            for lines, count in record_chunks(stream, url, message_dict["encoding"]):
                if sink is not None:
                    self.append_lines(sink, lines, count)
                else:
                    for line in lines.splitlines():
                        message = json_decoder.decode(line)
                        self._process_record_message({**message, "stream": stream})
            with contextlib.suppress(OSError):
                local_path(url).unlink()

    def append_line(self, sink: ParquetSink, line: bytes) -> None:
        """Buffer one RECORD message line; flush on size; check ages now and then."""
        self.append_lines(sink, line if line[-1:] == b"\n" else line + b"\n", 1)

    def append_lines(self, sink: ParquetSink, lines: bytes, count: int) -> None:
        """Buffer `count` newline-terminated RECORD message lines; flush on size or rows."""
        while count:
            room = sink.max_rows - sink.rows
            if count > room > 0:  # the rows that fit go into this batch
                cut = _offset_after_lines(lines, room)
                self.append_lines(sink, lines[:cut], room)
                lines, count = lines[cut:], count - room
                continue
            if not sink.rows:
                sink.first_state_seq = self.state_seq
                sink.first_at = time.monotonic()
            sink.buffer += lines
            sink.rows += count
            sink.last_state_seq = self.state_seq
            if sink.rows >= sink.max_rows or len(sink.buffer) >= sink.max_bytes:
                self.flush(sink, at_state=True)
            self._tick += count
            if self._tick >= 2000:
                self._tick = 0
                self._flush_old()
            return

    def _process_state_message(self, message_dict: dict) -> None:
        self._assert_line_requires(message_dict, requires={"value"})
        self.state_seq += 1
        self._pending_states.append((self.state_seq, message_dict["value"]))
        for sink in self._all_sinks:
            sink.mark_state(self.state_seq)
        self._flush_old()
        self._emit_covered()

    def _process_activate_version_message(self, message_dict: dict) -> None:
        self.logger.info(
            "ACTIVATE_VERSION for '%s' ignored: files are append-only",
            message_dict.get("stream"),
        )

    # --- flushing and STATE -----------------------------------------------------------

    def _flush_old(self) -> None:
        limit = self.settings.batch_max_age_seconds
        now = time.monotonic()
        for sink in list(self._all_sinks):
            if sink.rows and now - sink.first_at >= limit:
                self.logger.info(
                    "Stream '%s': flushing records older than %ds", sink.stream_name, limit
                )
                self.flush(sink, emit=False)

    def flush(self, sink: Sink, *, emit: bool = True, at_state: bool = False) -> None:
        """Hand one sink's buffer to the background publisher; emit covered STATEs.

        At most one batch is converted and uploaded at a time, in a worker thread,
        while the main thread keeps reading input; memory stays bounded by two
        batches. A batch still in flight blocks every STATE after its first record.
        """
        if not isinstance(sink, ParquetSink) or not sink.rows:
            return
        self.ensure_started()
        data, rows, first, last = sink.take_buffer(at_state=at_state)
        batch = self.publisher.next_batch_number()
        self.wait_inflight()
        future = self._worker.submit(self._publish, sink, data, rows, batch, (first, last))
        self._inflight = (first, future)
        if emit:
            self._emit_covered()

    def _publish(
        self, sink: ParquetSink, data: bytearray, rows: int, batch: int, seqs: tuple[int, int]
    ) -> Batch | None:
        """Worker thread: convert, write Parquet, stage, journal and publish."""
        started = time.monotonic()
        files, count = sink.to_files(data, rows, batch)
        del data
        published = None
        if files:
            published = self.publisher.publish(sink.stream_name, batch, files, count, seqs)
        self.logger.info(
            "Stream '%s': batch %d, %d rows in %d file(s), %.2fs",
            sink.stream_name,
            batch,
            count,
            len(files),
            time.monotonic() - started,
        )
        return published

    def wait_inflight(self, *, block: bool = True) -> None:
        """Collect the batch in flight (re-raising its error) once it is done."""
        if self._inflight is None:
            return
        future = self._inflight[1]
        if not block and not future.done():
            return
        self._inflight = None
        published = future.result()
        if published is not None:
            self.publisher.pending.append(published)

    def _emit_covered(self) -> None:
        """Emit the newest STATE that splits the data cleanly.

        STATE number k is ready when every record before it is published (no buffer
        holds a record from before it) and no published batch holds records from both
        sides of it, so that rolling back uncommitted batches never removes data an
        emitted STATE covers.
        """
        self.wait_inflight(block=False)
        if not self._pending_states:
            return
        buffered = [s.first_state_seq for s in self._all_sinks if s.rows]
        if self._inflight is not None:
            buffered.append(self._inflight[0])
        oldest = min(buffered) if buffered else None
        ready = [
            (seq, v)
            for seq, v in self._pending_states
            if (oldest is None or seq <= oldest) and not self.publisher.straddles(seq)
        ]
        if not ready:
            return
        seq, value = ready[-1]
        self.publisher.commit(seq)
        self._pending_states = [(s, v) for s, v in self._pending_states if s > seq]
        self._emit(value)

    def _emit(self, value: dict) -> None:
        if value == self._last_emitted:
            return
        self._last_emitted = copy.deepcopy(value)
        self._write_state_message(value)

    # --- CLI --------------------------------------------------------------------------

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:  # pragma: no cover
        """Stop without emitting STATE for unflushed data; the next run resends it."""
        _ = frame
        msg = f"received signal {signum}; stopping without publishing buffered records"
        raise TerminatedError(msg)

    @classmethod
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: t.Any = None,
        file_input: t.IO[str] | None = None,
    ) -> None:
        """Run the target; any error is one clear log line and exit status 1."""
        if about:
            super().invoke(about=about, about_format=about_format, config=config)
            return
        cls.print_version(print_fn=cls.logger.info)
        target: TargetS3 | None = None
        try:
            target = cls(
                config=config.config if config else {},
                validate_config=True,
                parse_env_config=config.parse_env if config else False,
            )
            target.listen(getattr(file_input, "buffer", file_input))
        except ConfigValidationError as exc:
            for error in exc.errors:
                cls.logger.error("target-s3 setting error: %s", error)
            exit_failed(1)
        except BaseException as exc:
            if isinstance(exc, SystemExit) and not exc.code:
                raise
            message = _one_line(exc)
            if target is not None:
                target.fail(message)
            cls.logger.error("target-s3 failed: %s", message)
            cls.logger.debug("details", exc_info=True)
            exit_failed(1)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, TargetS3Error):
        text = str(exc)
    elif isinstance(exc, KeyboardInterrupt):
        text = "interrupted"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:1000]


if __name__ == "__main__":
    TargetS3.cli()


def _offset_after_lines(data: bytes, lines: int) -> int:
    """The offset just after the first `lines` newline-terminated lines of `data`."""
    offset = 0
    for _ in range(lines):
        offset = data.index(b"\n", offset) + 1
    return offset
