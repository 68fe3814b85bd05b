"""Per-client environments, other Singer targets, the S3 state backend, schedules."""

from __future__ import annotations

import json
import subprocess

from erp_testing.project import MELTANO, ROOT, STREAMS
from erp_testing.standard_model import SPEC_COLUMNS

CLIENT_VARIABLES = ("TAP_ERP_", "TARGET_S3_", "ERP_QUALITY_")


def client_env(project, erp) -> dict[str, str]:
    """Only what a client's .env holds: the environments in clients/ do the rest."""
    ep = project.endpoints
    env = {k: v for k, v in project.env.items() if not k.startswith(CLIENT_VARIABLES)}
    env.update(
        {
            "ACME_ERP_BASE_URL": erp.tenant_url("acme"),
            "ACME_ERP_API_KEY": "acme-key-123",
            "ACME_LAKE_BUCKET": ep.bucket,
            "ACME_LAKE_PREFIX": "clients",
            "ACME_S3_ENDPOINT_URL": ep.s3_endpoint_url,
            "GLOBEX_ERP_BASE_URL": erp.tenant_url("globex"),
            "GLOBEX_ERP_CLIENT_ID": "globex-client",
            "GLOBEX_ERP_CLIENT_SECRET": "globex-secret",
            "GLOBEX_LAKE_BUCKET": ep.bucket,
            "GLOBEX_LAKE_PREFIX": "clients",
            "GLOBEX_S3_ENDPOINT_URL": ep.s3_endpoint_url,
        }
    )
    return env


def test_clients_land_under_their_own_prefix_with_their_own_spec_columns(project, erp):
    project.env = client_env(project, erp)
    project.run("--environment=acme", "run", "tap-erp", "target-s3")
    project.run("--environment=globex", "run", "tap-erp", "target-s3")
    for client, other in (("acme", "globex"), ("globex", "acme")):
        lake = project.lake(client_id=client, prefix="clients")
        totals = erp.stats(client)["counts"]
        assert lake.streams() == sorted(STREAMS)
        for stream in STREAMS:
            table = lake.table(stream)
            assert lake.query(f"SELECT count(*) FROM {table}")[0][0] == totals[stream]
        for stream in ("products", "inventory"):
            columns = set(lake.columns(stream))
            assert set(SPEC_COLUMNS[client][stream]) <= columns
            assert not set(SPEC_COLUMNS[other][stream]) & columns


def test_schedule_runs_the_job_for_a_client(project, erp):
    project.env = client_env(project, erp)
    project.run("--environment=acme", "schedule", "run", "acme-nightly")
    lake = project.lake(client_id="acme", prefix="clients")
    assert lake.streams() == sorted(STREAMS)
    report = lake.read_json("clients/acme/_quality/latest.json")
    assert report["status"] == "passed"


def test_the_tap_feeds_another_singer_target(project, erp):
    out = project.workdir / "jsonl"
    out.mkdir()
    project.env["TARGET_JSONL_DESTINATION_PATH"] = str(out)
    # no flags: target-jsonl runs behind record-lines (meltano.yml), which hands it
    # the records of the tap's BATCH files as RECORD lines
    project.run("--environment=demo", "run", "tap-erp", "target-jsonl")
    totals = erp.stats("acme")["counts"]
    for stream in STREAMS:
        (path,) = out.glob(f"{stream}*.jsonl")
        lines = path.read_text().splitlines()
        assert len(lines) == totals[stream], stream
    order = json.loads((next(out.glob("sales_orders*.jsonl"))).read_text().splitlines()[0])
    assert {"order_id", "total_amount", "updated_at"} <= set(order)


def test_nobody_taking_the_batch_files_fails_the_tap_without_a_state_for_them(project, erp):
    """A loader that ignores BATCH messages (declared without record-lines) never takes
    the tap's files: the tap fails after `batch_wait_seconds`, no STATE covers them."""
    project.env["TAP_ERP_BATCH_WAIT_SECONDS"] = "3"
    result = subprocess.run(
        [MELTANO, "--environment=demo", "invoke", "tap-erp"],
        env=project.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "the loader has not read batch file" in result.stderr
    states = [json.loads(line) for line in result.stdout.splitlines() if '"STATE"' in line]
    lines = [s["value"].get("bookmarks", {}).get("sales_order_lines") or {} for s in states]
    bookmarks = [b.get("replication_key_value") for b in lines]
    assert not any(bookmarks), bookmarks


def test_state_can_live_in_s3(project, erp):
    ep = project.endpoints
    project.env["MELTANO_STATE_BACKEND_URI"] = f"s3://{ep.bucket}/meltano-state"
    project.env["AWS_ENDPOINT_URL_S3"] = ep.s3_endpoint_url
    project.run("--environment=demo", "run", "tap-erp", "target-s3")
    listing = project.s3_client().list_objects_v2(Bucket=ep.bucket, Prefix="meltano-state/")
    assert listing.get("KeyCount", 0) >= 1
    out = project.run("--environment=demo", "state", "get", "demo:tap-erp-to-target-s3").stdout
    state = json.loads(out[out.index("{") :])
    assert set(state["singer_state"]["bookmarks"]) >= {"sales_orders", "sales_order_lines"}
