"""The `meltano (delta)` contender: current-state Delta tables, full load then a merge.

1. `meltano run tap-erp target-s3` with `table_format: delta` from a clean state
   (timed: the row's records/s, peak RSS);
2. the ERP changes `changed` lines (10,000, or a tenth of a small run);
3. the same run again merges them into the current table (timed; the merge
   commits' own execution time is read from the table's history);
4. from the state before step 3, the same changed lines landed with
   `table_format: parquet` into another prefix: the time to land them alone.
The current table must then hold exactly the sandbox's number of lines.
"""

from __future__ import annotations

import json

from contenders import (
    STREAM,
    Bench,
    BenchError,
    RunResult,
    checked,
    expect_rows,
    meltano_bench_env,
)
from deltalake import DeltaTable
from erp_testing.project import MELTANO, ROOT, meltano, state_id
from procmon import Measurement, run_measured

CHANGED_LINES = 10_000
RUN = [MELTANO, "--environment=demo", "run", "tap-erp", "target-s3"]


def changed_lines(bench: Bench) -> int:
    """10,000 changed lines, at most a tenth of the lines (small smoke runs)."""
    return max(1, min(CHANGED_LINES, bench.expected // 10))


def _meltano(*args: str, env: dict[str, str]) -> str:
    result = meltano(*args, env=env, check=False, capture=True)
    if result.returncode != 0:
        msg = f"meltano {' '.join(args)} exited {result.returncode}:\n{result.stderr[-2000:]}"
        raise BenchError(msg)
    return result.stdout


def _run(name: str, env: dict[str, str], bench: Bench) -> Measurement:
    return checked(name, run_measured(RUN, env, cwd=ROOT, timeout=bench.timeout()))


def current_table(bench: Bench, prefix: str) -> DeltaTable:
    """The stream's current-state Delta table."""
    s3 = bench.s3
    options = {
        "AWS_ENDPOINT_URL": s3.endpoint_url,
        "AWS_ACCESS_KEY_ID": s3.access_key_id,
        "AWS_SECRET_ACCESS_KEY": s3.secret_access_key,
        "AWS_REGION": s3.region,
        "AWS_ALLOW_HTTP": "true",
    }
    uri = f"s3://{bench.bucket}/{prefix}/acme/_current/{STREAM}"
    return DeltaTable(uri, storage_options=options)


def merge_seconds(table: DeltaTable, after_version: int) -> float:
    """Execution time of the MERGE commits after a version (from the Delta log)."""
    return sum(
        entry.get("operationMetrics", {}).get("execution_time_ms", 0) / 1000
        for entry in table.history()
        if entry.get("version", -1) > after_version and entry.get("operation") == "MERGE"
    )


def meltano_delta(bench: Bench, index: int) -> RunResult:
    """Full load into current tables, then 10,000 changed lines merged and landed alone."""
    prefix = f"delta-{index}"
    env = meltano_bench_env(bench, prefix)
    env["TARGET_S3_TABLE_FORMAT"] = "delta"
    state = state_id("demo")
    _meltano("state", "clear", "--force", state, env=env)
    full = _run("meltano (delta) full load", env, bench)
    saved = _meltano("state", "get", state, env=env)
    saved = saved[saved.index("{") :]

    before = current_table(bench, prefix).version()

    changed = changed_lines(bench)
    bench.sandbox.advance("acme", seconds=3600, updated_lines=changed)
    merge = _run("meltano (delta) merge", env, bench)
    table = current_table(bench, prefix)
    expect_rows("meltano (delta) current table", table.to_pyarrow_dataset().count_rows(), bench)
    merged = merge_seconds(table, before)

    alone = meltano_bench_env(bench, f"{prefix}-parquet")
    alone["TARGET_S3_TABLE_FORMAT"] = "parquet"
    _meltano("state", "set", "--force", state, json.dumps(json.loads(saved)), env=alone)
    landed = _run("meltano (parquet) changed lines alone", alone, bench)

    peaks = {p: max(full.peak_mb.get(p, 0.0), merge.peak_mb.get(p, 0.0)) for p in full.peak_mb}
    note = (
        f"full load {full.seconds:.1f} s, peak RSS MB {max(full.peak_mb.values()):,.0f}; "
        f"{changed:,} changed lines merged: run "
        f"{merge.seconds:.1f} s (its MERGE commits {merged:.1f} s), peak RSS MB "
        f"{max(merge.peak_mb.values()):,.0f}; the same lines landed alone (parquet): "
        f"{landed.seconds:.1f} s"
    )
    return RunResult(full.seconds, peaks, "delta current table", full.cpu_seconds, note)
