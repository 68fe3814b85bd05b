"""The run queue, with each client's run tagged with its ERP host before it is queued.

Runs of the job `erp_to_s3` carry the `erp/host` tag already; runs launched another
way (the asset's own page, Dagster's implicit asset job) get it here, so the limit per
host holds whichever way a client's run was launched.
"""

from __future__ import annotations

from dagster import DagsterRun, QueuedRunCoordinator
from dagster._core.run_coordinator import SubmitRunContext

from erp_orchestration.client_run import PROJECT_ROOT
from erp_orchestration.definitions_settings import HOST_TAG
from erp_orchestration.meltano_project import client_environments

PARTITION_TAG = "dagster/partition"


def hosts() -> dict[str, str]:
    """ERP host of every client environment of the project."""
    return {c.name: c.erp_host for c in client_environments(PROJECT_ROOT)}


class HostTaggingRunCoordinator(QueuedRunCoordinator):
    """QueuedRunCoordinator that adds `erp/host` to a client's run that lacks it."""

    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        run = context.dagster_run
        client = run.tags.get(PARTITION_TAG)
        if client and HOST_TAG not in run.tags:
            host = hosts().get(client)
            if host:
                self._instance.add_run_tags(run.run_id, {HOST_TAG: host})
        return super().submit_run(context)
