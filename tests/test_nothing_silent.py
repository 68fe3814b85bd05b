"""Nothing passes silently: each scenario runs the real `meltano run tap-erp target-s3`
against the sandbox and checks the exit code, the one line that says what happened,
and the rows lost or landed twice. Every row's verdict is "silent: no"."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from erp_testing.drift import batch_root_under_a_file as under_a_file
from erp_testing.drift import map_files
from erp_testing.project import ROOT, STREAMS, state_id

ENV = "demo"
RUN = (f"--environment={ENV}", "run", "tap-erp", "target-s3")
KEYS = {
    "sales_orders": "order_id",
    "sales_order_lines": "order_line_id",
    "customers": "customer_id",
    "vendors": "vendor_id",
    "products": "product_id",
    "inventory": "product_id, warehouse_id",
}
EVERY_ROW = -1  # in Scenario.duplicated: every row of the stream landed twice
FUTURE = "2099-01-01T00:00:00.000000Z"
PAST = "2024-01-01T00:00:00.000000Z"


# --- one helper per mechanism ---------------------------------------------------------


def run(project) -> subprocess.CompletedProcess[str]:
    """`meltano run tap-erp target-s3` in the demo environment (never raises)."""
    return project.run(*RUN, check=False)


def set_state(project, singer_state: object) -> None:
    """What a hand edit does: `meltano state set --force <id> <json>`."""
    payload = json.dumps({"singer_state": singer_state})
    project.run(f"--environment={ENV}", "state", "set", "--force", state_id(ENV), payload)


def get_state(project) -> dict:
    out = project.run(f"--environment={ENV}", "state", "get", state_id(ENV)).stdout
    return json.loads(out[out.index("{") :]).get("singer_state", {})


def map_products(project, *, voltage: bool) -> None:
    """acme's map files, with or without `spec_voltage: U_Voltage` (a new custom field)."""
    project.env["TAP_ERP_STREAM_MAP_FILES"] = map_files(project.workdir, voltage=voltage)


def backfill(project, stream: str) -> subprocess.CompletedProcess[str]:
    """The documented one-command backfill of one stream."""
    command = [sys.executable, str(ROOT / "scripts" / "backfill.py"), "--environment", ENV]
    return subprocess.run(
        [*command, "--stream", stream],
        cwd=ROOT,
        env=project.env,
        capture_output=True,
        text=True,
        check=False,
    )


def batch_root_under_a_file(project) -> None:
    """The batch folder cannot be created: its parent is a file."""
    project.env["TAP_ERP_BATCH_CONFIG"] = under_a_file(project.workdir)


def batch_folder(project) -> Path:
    """A batch folder of this scenario's own, to see what is left in it."""
    folder = project.workdir / "batches"
    config = {"encoding": {"format": "jsonl"}, "storage": {"root": folder.as_uri()}}
    project.env["TAP_ERP_BATCH_CONFIG"] = json.dumps({**config, "batch_size": 100000})
    project.env["TAP_ERP_BATCH_WAIT_SECONDS"] = "5"
    return folder


# --- what a scenario leaves ------------------------------------------------------------


@dataclass
class Outcome:
    """What the last run of a scenario said and left."""

    exit_code: int
    output: str
    landed: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # rows, keys, dups


def landed(project) -> dict[str, tuple[int, int, int]]:
    """Per landed stream: rows, distinct keys, rows landed twice (same key and version)."""
    lake = project.lake()
    out = {}
    for stream in lake.streams():
        if stream not in KEYS:
            continue
        table, key = lake.table(stream), KEYS[stream]
        version = "_run_id" if stream == "inventory" else "updated_at"
        rows, keys, versions = lake.query(
            f"SELECT count(*), count(DISTINCT ({key})), count(DISTINCT ({key}, {version})) "
            f"FROM {table}"
        )[0]
        out[stream] = (rows, keys, rows - versions)
    return out


def outcome(project, *results: subprocess.CompletedProcess[str]) -> Outcome:
    output = "\n".join(r.stdout + r.stderr for r in results)
    return Outcome(results[-1].returncode, output, landed(project))


# --- the scenarios ----------------------------------------------------------------------


def mapped_later_then_backfill(project, erp) -> Outcome:
    """A custom field the maps drop (one warning, nothing else lost), then mapped (the
    run says landed rows lack it), then the one-stream backfill fills it."""
    map_products(project, voltage=False)
    first = run(project)
    assert first.returncode == 0
    before = get_state(project)["bookmarks"]
    map_products(project, voltage=True)
    second = run(project)
    third = backfill(project, "products")
    after = get_state(project)["bookmarks"]
    for stream in set(STREAMS) - {"products", "inventory"}:  # their bookmarks untouched
        assert after[stream]["replication_key_value"] == before[stream]["replication_key_value"]
    lake = project.lake()
    current = lake.query(
        f"SELECT product_id, arg_max(spec_voltage, _loaded_at) FROM {lake.table('products')} "
        "GROUP BY product_id"
    )
    source = {r["ItemKey"]: r.get("U_Voltage") for r in erp.records("acme", "products")}
    assert dict(current) == source, "the backfill fills the new column of every product"
    return outcome(project, first, second, third)


def garbage_state(project, erp) -> Outcome:
    set_state(project, "garbage")
    return outcome(project, run(project))


def bookmark(key: str, value: str) -> dict:
    return {"bookmarks": {"sales_orders": {"replication_key": key, "replication_key_value": value}}}


def future_bookmark(project, erp) -> Outcome:
    set_state(project, bookmark("ModifiedOn", FUTURE))
    return outcome(project, run(project))


def wrong_key_bookmark(project, erp) -> Outcome:
    set_state(project, bookmark("CreatedOn", PAST))
    return outcome(project, run(project))


def batch_folder_not_writable(project, erp) -> Outcome:
    batch_root_under_a_file(project)
    result = outcome(project, run(project))
    leftovers = list((ROOT / ".meltano" / "run" / "batches").glob("*.jsonl*"))
    assert not leftovers, f"batch files left with client data: {leftovers}"
    return result


def loader_fails_then_next_run(project, erp) -> Outcome:
    """Meltano kills the tap (SIGKILL) when the loader fails: the batch file it was
    waiting on stays until the next start, which removes it (its writer is gone)."""
    folder = batch_folder(project)
    bucket = project.env["TARGET_S3_BUCKET"]
    project.env["TARGET_S3_BUCKET"] = "no-such-bucket"
    failed = run(project)
    assert failed.returncode != 0
    left = list(folder.glob("*.jsonl*"))
    project.env["TARGET_S3_BUCKET"] = bucket
    fixed = run(project)
    assert not list(folder.glob("*.jsonl*")), f"batch files left with client data: {left}"
    return outcome(project, failed, fixed)


@dataclass(frozen=True)
class Scenario:
    steps: Callable[..., Outcome]
    exit_ok: bool
    lines: tuple[str, ...]  # each appears exactly once in the output
    lands: tuple[str, ...] = STREAMS  # streams landed whole; the others land nothing
    duplicated: dict[str, int] = field(default_factory=dict)


SCENARIOS = {
    "new custom field, mapped later, backfill": Scenario(
        mapped_later_then_backfill,
        exit_ok=True,
        lines=(
            "'products': custom field 'U_Voltage' is dropped by the stream maps",
            "'products': column 'spec_voltage' is new since the last run; rows landed "
            "before lack it: re-extract the stream with `scripts/backfill.py",
            "demo: 'products': bookmark dropped",
        ),
        duplicated={"products": EVERY_ROW},  # the backfill lands every product again
    ),
    "garbage state": Scenario(
        garbage_state,
        exit_ok=False,
        lines=("state: is 'garbage', not an object with 'bookmarks'",),
        lands=(),
    ),
    "future bookmark": Scenario(
        future_bookmark,
        exit_ok=False,
        lines=(f"state: stream 'sales_orders' bookmark {FUTURE} is later than now",),
        lands=(),
    ),
    "wrong-key bookmark": Scenario(
        wrong_key_bookmark,
        exit_ok=False,
        lines=("state: stream 'sales_orders' bookmarks replication key 'CreatedOn'",),
        lands=(),
    ),
    "batch folder not writable": Scenario(
        batch_folder_not_writable,
        exit_ok=False,
        lines=("setting 'batch_config': cannot create folder",),
        lands=("customers",),  # its maps evaluate expressions: RECORD messages, no file
    ),
    "loader fails, then the next run": Scenario(
        loader_fails_then_next_run,
        exit_ok=True,
        lines=(
            "bucket 'no-such-bucket' does not exist (setting 'bucket')",
            "Removed 1 batch file(s) left by interrupted runs",
        ),
    ),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_nothing_passes_silently(project, erp, name):
    scenario = SCENARIOS[name]
    result = scenario.steps(project, erp)
    counts = erp.stats("acme")["counts"]

    assert (result.exit_code == 0) is scenario.exit_ok, result.output[-3000:]
    assert "Traceback" not in result.output
    for line in scenario.lines:  # silent: no
        assert result.output.count(line) == 1, f"{line!r} not said exactly once"
    assert sorted(result.landed) == sorted(scenario.lands)
    for stream in scenario.lands:
        _, keys, dups = result.landed[stream]
        assert keys == counts[stream], f"{stream}: {counts[stream] - keys} rows lost"
        wanted = scenario.duplicated.get(stream, 0)
        assert dups == (counts[stream] if wanted == EVERY_ROW else wanted), f"{stream}: {dups}"
