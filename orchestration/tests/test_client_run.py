"""run_client: real Meltano, the sandbox ERP and a local S3 server."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from erp_orchestration.client_run import CANCELLED, SUCCEEDED, ClientRun, run_client
from erp_testing.client_env import client_variables
from erp_testing.project import STREAMS


@pytest.fixture
def env(erp, s3, tmp_path: Path) -> dict[str, str]:
    """acme's and globex's variables, a system database of this test's own."""
    variables = client_variables(
        ["acme", "globex"], erp_url=erp.url, s3_url=s3.endpoint_url, bucket="lake"
    )
    variables["MELTANO_DATABASE_URI"] = f"sqlite:///{tmp_path / 'meltano.db'}"
    for client in ("ACME", "GLOBEX"):
        variables[f"{client}_LAKE_PREFIX"] = tmp_path.name
    return variables


def _together(runs: dict[str, dict[str, str]]) -> dict[str, ClientRun]:
    """Start one run per environment at once; wait for all."""
    with ThreadPoolExecutor(len(runs)) as pool:
        futures = {name: pool.submit(run_client, name, env=env) for name, env in runs.items()}
        return {name: f.result() for name, f in futures.items()}


def test_two_clients_started_together_from_one_folder_both_land_everything(erp, env):
    done = _together({"acme": env, "globex": env})
    for client, run in done.items():
        assert (run.status, run.error) == (SUCCEEDED, None), run.log_tail
        totals = erp.stats(client)["counts"]
        assert {s: load.rows for s, load in run.streams.items()} == {s: totals[s] for s in STREAMS}
        assert all(load.files >= 1 and load.bytes > 0 for load in run.streams.values())
        assert run.run_id and run.duration > 0 and run.ended > run.started


def test_cancel_stops_the_run(env):
    cancel = threading.Event()
    cancel.set()
    run = run_client("acme", env=env, cancel=cancel)
    assert (run.status, run.error) == (CANCELLED, "cancelled")
    assert run.rows == 0
