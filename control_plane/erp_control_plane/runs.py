"""Pipeline runs in the background: a thread pool calling the orchestrator's `run_client`."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from erp_control_plane.database import Connection, Pipeline, Run, now
from erp_control_plane.discovery import scrub
from erp_control_plane.environments import secret_variable
from erp_control_plane.errors import ConflictError, NotFoundError
from erp_control_plane.secret_store import SecretStore
from erp_control_plane.settings import Settings

ACTIVE = ("queued", "running")
Runner = Callable[..., Any]


def default_runner() -> Runner:
    """The orchestrator's one-client runner (own Meltano system folder per run)."""
    from erp_orchestration.client_run import run_client

    return run_client


def _stream_loads(streams: dict[str, Any]) -> dict[str, Any]:
    """Per-stream rows, files and bytes as plain JSON."""
    out = {}
    for name, load in streams.items():
        data = dataclasses.asdict(load) if dataclasses.is_dataclass(load) else dict(load)
        data.pop("stream", None)
        out[name] = data
    return out


class RunManager:
    """Starts, tracks and cancels runs; at most one active run per pipeline."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        secrets: SecretStore,
        runner: Runner | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.secrets = secrets
        self.runner = runner
        self.pool = ThreadPoolExecutor(max_workers=settings.max_runs, thread_name_prefix="run")
        self.cancels: dict[str, threading.Event] = {}
        self.lock = threading.Lock()

    def recover(self) -> None:
        """Runs left active by a previous process failed with it."""
        with Session(self.engine) as db:
            for run in db.scalars(select(Run).where(Run.status.in_(ACTIVE))):
                run.status, run.ended_at = "failed", now()
                run.error = "the control plane stopped while the run was active"
            db.commit()

    def start(self, pipeline_id: str) -> Run:
        """Queue a run of a pipeline; ConflictError if one is active."""
        with self.lock, Session(self.engine, expire_on_commit=False) as db:
            pipeline = db.get(Pipeline, pipeline_id)
            if pipeline is None:
                raise NotFoundError(f"no pipeline {pipeline_id}")
            connection = db.get(Connection, pipeline.connection_id)
            assert connection is not None
            active = db.scalar(
                select(Run).where(Run.pipeline_id == pipeline_id, Run.status.in_(ACTIVE))
            )
            if active is not None:
                raise ConflictError(f"pipeline {pipeline_id} has an active run: {active.id}")
            run = Run(pipeline_id=pipeline_id, client=connection.client, status="queued")
            db.add(run)
            db.commit()
            self.cancels[run.id] = threading.Event()
        self.pool.submit(self._execute, run.id, connection.client, connection.id)
        return run

    def cancel(self, run_id: str) -> Run:
        """Ask an active run to stop (a queued one never starts)."""
        with self.lock, Session(self.engine, expire_on_commit=False) as db:
            run = db.get(Run, run_id)
            if run is None:
                raise NotFoundError(f"no run {run_id}")
            if run.status not in ACTIVE:
                raise ConflictError(f"run {run_id} has already ended ({run.status})")
            self.cancels[run_id].set()
            if run.status == "queued":
                run.status, run.ended_at, run.error = "cancelled", now(), "cancelled"
                db.commit()
            return run

    def _update(self, run_id: str, **values: Any) -> None:
        with Session(self.engine) as db:
            run = db.get(Run, run_id)
            assert run is not None
            for key, value in values.items():
                setattr(run, key, value)
            db.commit()

    def _execute(self, run_id: str, client: str, connection_id: str) -> None:
        cancel = self.cancels[run_id]
        with self.lock:
            if cancel.is_set():
                self.cancels.pop(run_id, None)
                return
            self._update(run_id, status="running", started_at=now())
        secrets: dict[str, str] = {}
        try:
            secrets = self.secrets.get(connection_id)
            env = {secret_variable(client, name): value for name, value in secrets.items()}
            runner = self.runner or default_runner()
            result = runner(
                client,
                job=self.settings.job,
                env=env,
                cancel=cancel,
                project=self.settings.project_dir,
            )
            self._update(
                run_id,
                status=result.status,
                started_at=result.started,
                ended_at=result.ended,
                streams=_stream_loads(result.streams),
                error=None if result.error is None else scrub(result.error, secrets),
                log_tail=scrub(result.log_tail or "", secrets),
            )
        except Exception as exc:  # a run's failure is recorded, never raised
            line = scrub(f"{type(exc).__name__}: {exc}", secrets).splitlines()[0]
            self._update(run_id, status="failed", ended_at=now(), error=line)
        finally:
            self.cancels.pop(run_id, None)

    def shutdown(self) -> None:
        """Cancel every active run and wait for the workers."""
        for event in list(self.cancels.values()):
            event.set()
        self.pool.shutdown(wait=True, cancel_futures=False)
