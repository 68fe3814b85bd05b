"""The run audit: one JSON object per stream and run, and a one-line summary.

Written to ``{prefix}/{client}/_audit/run_date={date}/{run_id}-{stream}.json`` at the
end of a run (also on failure, when S3 is reachable); rows, rejected rows, files and
bytes count committed data only; the schema contract's key and the changes this run
made to it are listed.
"""

from __future__ import annotations

import datetime as dt
import logging
import typing as t

if t.TYPE_CHECKING:
    from target_s3.layout import Layout
    from target_s3.publish import StreamTotals
    from target_s3.storage import Storage

logger = logging.getLogger("target-s3")


def write_audit(
    storage: Storage | None,
    layout: Layout,
    *,
    streams: t.Iterable[str],
    totals: t.Mapping[str, StreamTotals],
    started_at: dt.datetime,
    status: str,
    error: str | None,
    schema_changes: t.Mapping[str, list[dict]] | None = None,
    contract_key: t.Callable[[str], str] | None = None,
) -> None:
    """Log a summary per stream; store the audit records unless ``storage`` is None.

    ``schema_changes``: the additive changes this run made to each stream's schema
    contract (``contract_key(stream)`` says where it lives).
    """
    schema_changes = schema_changes or {}
    finished = dt.datetime.now(dt.UTC)
    duration = round((finished - started_at).total_seconds(), 3)
    for stream in dict.fromkeys([*streams, *totals]):
        counts = totals.get(stream)
        record = {
            "run_id": layout.run_id,
            "client_id": layout.client,
            "stream": stream,
            "rows": counts.rows if counts else 0,
            "files": counts.files if counts else 0,
            "bytes": counts.bytes if counts else 0,
            "rejected_rows": counts.rejected if counts else 0,
            "schema_contract": contract_key(stream) if contract_key else None,
            "schema_changes": schema_changes.get(stream, []),
            "duration_seconds": duration,
            "status": status,
            "error": error,
            "started_at": started_at.isoformat(),
            "finished_at": finished.isoformat(),
        }
        if storage is not None:
            storage.put_json(layout.audit_key(stream), record)
        logger.info(
            "Summary %s: stream=%s rows=%d rejected=%d files=%d bytes=%d schema_changes=%d "
            "duration=%.1fs status=%s",
            layout.run_id,
            stream,
            record["rows"],
            record["rejected_rows"],
            record["files"],
            record["bytes"],
            len(record["schema_changes"]),
            duration,
            status,
        )
