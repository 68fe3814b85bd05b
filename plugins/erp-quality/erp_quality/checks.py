"""The checks: row counts against the previous check, null rates, duplicate keys, freshness,
and one type per column across a table's files.

A stream with a current-state table (target-s3 `table_format: delta`) is checked on
that table: one row per key, so a key seen twice is a duplicate whatever its version,
and re-read versions (lookback) never count. Otherwise the history is checked: a key
and version landed twice is a duplicate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from erp_quality import physical
from erp_quality.lake import Lake
from erp_quality.rules import Rules, StreamRule

OK, WARNING, ERROR = "ok", "warning", "error"


@dataclass
class Finding:
    """One check's outcome on one stream."""

    stream: str
    check: str
    level: str
    detail: str


@dataclass
class StreamMetrics:
    """What the checks measured on one stream."""

    stream: str
    rows: int
    null_rates: dict[str, float]
    distinct_keys: int | None = None  # None: a key column is missing
    duplicate_versions: int | None = None
    table: str = "history"  # or "current"
    newest: str | None = None  # newest version_column value (ISO), if a timestamp


DELETED = "_sdc_deleted_at"


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _distinct(lake: Lake, table: str, columns: list[str]) -> int:
    listed = ", ".join(_quoted(c) for c in columns)
    return int(lake.query(f"SELECT count(*) FROM (SELECT DISTINCT {listed} FROM {table})")[0][0])


def measure(lake: Lake, stream: str, rule: StreamRule) -> tuple[StreamMetrics, list[Finding]]:
    """Measure one stream; columns the rules name but the table lacks are errors."""
    current = lake.has_current(stream)
    table = lake.current_table(stream) if current else lake.table(stream)
    columns = set(lake.columns(stream, table))
    named = dict.fromkeys([*rule.primary_key, *rule.not_null])
    findings = [
        Finding(stream, "columns", ERROR, f"column {c!r} is missing")
        for c in named
        if c not in columns
    ]
    nulls = [c for c in rule.not_null if c in columns]
    # Delete records (Singer `_sdc_deleted_at`) carry only their key: not counted as nulls.
    live = f" FILTER (WHERE {DELETED} IS NULL)" if DELETED in columns else ""
    null_sql = "".join(f", avg(({_quoted(c)} IS NULL)::DOUBLE){live}" for c in nulls)
    (row,) = lake.query(f"SELECT count(*){null_sql} FROM {table}")
    metrics = StreamMetrics(
        stream=stream,
        rows=int(row[0]),
        null_rates={c: float(v or 0.0) for c, v in zip(nulls, row[1:], strict=True)},
        table="current" if current else "history",
    )
    if all(c in columns for c in rule.primary_key):  # else the missing key is the finding
        version = [rule.version_column] if rule.version_column in columns and not current else []
        metrics.distinct_keys = _distinct(lake, table, rule.primary_key)
        metrics.duplicate_versions = metrics.rows - _distinct(
            lake, table, rule.primary_key + version
        )
    if rule.version_column in columns:
        metrics.newest = _newest(lake, table, rule.version_column)
    return metrics, findings


def _newest(lake: Lake, table: str, column: str) -> str | None:
    """The newest value of a date/timestamp column as UTC ISO text (None: other types)."""
    newest = f"max({_quoted(column)})"
    (kind,) = lake.query(f"SELECT typeof({newest}) FROM {table}")[0]
    if not str(kind).startswith(("TIMESTAMP", "DATE")):
        return None
    value = f"{newest}::TIMESTAMP" if str(kind).startswith("DATE") else newest
    (micros,) = lake.query(f"SELECT epoch_us({value}) FROM {table}")[0]
    if micros is None:
        return None
    return (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=micros)).isoformat()


def freshness(metrics: StreamMetrics, rules: Rules, now: dt.datetime) -> Finding | None:
    """A warning when the newest version is older than ``freshness_hours``."""
    if rules.freshness_hours is None or metrics.newest is None:
        return None
    age = (now - dt.datetime.fromisoformat(metrics.newest)).total_seconds() / 3600
    if age > rules.freshness_hours:
        detail = (
            f"newest row changed {age:.1f} h ago ({metrics.newest}), "
            f"more than freshness_hours {rules.freshness_hours:g}"
        )
        return Finding(metrics.stream, "freshness", WARNING, detail)
    detail = f"newest row changed {age:.1f} h ago"
    return Finding(metrics.stream, "freshness", OK, detail)


def judge(
    metrics: StreamMetrics, rule: StreamRule, rules: Rules, previous_rows: int | None
) -> list[Finding]:
    """Turn measurements into findings."""
    s = metrics.stream
    out: list[Finding] = []
    if metrics.duplicate_versions and metrics.table == "current":
        detail = f"{metrics.duplicate_versions} keys appear twice in the current table"
        out.append(Finding(s, "duplicates", ERROR, detail))
    elif metrics.duplicate_versions:
        detail = f"{metrics.duplicate_versions} rows landed twice"
        out.append(Finding(s, "duplicates", ERROR, detail))
    elif metrics.duplicate_versions == 0:
        out.append(Finding(s, "duplicates", OK, "every key and version landed once"))
    for column, rate in metrics.null_rates.items():
        if rate > rules.max_null_rate:
            level = ERROR if column in rule.primary_key else WARNING
            out.append(Finding(s, "nulls", level, f"{column}: {rate:.1%} null"))
    if not any(f.check == "nulls" for f in out):
        out.append(Finding(s, "nulls", OK, f"{len(metrics.null_rates)} key columns filled"))
    if previous_rows is None:
        out.append(Finding(s, "row count", OK, f"{metrics.rows} rows (first check)"))
    elif previous_rows and metrics.rows < previous_rows * (1 - rules.max_row_drop):
        drop = 1 - metrics.rows / previous_rows
        detail = f"{metrics.rows} rows, {drop:.0%} fewer than {previous_rows} at the last check"
        out.append(Finding(s, "row count", WARNING, detail))
    else:
        out.append(Finding(s, "row count", OK, f"{metrics.rows} rows (last check {previous_rows})"))
    return out


def column_types(lake: Lake, stream: str) -> Finding:
    """An error when a column has two incompatible types across the stream's files."""
    columns = physical.column_types(lake, stream)
    problems = []
    level = OK
    for column, types in sorted(columns.items()):
        if len(types) < 2:
            continue
        listed = ", ".join(f"{name} in {count} file(s)" for name, (_, count) in types.items())
        if physical.compatible(kind for kind, _ in types.values()):
            problems.append(f"{column}: {listed} (widened; one reader type holds both)")
            level = WARNING if level == OK else level
        else:
            problems.append(f"{column}: {listed} (incompatible: one column with two types)")
            level = ERROR
    if not problems:
        return Finding(stream, "column types", OK, f"{len(columns)} columns, one type each")
    return Finding(stream, "column types", level, "; ".join(problems))


def run_checks(
    lake: Lake, rules: Rules, previous: dict[str, int]
) -> tuple[list[StreamMetrics], list[Finding]]:
    """Check every stream that has data or rules."""
    present = set(lake.streams())
    all_metrics: list[StreamMetrics] = []
    findings: list[Finding] = []
    for stream in sorted(present | set(rules.streams)):
        rule = rules.streams.get(stream)
        if stream not in present:
            findings.append(Finding(stream, "present", WARNING, "no data landed yet"))
            continue
        findings.append(column_types(lake, stream))
        if rule is None:
            findings.append(Finding(stream, "rules", WARNING, "no rules for this stream"))
            continue
        metrics, found = measure(lake, stream, rule)
        all_metrics.append(metrics)
        findings.extend(found)
        findings.extend(judge(metrics, rule, rules, previous.get(stream)))
        fresh = freshness(metrics, rules, dt.datetime.now(dt.UTC))
        if fresh is not None:
            findings.append(fresh)
    return all_metrics, findings


def as_report(run_id: str, metrics: list[StreamMetrics], findings: list[Finding]) -> dict:
    """The JSON document stored beside the data."""
    return {
        "run_id": run_id,
        "status": "failed" if any(f.level == ERROR for f in findings) else "passed",
        "streams": {m.stream: asdict(m) for m in metrics},
        "findings": [asdict(f) for f in findings],
    }
