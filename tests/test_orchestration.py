"""Many clients on Dagster: a real daemon and run queue, real Meltano runs, the sandbox
ERP (with its request log) and a local S3 server.

Three client environments on one ERP host with a limit of two runs per host; acme's
API key is wrong. acme fails alone with its one line; the others land every table
with the sandbox's totals; the sandbox never serves more than two clients at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from erp_orchestration.instance import prepare_home
from erp_quality.lake import Lake, LakeConfig
from erp_sandbox.request_log import read_request_log
from erp_sandbox.testing import sandbox_server
from erp_testing.client_env import client_variables
from erp_testing.project import ROOT, STREAMS

DEFINITIONS = ROOT / "orchestration" / "erp_orchestration" / "definitions.py"
BIN = Path(sys.executable).parent
HOST_LIMIT = 2
BUCKET = "orchestrated"
# client -> what its run must end as (acme's key is wrong)
CLIENTS = {"acme": "FAILURE", "globex": "SUCCESS", "bestrun": "SUCCESS"}
WAIT_SECONDS = 600  # an upper bound on waiting, not an assertion


@pytest.fixture(scope="module")
def erp(tmp_path_factory) -> Iterator:
    log = tmp_path_factory.mktemp("sandbox") / "requests.jsonl"
    with sandbox_server(orders=200, tenants=list(CLIENTS), request_log=log) as server:
        server.request_log_path = log
        yield server


@pytest.fixture(scope="module")
def orchestrated(erp, s3, tmp_path_factory) -> dict:
    """Every client's partition backfilled through the run queue; the finished runs."""
    from dagster import DagsterInstance, DagsterRunStatus
    from dagster._core.instance.ref import InstanceRef

    home = tmp_path_factory.mktemp("dagster")
    s3.client().create_bucket(Bucket=BUCKET)
    env = dict(os.environ)
    env.update(
        client_variables(list(CLIENTS), erp_url=erp.url, s3_url=s3.endpoint_url, bucket=BUCKET)
    )
    env.update(
        ACME_ERP_API_KEY="wrong-key",
        DAGSTER_HOME=str(home),
        ERP_ORCHESTRATION_CLIENTS=",".join(CLIENTS),
        ERP_ORCHESTRATION_HOST_LIMIT=str(HOST_LIMIT),
        ERP_ORCHESTRATION_MAX_RETRIES="0",
        MELTANO_DATABASE_URI=f"sqlite:///{home / 'meltano.db'}",
    )
    os.environ["ERP_ORCHESTRATION_HOST_LIMIT"] = str(HOST_LIMIT)
    try:
        prepare_home(home)
    finally:
        del os.environ["ERP_ORCHESTRATION_HOST_LIMIT"]
    # The storage exists before the daemon and the backfill command both open it.
    instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-f", str(DEFINITIONS)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        backfill = [str(BIN / "dagster"), "job", "backfill", "-f", str(DEFINITIONS)]
        backfill += ["-j", "erp_to_s3", "--partitions", ",".join(CLIENTS), "--noprompt"]
        done = subprocess.run(
            backfill, cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            runs = instance.get_runs()
            if len(runs) == len(CLIENTS) and all(r.is_finished for r in runs):
                break
            assert time.monotonic() < deadline, [(r.tags, r.status) for r in runs]
            time.sleep(1)
        yield {
            "instance": instance,
            "runs": {r.tags["dagster/partition"]: r for r in runs},
            "status": DagsterRunStatus,
        }
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


def _materialization(instance, run_id: str) -> dict:
    from dagster import DagsterEventType

    records = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
    ).records
    assert len(records) == 1
    meta = records[0].event_log_entry.dagster_event.step_materialization_data.materialization
    return {k: v.value for k, v in meta.metadata.items()}


def _failure(instance, run_id: str) -> str:
    from dagster import DagsterEventType

    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_FAILURE).records
    data = records[-1].event_log_entry.dagster_event.step_failure_data
    return data.user_failure_data.description


def test_each_client_ends_as_expected_with_its_host_tag(orchestrated, erp):
    host = erp.url.removeprefix("http://")
    for client, status in CLIENTS.items():
        run = orchestrated["runs"][client]
        assert run.status == getattr(orchestrated["status"], status), client
        assert run.tags["erp/host"] == host


def test_the_wrong_key_fails_alone_with_its_one_line(orchestrated):
    error = _failure(orchestrated["instance"], orchestrated["runs"]["acme"].run_id)
    assert "authentication failed" in error and "401" in error, error
    assert "\n" not in error and "wrong-key" not in error


@pytest.mark.parametrize("client", [c for c, s in CLIENTS.items() if s == "SUCCESS"])
def test_every_table_lands_with_the_sandbox_totals(orchestrated, erp, s3, client):
    totals = erp.stats(client)["counts"]
    meta = _materialization(orchestrated["instance"], orchestrated["runs"][client].run_id)
    assert {s: meta[f"rows/{s}"] for s in STREAMS} == {s: totals[s] for s in STREAMS}
    assert meta["files"] >= len(STREAMS) and meta["bytes"] > 0 and meta["error"] == ""
    lake = Lake(
        LakeConfig(
            bucket=BUCKET,
            prefix="clients",
            client_id=client,
            endpoint_url=s3.endpoint_url,
            access_key_id="local",
            secret_access_key="local",
        )
    )
    for stream in STREAMS:
        landed = lake.query(f"SELECT count(*) FROM {lake.table(stream)}")[0][0]
        assert landed == totals[stream], (client, stream)


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    """The largest number of spans open at one moment."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def test_the_host_never_serves_more_clients_at_once_than_its_limit(orchestrated, erp):
    spans: dict[str, tuple[float, float]] = {}
    for line in read_request_log(erp.request_log_path):
        tenant = line["tenant"]
        if tenant in CLIENTS:
            first, last = spans.get(tenant, (line["start"], line["end"]))
            spans[tenant] = (min(first, line["start"]), max(last, line["end"]))
    assert set(spans) == set(CLIENTS)
    assert _most_at_once(list(spans.values())) <= HOST_LIMIT
