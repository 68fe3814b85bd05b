"""How runs are started, refused, cancelled and recorded (the runner replaced by a stub)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from erp_control_plane.database import Connection, Pipeline, Run, open_database
from erp_control_plane.errors import ConflictError
from erp_control_plane.runs import RunManager
from erp_control_plane.settings import Settings
from sqlalchemy.orm import Session

SECRET = "s3cr3t-value-42"


class StubRunner:
    """Blocks until released (or cancelled); then ends as told."""

    def __init__(self, outcome: str = "succeeded") -> None:
        self.outcome = outcome
        self.release = threading.Event()
        self.calls: list[dict] = []

    def __call__(self, environment, *, job, env, cancel, project):
        self.calls.append({"environment": environment, "env": env, "job": job})
        while not (self.release.is_set() or cancel.is_set()):
            time.sleep(0.01)
        if self.outcome == "raise":
            raise RuntimeError(f"boom with {SECRET}\nsecond line")
        status = "cancelled" if cancel.is_set() else self.outcome
        when = datetime.now(UTC)
        return SimpleNamespace(
            status=status,
            started=when,
            ended=when,
            streams={"customers": {"stream": "customers", "rows": 3, "files": 1, "bytes": 9}},
            error=None if status == "succeeded" else f"failed, key {SECRET}",
            log_tail=f"line with {SECRET}",
        )


class Secrets(dict):
    def get(self, key, default=None):
        return {"api_key": SECRET}


@pytest.fixture
def setup(tmp_path):
    settings = Settings.from_env(
        {"ERP_CONTROL_PLANE_TOKEN": "t" * 20, "ERP_CONTROL_PLANE_PROJECT_DIR": str(tmp_path)}
    )
    engine = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with Session(engine) as db:
        connection = Connection(client="hooli", profile="erp_sandbox", base_url="http://x/y")
        db.add(connection)
        db.flush()
        pipeline = Pipeline(
            connection_id=connection.id, bucket="lake", prefix="p", table_format="parquet"
        )
        db.add(pipeline)
        db.commit()
        return engine, settings, pipeline.id


def wait_ended(engine, run_id: str) -> Run:
    for _ in range(1000):
        with Session(engine) as db:
            run = db.get(Run, run_id)
            if run.status not in ("queued", "running"):
                return run
        time.sleep(0.01)
    raise AssertionError("run did not end")


@pytest.mark.parametrize(
    ("outcome", "status", "error"),
    [
        ("succeeded", "succeeded", None),
        ("failed", "failed", "failed, key ***"),
        ("raise", "failed", "RuntimeError: boom with ***"),
    ],
)
def test_a_run_is_recorded_with_its_secrets_masked(setup, outcome, status, error):
    engine, settings, pipeline_id = setup
    runner = StubRunner(outcome)
    manager = RunManager(engine, settings, Secrets(), runner)
    run = manager.start(pipeline_id)
    runner.release.set()
    ended = wait_ended(engine, run.id)
    manager.shutdown()
    assert (ended.status, ended.error) == (status, error)
    assert runner.calls[0]["environment"] == "hooli"
    assert runner.calls[0]["env"] == {"HOOLI_ERP_API_KEY": SECRET}
    assert SECRET not in (ended.log_tail or "")
    if outcome != "raise":
        assert ended.streams == {"customers": {"rows": 3, "files": 1, "bytes": 9}}


def test_a_second_run_of_an_active_pipeline_is_refused_until_it_ends(setup):
    engine, settings, pipeline_id = setup
    runner = StubRunner()
    manager = RunManager(engine, settings, Secrets(), runner)
    first = manager.start(pipeline_id)
    with pytest.raises(ConflictError, match=first.id):
        manager.start(pipeline_id)
    runner.release.set()
    wait_ended(engine, first.id)
    second = manager.start(pipeline_id)
    wait_ended(engine, second.id)
    manager.shutdown()


def test_cancel_stops_a_running_run_and_a_queued_one_never_starts(setup, tmp_path):
    engine, settings, pipeline_id = setup
    settings = Settings.from_env(
        {
            "ERP_CONTROL_PLANE_TOKEN": "t" * 20,
            "ERP_CONTROL_PLANE_PROJECT_DIR": str(tmp_path),
            "ERP_CONTROL_PLANE_MAX_RUNS": "1",
        }
    )
    with Session(engine) as db:
        other = Connection(client="pied", profile="erp_sandbox", base_url="http://x/z")
        db.add(other)
        db.flush()
        queued_pipeline = Pipeline(
            connection_id=other.id, bucket="lake", prefix="p", table_format="parquet"
        )
        db.add(queued_pipeline)
        db.commit()
        queued_pipeline_id = queued_pipeline.id
    runner = StubRunner()
    manager = RunManager(engine, settings, Secrets(), runner)
    running = manager.start(pipeline_id)
    queued = manager.start(queued_pipeline_id)
    assert manager.cancel(queued.id).status == "cancelled"
    manager.cancel(running.id)
    assert wait_ended(engine, running.id).status == "cancelled"
    manager.shutdown()
    assert [call["environment"] for call in runner.calls] == ["hooli"]
    with pytest.raises(ConflictError, match="already ended"):
        manager.cancel(running.id)


def test_runs_left_active_by_a_stopped_server_are_marked_failed(setup):
    engine, settings, pipeline_id = setup
    with Session(engine) as db:
        db.add(Run(id="a" * 32, pipeline_id=pipeline_id, client="hooli", status="running"))
        db.commit()
    RunManager(engine, settings, Secrets(), StubRunner()).recover()
    run = wait_ended(engine, "a" * 32)
    assert run.status == "failed" and "stopped" in run.error
