"""One run of the loader: start-up, publishing batches, releasing STATE, the end.

A run starts with the first message: it checks the bucket, writes its lease and
rolls back dead runs of its client (``publish``). Sinks hand it their batches; it
converts and publishes each in one worker thread while input keeps being read (at
most one batch in flight, so memory stays bounded by two batches). STATE messages
go out only as the ``StateGate`` allows. At the end of input it loads what the last
STATE covers; after a failure it removes the files no emitted STATE covers. Either
way it ends with the run audit (``audit``).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime as dt
import logging
import time
import typing as t
import uuid

import pyarrow as pa

from target_s3.audit import write_audit
from target_s3.contract import Contracts
from target_s3.errors import AuditError, TargetS3Error
from target_s3.layout import Layout
from target_s3.publish import Publisher
from target_s3.state_gate import StateGate
from target_s3.storage import Storage

if t.TYPE_CHECKING:
    from target_s3.delta import CurrentTable
    from target_s3.publish import Batch
    from target_s3.settings import Settings

logger = logging.getLogger("target-s3")


class BatchFiles(t.NamedTuple):
    """One converted batch: its files, rows stored, rows quarantined, and the commit to
    make once the files are published (the current-table merge) or None."""

    files: list[tuple[str, bytes]]  # (final key, Parquet bytes)
    rows: int
    rejected: int
    commit: t.Callable[[], None] | None


#: Converts one batch, given its number.
ToFiles = t.Callable[[int], BatchFiles]


class Buffer(t.Protocol):
    """What a run needs of a stream's buffer (a sink)."""

    stream_name: str
    rows: int
    first_state_seq: int
    first_at: float

    def mark_state(self, state_seq: int) -> None:
        """Remember where a STATE fell inside the buffer."""

    def drop_after_state(self, state_seq: int) -> int:
        """Forget the records after the last STATE; returns how many."""

    def flush(self, *, emit: bool = True, at_state: bool = False) -> None:
        """Hand the buffered records to the run as one batch."""


def new_run_id() -> str:
    """A run id: UTC start time and a random suffix (part of every file name)."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


class Run:
    """One run of the loader for one client company."""

    def __init__(self, settings: Settings, write_state: t.Callable[[dict], None]) -> None:
        """Prepare the run; nothing touches S3 until ``start``."""
        # The system allocator hands freed batch memory back at once; Arrow's default
        # pool (mimalloc) keeps it, which raised peak RSS by ~25 % at equal speed.
        pa.set_memory_pool(pa.system_memory_pool())
        self.settings = settings
        self.run_id = new_run_id()
        self.started_at = dt.datetime.now(dt.UTC)
        self.layout = Layout(
            prefix=settings.prefix,
            client=settings.client_id,
            run_id=self.run_id,
            run_date=self.started_at.date(),
            key_template=settings.key_template,
            partition_template=settings.partition_template,
            staging_prefix=settings.staging_prefix,
        )
        self.storage = Storage(settings)
        self.publisher = Publisher(self.storage, self.layout, settings.run_lease_seconds)
        self.gate = StateGate()
        self.contracts = Contracts(self.storage, self.layout)
        self.bookmarks: dict[str, list] = {}  # stream -> SCHEMA bookmark_properties
        self.streams: dict[str, None] = {}  # streams seen, for the audit
        self._buffers: list[Buffer] = []
        self._write_state = write_state
        self._worker = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="flush")
        self._inflight: tuple[int, cf.Future] | None = None  # (first STATE seq, batch)
        self.current: dict[str, CurrentTable] = {}  # table_format delta: stream -> table
        self.snapshots_complete = False  # set at the end of a run whose input is all covered
        self._started = False
        self._live = False  # bucket checked, lease written
        self._finished = False

    def add(self, buffer: Buffer) -> None:
        """Take part in STATE bookkeeping and age checks (every sink, once)."""
        self._buffers.append(buffer)

    def current_table(
        self, stream: str, key_properties: t.Sequence[str] | None, bookmarks: list | None
    ) -> CurrentTable:
        """The stream's current-state table (one per stream, whatever its schema versions)."""
        table = self.current.get(stream)
        if table is None or table.keys != list(key_properties or []):
            # Imported here: deltalake adds ~25 MB to every loader's RSS, and
            # Parquet-only runs never need it.
            from target_s3.delta import CurrentTable

            table = CurrentTable(
                stream,
                key_properties,
                bookmarks,
                settings=self.settings,
                layout=self.layout,
            )
            self.current[stream] = table
        return table

    def saw_stream(self, stream: str) -> None:
        """Note a stream for the audit (also when it brings no records)."""
        self.streams.setdefault(stream, None)

    def start(self) -> None:
        """Check the bucket, write the run lease, roll back dead runs (once)."""
        if self._started:
            return
        self._started = True
        logger.info(
            "Run %s for client '%s' into s3://%s/%s",
            self.run_id,
            self.settings.client_id,
            self.settings.bucket,
            self.settings.prefix,
        )
        self.publisher.start()
        self._live = True

    # --- batches ------------------------------------------------------------------

    def submit(
        self, stream: str, to_files: ToFiles, state_seqs: tuple[int, int], *, emit: bool
    ) -> None:
        """Publish one batch in the worker thread; then emit what that releases.

        A batch still in flight holds back every STATE after its first record.
        """
        self.start()
        batch = self.publisher.next_batch_number()
        self.wait_inflight()
        future = self._worker.submit(self._publish, stream, to_files, batch, state_seqs)
        self._inflight = (state_seqs[0], future)
        if emit:
            self.release_states()

    def _publish(
        self, stream: str, to_files: ToFiles, batch: int, state_seqs: tuple[int, int]
    ) -> Batch | None:
        """Worker thread: convert, write Parquet, stage, journal and publish."""
        started = time.monotonic()
        files, count, rejected, commit = to_files(batch)
        published = None
        if files:
            published = self.publisher.publish(
                stream, batch, files, count, state_seqs, rejected=rejected
            )
            if commit is not None:
                commit()
        logger.info(
            "Stream '%s': batch %d, %d rows in %d file(s), %.2fs",
            stream,
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

    def flush_old(self) -> None:
        """Flush every buffer whose oldest record is ``batch_max_age_seconds`` old."""
        limit = self.settings.batch_max_age_seconds
        now = time.monotonic()
        for buffer in list(self._buffers):
            if buffer.rows and now - buffer.first_at >= limit:
                logger.info(
                    "Stream '%s': flushing records older than %ds", buffer.stream_name, limit
                )
                buffer.flush(emit=False)

    def schema_changing(self, buffers: t.Iterable[Buffer]) -> None:
        """Publish the buffers of a stream's old schema version before the new one."""
        for buffer in buffers:
            if buffer.rows:
                buffer.flush(emit=False)
        self.wait_inflight()
        self.release_states()

    # --- STATE --------------------------------------------------------------------

    def state_received(self, value: dict) -> None:
        """A STATE message: mark it in every buffer, then emit what may go out."""
        seq = self.gate.received(value)
        for buffer in self._buffers:
            buffer.mark_state(seq)
        self.flush_old()
        self.release_states()

    def release_states(self) -> None:
        """Emit the newest STATE the gate lets out, committing the batches it covers."""
        self.wait_inflight(block=False)
        if not self.gate.holding:
            return
        held = [b.first_state_seq for b in self._buffers if b.rows]
        if self._inflight is not None:
            held.append(self._inflight[0])
        ready = self.gate.ready(min(held) if held else None, self.publisher.straddles)
        if ready is None:
            return
        seq, value = ready
        self.publisher.commit(seq)
        if self.gate.emitted(seq, value):
            self._write_state(value)

    # --- the end ------------------------------------------------------------------

    def finish(self) -> None:
        """End of input: load what the last STATE covers, emit that STATE, audit.

        Records after the last STATE are not loaded when the input had STATE
        messages: a tap that ends normally covers its records with a final STATE, so
        such records come from a tap that stopped early (killed, failed), which sends
        them again from that STATE; loading them now would duplicate them. Input
        without any STATE (no bookmarks) is loaded whole.
        """
        self.start()
        last = self.gate.seq
        uncovered = sum(b.drop_after_state(last) for b in self._buffers) if last else 0
        self.snapshots_complete = not uncovered
        for buffer in list(self._buffers):
            if buffer.rows:
                buffer.flush(emit=False)
        self.wait_inflight()
        self._worker.shutdown(wait=True)
        if self.snapshots_complete:
            for table in self.current.values():
                table.complete(self.publisher.next_batch_number())
        if last:
            self.release_states()
            removed = self.publisher.rollback_pending() if self.publisher.pending else 0
            if uncovered or removed:
                logger.warning(
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
        for table in self.current.values():
            table.vacuum()
        try:
            self._audit("succeeded", None)
        except TargetS3Error as exc:
            raise self._audit_failed(exc) from None

    def _audit_failed(self, exc: TargetS3Error) -> AuditError:
        """The one line for an audit write refused after every batch was committed."""
        rows = sum(t.rows for t in self.publisher.totals.values())
        if self.gate.emitted_any:
            state = "the final STATE was emitted, so nothing is loaded again"
        else:
            state = "the input had no STATE, so none was emitted"
        msg = (
            f"the run audit could not be written ({exc}); the data is committed and safe "
            f"({rows} row(s) published, no batch left uncommitted) and {state}; "
            "only the audit record of this run is missing"
        )
        return AuditError(msg)

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
                logger.info("Removed %d file(s) not covered by an emitted STATE", removed)
        except TargetS3Error as exc:
            logger.info("Unfinished batches stay for the next run to roll back: %s", exc)
        try:
            self.publisher.close(success=False)
        except Exception:
            logger.debug("closing after failure", exc_info=True)
        try:
            self._audit("failed", error)
        except TargetS3Error as exc:
            logger.info("Could not write the audit record: %s", exc)

    def _audit(self, status: str, error: str | None) -> None:
        write_audit(
            self.storage if self.settings.write_audit else None,
            self.layout,
            streams=self.streams,
            totals=self.publisher.totals,
            started_at=self.started_at,
            status=status,
            error=error,
            schema_changes=self.contracts.changes,
            contract_key=self.contracts.key,
        )
