"""The run audit: one JSON object per stream and run, and a one-line summary.

Written to ``{prefix}/{client}/_audit/run_date={date}/{run_id}-{stream}.json`` at the
end of a run (also on failure, when S3 is reachable); rows, files and bytes count
committed data only.
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
) -> None:
    """Log a summary per stream; store the audit records unless ``storage`` is None."""
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
            "duration_seconds": duration,
            "status": status,
            "error": error,
            "started_at": started_at.isoformat(),
            "finished_at": finished.isoformat(),
        }
        if storage is not None:
            storage.put_json(layout.audit_key(stream), record)
        logger.info(
            "Summary %s: stream=%s rows=%d files=%d bytes=%d duration=%.1fs status=%s",
            layout.run_id,
            stream,
            record["rows"],
            record["files"],
            record["bytes"],
            duration,
            status,
        )
