"""The loader's run audit: one record per run and stream, stored under `_audit/`."""

from __future__ import annotations

from erp_quality.lake import Lake

AUDIT_COLUMNS = ("stream", "status", "rows", "files", "bytes", "duration_seconds", "error")


def audit_records(lake: Lake) -> list[dict]:
    """Every audit record of this client, oldest first."""
    records: list[dict] = []
    for key in lake.keys("_audit"):
        if not key.endswith(".json"):
            continue
        payload = lake.read_json(key)
        items = payload if isinstance(payload, list) else [payload]
        records.extend(item for item in items if isinstance(item, dict))
    return sorted(records, key=lambda r: str(r.get("finished_at") or r.get("started_at") or ""))


def last_run(records: list[dict]) -> tuple[str | None, list[dict]]:
    """The newest run id and its records."""
    if not records:
        return None, []
    run_id = records[-1].get("run_id")
    return run_id, [r for r in records if r.get("run_id") == run_id]
