"""The staged publish / journal protocol that makes landing exactly-once.

Protocol for one batch (all files of one stream flushed together):

1. upload every Parquet file to the run's staging area
   ``{prefix}/{staging_prefix}/{client}/{run_id}/data/…`` (outside the data tree);
2. write the batch journal ``…/{run_id}/journal/{batch}.json`` listing the final and
   staged keys;
3. publish each file by server-side copy to its final key (each S3 object appears
   atomically, fully written or not at all), then delete the staged copies;
4. keep the journal until a STATE covering every record of the batch is emitted;
   the journal is deleted just before that STATE line is written.

A run that dies before step 4 leaves its journals. The next run for the client
deletes the final keys they list and the run's staging area ("rollback"), because
the STATE covering that data never reached the orchestrator, which will send the
data again. A run is considered dead when its lease is missing, expired, or names a
process on this host that no longer exists; leases of live runs are renewed by a
background thread, so concurrent runs never roll each other back.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import logging
import os
import socket
import threading
import typing as t
from dataclasses import dataclass

if t.TYPE_CHECKING:
    from target_s3.layout import Layout
    from target_s3.storage import Storage

logger = logging.getLogger("target-s3")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Batch:
    """One published batch whose journal is kept until a STATE covers it."""

    number: int
    stream: str
    journal_key: str
    first_state_seq: int
    last_state_seq: int
    rows: int
    files: int
    bytes: int
    rejected: int = 0


@dataclass
class StreamTotals:
    """Committed totals of one stream for the run audit."""

    rows: int = 0
    files: int = 0
    bytes: int = 0
    rejected: int = 0  # rows quarantined to _rejected/


class Publisher:
    """Runs the staged publish protocol for one target run."""

    def __init__(self, storage: Storage, layout: Layout, lease_seconds: float) -> None:
        """Prepare; nothing is written until ``start``."""
        self.storage = storage
        self.layout = layout
        self.lease_seconds = lease_seconds
        self.pending: list[Batch] = []
        self.totals: dict[str, StreamTotals] = {}
        self._batch = 0
        self._pool = cf.ThreadPoolExecutor(max_workers=8, thread_name_prefix="s3")
        self._stop = threading.Event()
        self._lease_thread: threading.Thread | None = None
        self._host = socket.gethostname()

    # --- run lifecycle ------------------------------------------------------------

    def start(self) -> None:
        """Check the bucket, write this run's lease and roll back dead runs."""
        self.storage.check_bucket()
        self._write_lease()
        self._lease_thread = threading.Thread(target=self._renew, name="lease", daemon=True)
        self._lease_thread.start()
        self.recover()

    def close(self, *, success: bool) -> None:
        """Stop renewing the lease; on success remove this run's staging area."""
        self._stop.set()
        if self._lease_thread is not None:
            self._lease_thread.join(timeout=5)
        self._pool.shutdown(wait=True)
        if success:
            keys = [o["Key"] for o in self.storage.list_keys(self.layout.run_staging())]
            self.storage.delete(keys)

    def _write_lease(self) -> None:
        self.storage.put_json(
            self.layout.lease_key,
            {
                "run_id": self.layout.run_id,
                "host": self._host,
                "pid": os.getpid(),
                "renewed_at": _now().isoformat(),
            },
        )

    def _renew(self) -> None:
        interval = max(1.0, self.lease_seconds / 3)
        while not self._stop.wait(interval):
            try:
                self._write_lease()
            except Exception as exc:
                logger.warning("Could not renew the run lease: %s", exc)

    def _is_alive(self, run_prefix: str) -> bool:
        lease = self.storage.get_json(run_prefix + "lease.json")
        head = self.storage.head(run_prefix + "lease.json") if lease else None
        if not lease or not head:
            return False
        age = (_now() - head["LastModified"]).total_seconds()
        if age > self.lease_seconds:
            return False
        if lease.get("host") == self._host:
            return _pid_alive(int(lease.get("pid") or 0))
        return True

    def recover(self) -> int:
        """Roll back journals of dead runs of this client; returns files removed."""
        removed = 0
        own = self.layout.run_staging()
        for run_prefix in self.storage.list_dirs(self.layout.client_staging):
            if run_prefix == own or self._is_alive(run_prefix):
                continue
            objects = self.storage.list_keys(run_prefix)
            journals = [o["Key"] for o in objects if o["Key"].startswith(run_prefix + "journal/")]
            finals: list[str] = []
            for key in journals:
                doc = self.storage.get_json(key) or {}
                finals.extend(doc.get("final_keys") or [])
            self.storage.delete(finals)
            aborted = self.storage.abort_uploads(run_prefix)
            others = [o["Key"] for o in objects if o["Key"] not in set(journals)]
            self.storage.delete(others)
            self.storage.delete(journals)
            removed += len(finals)
            logger.warning(
                "Rolled back unfinished run %s: removed %d published file(s) whose STATE was "
                "never emitted, %d staged object(s), %d multipart upload(s)",
                run_prefix.rstrip("/").rsplit("/", 1)[-1],
                len(finals),
                len(others),
                aborted,
            )
        return removed

    # --- batches ------------------------------------------------------------------

    def next_batch_number(self) -> int:
        """Run-wide batch counter (part of every file name)."""
        self._batch += 1
        return self._batch

    def publish(
        self,
        stream: str,
        batch: int,
        files: list[tuple[str, bytes]],
        rows: int,
        state_seqs: tuple[int, int],
        *,
        rejected: int = 0,
    ) -> Batch:
        """Stage, journal and publish one batch's files (final key, content)."""
        staged = [self.layout.staged_key(batch, part) for part in range(1, len(files) + 1)]
        finals = [key for key, _ in files]
        list(
            self._pool.map(
                lambda kv: self.storage.put(kv[0], kv[1]),
                zip(staged, [d for _, d in files], strict=True),
            )
        )
        journal = self.layout.journal_key(batch)
        self.storage.put_json(
            journal,
            {
                "run_id": self.layout.run_id,
                "batch": batch,
                "stream": stream,
                "rows": rows,
                "created_at": _now().isoformat(),
                "final_keys": finals,
                "staged_keys": staged,
            },
        )
        list(self._pool.map(lambda sf: self.storage.copy(*sf), zip(staged, finals, strict=True)))
        self.storage.delete(staged)
        size = sum(len(d) for _, d in files)
        return Batch(batch, stream, journal, *state_seqs, rows, len(files), size, rejected)

    def straddles(self, state_seq: int) -> bool:
        """True if a pending batch holds records from both before and after a STATE."""
        return any(b.first_state_seq < state_seq <= b.last_state_seq for b in self.pending)

    def commit(self, state_seq: int | None = None) -> None:
        """Delete journals of batches covered by STATE number ``state_seq`` (all if None).

        A batch is covered when all its records arrived before that STATE.
        """
        covered = [b for b in self.pending if state_seq is None or b.last_state_seq < state_seq]
        if not covered:
            return
        self.storage.delete(b.journal_key for b in covered)
        for b in covered:
            totals = self.totals.setdefault(b.stream, StreamTotals())
            totals.rows += b.rows
            totals.files += b.files
            totals.bytes += b.bytes
            totals.rejected += b.rejected
        ids = {id(b) for b in covered}
        self.pending = [b for b in self.pending if id(b) not in ids]

    def rollback_pending(self) -> int:
        """Remove published files no emitted STATE covers (used when the run fails).

        Reads this run's journals from S3, so a batch that failed half-way through
        publishing is removed too.
        """
        prefix = self.layout.run_staging() + "journal/"
        journals = [o["Key"] for o in self.storage.list_keys(prefix)]
        finals: list[str] = []
        for key in journals:
            doc = self.storage.get_json(key) or {}
            finals.extend(doc.get("final_keys") or [])
        self.storage.delete(finals)
        self.storage.delete(journals)
        self.pending = []
        return len(finals)
