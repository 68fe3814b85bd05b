"""The Dagster definitions: partitions, host tags and schedules from the Meltano project,
retries, and the metadata of a run (run_client replaced by recorded results)."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest
from erp_orchestration import definitions
from erp_orchestration.client_run import FAILED, SUCCEEDED, ClientRun
from erp_orchestration.meltano_project import ClientEnvironment, MeltanoSchedule
from erp_orchestration.run_log import StreamLoad

NOW = datetime(2026, 12, 2, tzinfo=UTC)
CLIENTS = [
    ClientEnvironment(
        "acme", "erp.acme.example", (MeltanoSchedule("acme-nightly", "erp-to-s3", "0 2 * * *"),)
    ),
    ClientEnvironment("globex", "127.0.0.1:8765"),
]


def _result(status: str, error: str | None = None) -> ClientRun:
    loads = {} if error else {"customers": StreamLoad("customers", 20, 1, 11155)}
    return ClientRun("acme", status, NOW, NOW, 1.5, loads, error, "tail", "r1")


@pytest.fixture
def defs(monkeypatch) -> dg.Definitions:
    monkeypatch.setenv("ERP_ORCHESTRATION_MAX_RETRIES", "1")
    monkeypatch.setenv("ERP_ORCHESTRATION_RETRY_DELAY_SECONDS", "0")
    return definitions.build_definitions(CLIENTS)


def test_one_partition_per_client_tagged_with_its_erp_host(defs):
    job = defs.resolve_job_def("erp_to_s3")
    assert job.partitions_def.get_partition_keys() == ["acme", "globex"]
    assert (
        job.partitioned_config.get_tags_for_partition_key("acme")["erp/host"] == "erp.acme.example"
    )


def test_meltano_schedules_become_schedules_of_their_client(defs):
    schedule = defs.resolve_schedule_def("acme_nightly")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 2 * * *", "UTC")
    repository = defs.get_repository_def()
    with dg.build_schedule_context(
        scheduled_execution_time=NOW, repository_def=repository
    ) as context:
        (request,) = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "acme"


@pytest.mark.parametrize(
    ("attempts", "succeeds", "runs"),
    [
        ([SUCCEEDED], True, 1),
        ([FAILED, SUCCEEDED], True, 2),  # retried once, then landed
        ([FAILED, FAILED], False, 2),  # retries spent: the run fails with the one line
    ],
)
def test_failed_runs_are_retried(defs, monkeypatch, attempts, succeeds, runs):
    results = [_result(s, "tap-erp: HTTP 503" if s == FAILED else None) for s in attempts]
    calls = []

    def recorded(environment: str, *, job: str) -> ClientRun:
        calls.append((environment, job))
        return results[len(calls) - 1]

    monkeypatch.setattr(definitions, "run_client", recorded)
    job = defs.resolve_job_def("erp_to_s3")
    result = job.execute_in_process(partition_key="acme", raise_on_error=False)
    assert (result.success, calls) == (succeeds, [("acme", "erp-to-s3")] * runs)
    if succeeds:
        (event,) = result.get_asset_materialization_events()
        meta = event.materialization.metadata
        assert (meta["rows/customers"].value, meta["bytes"].value) == (20, 11155)
    else:
        (failure,) = [e for e in result.all_events if e.is_step_failure]
        assert failure.step_failure_data.user_failure_data.description == "tap-erp: HTTP 503"
