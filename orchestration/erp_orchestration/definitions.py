"""Dagster definitions built from the Meltano project.

One partition of the asset `client_lake` per client environment (`clients/*.meltano.yml`);
each run calls `run_client`. The job `erp_to_s3` tags every run with its client's ERP
host (`erp/host`), which the instance's run queue limits per host (see `instance.py`);
each Meltano schedule becomes a Dagster schedule of that client's partition. Failed runs
are retried with exponential backoff; clients run in runs of their own, so one failing
never stops the others.

    dagster dev -f orchestration/erp_orchestration/definitions.py
"""

import os

import dagster as dg

from erp_orchestration.client_run import FAILED, PROJECT_ROOT, SUCCEEDED, ClientRun, run_client
from erp_orchestration.definitions_settings import (
    DEFAULT_MELTANO_JOB,
    HOST_TAG,
    MELTANO_JOB_TAG,
    whole_number,
)
from erp_orchestration.meltano_project import ClientEnvironment, client_environments


def run_metadata(run: ClientRun) -> dict[str, dg.MetadataValue]:
    """What the UI shows for one client's run: rows per stream, files, bytes, duration, error."""
    meta: dict[str, dg.MetadataValue] = {
        "environment": dg.MetadataValue.text(run.environment),
        "status": dg.MetadataValue.text(run.status),
        "rows": dg.MetadataValue.int(run.rows),
        "files": dg.MetadataValue.int(run.files),
        "bytes": dg.MetadataValue.int(run.bytes),
        "duration_seconds": dg.MetadataValue.float(run.duration),
        "error": dg.MetadataValue.text(run.error or ""),
        "target_run_id": dg.MetadataValue.text(run.run_id or ""),
        "log_tail": dg.MetadataValue.md(f"```\n{run.log_tail}\n```"),
    }
    for stream, load in run.streams.items():
        meta[f"rows/{stream}"] = dg.MetadataValue.int(load.rows)
    return meta


def build_definitions(clients: list[ClientEnvironment]) -> dg.Definitions:
    """The asset, job and schedules of these client environments."""
    partitions = dg.StaticPartitionsDefinition([c.name for c in clients])
    hosts = {c.name: c.erp_host for c in clients}
    retry = dg.RetryPolicy(
        max_retries=whole_number(os.environ, "ERP_ORCHESTRATION_MAX_RETRIES", 2),
        delay=whole_number(os.environ, "ERP_ORCHESTRATION_RETRY_DELAY_SECONDS", 60),
        backoff=dg.Backoff.EXPONENTIAL,
        jitter=dg.Jitter.PLUS_MINUS,
    )

    @dg.asset(
        retry_policy=retry,
        group_name="erp",
        kinds={"meltano", "s3"},
        description="One client's ERP tables landed in its lake prefix (meltano run).",
    )
    def client_lake(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        job = context.run.tags.get(MELTANO_JOB_TAG, DEFAULT_MELTANO_JOB)
        run = run_client(context.partition_key, job=job)
        if run.status == FAILED:
            raise dg.Failure(description=run.error, metadata=run_metadata(run))
        if run.status != SUCCEEDED:
            raise dg.Failure(description=run.error, allow_retries=False)
        return dg.MaterializeResult(metadata=run_metadata(run))

    @dg.static_partitioned_config(
        partition_keys=partitions.get_partition_keys(),
        tags_for_partition_key_fn=lambda key: {HOST_TAG: hosts[key]},
    )
    def per_client(partition_key: str) -> dict:
        return {}

    # One step per run: executed in the run's own process, not a process more.
    job = dg.define_asset_job(
        "erp_to_s3",
        selection=[client_lake],
        config=per_client,
        executor_def=dg.in_process_executor,
    )
    schedules = [
        _schedule(client.name, schedule.name, schedule.interval, schedule.job, job)
        for client in clients
        for schedule in client.schedules
    ]
    return dg.Definitions(assets=[client_lake], jobs=[job], schedules=schedules)


def _schedule(
    client: str, name: str, interval: str, meltano_job: str, job: object
) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=name.replace("-", "_"), cron_schedule=interval, job=job, execution_timezone="UTC"
    )
    def _run(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        return dg.RunRequest(partition_key=client, tags={MELTANO_JOB_TAG: meltano_job})

    return _run


def _selected() -> list[str] | None:
    raw = os.environ.get("ERP_ORCHESTRATION_CLIENTS", "")
    return [n.strip() for n in raw.split(",") if n.strip()] or None


defs = build_definitions(client_environments(PROJECT_ROOT, only=_selected()))
