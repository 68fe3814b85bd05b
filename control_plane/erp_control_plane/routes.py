"""The API's routes. Secrets go in, never out: responses name them, no value."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from erp_control_plane.bodies import (
    ConnectionIn,
    ConnectionOut,
    ConnectionTest,
    PipelineIn,
    PipelineOut,
    RunAccepted,
    RunOut,
    profile_streams,
)
from erp_control_plane.database import Connection, Pipeline, Run, now
from erp_control_plane.discovery import test_connection
from erp_control_plane.environments import (
    check_free,
    environment_path,
    remove_environment,
    write_environment,
)
from erp_control_plane.errors import ConflictError, NotFoundError

router = APIRouter()
Id = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="An id the API gave.")]


def _invalid(field: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", field), "msg": message, "type": "value_error"}])


def _session(request: Request) -> Session:
    return Session(request.app.state.engine, expire_on_commit=False)


def _get(db: Session, model: Any, id_: str) -> Any:
    row = db.get(model, id_)
    if row is None:
        raise NotFoundError(f"no {model.__tablename__[:-1]} {id_}")
    return row


def _connection_out(row: Connection) -> ConnectionOut:
    return ConnectionOut.model_validate(row, from_attributes=True)


def _pipeline_out(row: Pipeline, client: str) -> PipelineOut:
    fields = {k: getattr(row, k) for k in PipelineOut.model_fields if hasattr(row, k)}
    return PipelineOut(**fields, client=client, environment_file=f"clients/{client}.meltano.yml")


def _check_connection(body: ConnectionIn) -> None:
    try:
        body.check_auth_method()
    except ValueError as exc:
        raise _invalid("auth_method", str(exc)) from None


def _apply_connection(row: Connection, body: ConnectionIn, secret_names: list[str]) -> None:
    row.client, row.profile, row.base_url = body.client, body.profile, body.base_url
    row.auth_method, row.settings = body.auth_method, dict(body.settings)
    row.secret_names, row.updated_at = sorted(secret_names), now()
    row.created_at = row.created_at or row.updated_at


# Connections


@router.post("/connections", status_code=201, response_model=ConnectionOut, tags=["connections"])
def create_connection(body: ConnectionIn, request: Request) -> ConnectionOut:
    """Add a client's ERP connection; writes `clients/<client>.meltano.yml`."""
    _check_connection(body)
    state = request.app.state
    with _session(request) as db:
        if db.scalar(select(Connection).where(Connection.client == body.client)) is not None:
            raise ConflictError(f"client: a connection of '{body.client}' exists")
        check_free(state.settings.clients_dir, body.client)
        row = Connection()
        _apply_connection(row, body, list(body.secrets))
        db.add(row)
        db.flush()
        state.secrets.put(row.id, dict(body.secrets))
        write_environment(state.settings.project_dir, row, None)
        db.commit()
        return _connection_out(row)


@router.get("/connections", response_model=list[ConnectionOut], tags=["connections"])
def list_connections(request: Request) -> list[ConnectionOut]:
    """Every connection (secret names only)."""
    with _session(request) as db:
        return [_connection_out(r) for r in db.scalars(select(Connection).order_by("client"))]


@router.get("/connections/{connection_id}", response_model=ConnectionOut, tags=["connections"])
def get_connection(connection_id: Id, request: Request) -> ConnectionOut:
    """One connection (secret names only)."""
    with _session(request) as db:
        return _connection_out(_get(db, Connection, connection_id))


@router.put("/connections/{connection_id}", response_model=ConnectionOut, tags=["connections"])
def update_connection(connection_id: Id, body: ConnectionIn, request: Request) -> ConnectionOut:
    """Replace a connection's settings; given secrets replace those of the same name."""
    _check_connection(body)
    state = request.app.state
    with _session(request) as db:
        row = _get(db, Connection, connection_id)
        if body.client != row.client:
            raise _invalid("client", "a connection's client cannot change")
        values = {**state.secrets.get(row.id), **body.secrets}
        _apply_connection(row, body, list(values))
        pipeline = db.scalar(select(Pipeline).where(Pipeline.connection_id == row.id))
        state.secrets.put(row.id, values)
        write_environment(state.settings.project_dir, row, pipeline)
        db.commit()
        return _connection_out(row)


@router.delete("/connections/{connection_id}", status_code=204, tags=["connections"])
def delete_connection(connection_id: Id, request: Request) -> None:
    """Remove a connection without pipeline, its secrets and its environment file."""
    state = request.app.state
    with _session(request) as db:
        row = _get(db, Connection, connection_id)
        if db.scalar(select(Pipeline).where(Pipeline.connection_id == row.id)) is not None:
            raise ConflictError("connection: delete its pipeline first")
        remove_environment(state.settings.clients_dir, row.client)
        state.secrets.delete(row.id)
        db.delete(row)
        db.commit()


@router.post(
    "/connections/{connection_id}/test", response_model=ConnectionTest, tags=["connections"]
)
def check_connection(connection_id: Id, request: Request) -> ConnectionTest:
    """Authenticate and discover: the streams and their custom fields."""
    with _session(request) as db:
        row = _get(db, Connection, connection_id)
    return test_connection(row, request.app.state.secrets.get(row.id))


# Pipelines


def _check_pipeline(db: Session, body: PipelineIn, pipeline_id: str | None) -> Connection:
    connection = db.get(Connection, body.connection_id)
    if connection is None:
        raise _invalid("connection_id", "no connection with this id")
    taken = db.scalar(select(Pipeline).where(Pipeline.connection_id == connection.id))
    if taken is not None and taken.id != pipeline_id:
        raise ConflictError(f"connection_id: the connection has pipeline {taken.id}")
    unknown = sorted(set(body.streams) - set(profile_streams(connection.profile)))
    if unknown:
        raise _invalid("streams", f"not a stream of {connection.profile}: {', '.join(unknown)}")
    return connection


def _apply_pipeline(row: Pipeline, body: PipelineIn) -> None:
    for key, value in body.model_dump().items():
        setattr(row, key, value)
    row.updated_at = now()
    row.created_at = row.created_at or row.updated_at


@router.post("/pipelines", status_code=201, response_model=PipelineOut, tags=["pipelines"])
def create_pipeline(body: PipelineIn, request: Request) -> PipelineOut:
    """Land a connection's streams in S3 (one pipeline per connection)."""
    with _session(request) as db:
        connection = _check_pipeline(db, body, None)
        row = Pipeline()
        _apply_pipeline(row, body)
        db.add(row)
        db.flush()
        write_environment(request.app.state.settings.project_dir, connection, row)
        db.commit()
        return _pipeline_out(row, connection.client)


@router.get("/pipelines", response_model=list[PipelineOut], tags=["pipelines"])
def list_pipelines(request: Request) -> list[PipelineOut]:
    """Every pipeline."""
    with _session(request) as db:
        rows = db.execute(select(Pipeline, Connection.client).join(Connection)).all()
        return [_pipeline_out(row, client) for row, client in rows]


@router.get("/pipelines/{pipeline_id}", response_model=PipelineOut, tags=["pipelines"])
def get_pipeline(pipeline_id: Id, request: Request) -> PipelineOut:
    """One pipeline."""
    with _session(request) as db:
        row = _get(db, Pipeline, pipeline_id)
        return _pipeline_out(row, _get(db, Connection, row.connection_id).client)


@router.put("/pipelines/{pipeline_id}", response_model=PipelineOut, tags=["pipelines"])
def update_pipeline(pipeline_id: Id, body: PipelineIn, request: Request) -> PipelineOut:
    """Replace a pipeline (its connection stays)."""
    with _session(request) as db:
        row = _get(db, Pipeline, pipeline_id)
        if body.connection_id != row.connection_id:
            raise _invalid("connection_id", "a pipeline's connection cannot change")
        connection = _check_pipeline(db, body, row.id)
        _apply_pipeline(row, body)
        write_environment(request.app.state.settings.project_dir, connection, row)
        db.commit()
        return _pipeline_out(row, connection.client)


@router.delete("/pipelines/{pipeline_id}", status_code=204, tags=["pipelines"])
def delete_pipeline(pipeline_id: Id, request: Request) -> None:
    """Remove a pipeline without active run; its runs' history goes with it."""
    with _session(request) as db:
        row = _get(db, Pipeline, pipeline_id)
        runs = db.scalars(select(Run).where(Run.pipeline_id == row.id)).all()
        if any(run.status in ("queued", "running") for run in runs):
            raise ConflictError("pipeline: it has an active run; cancel it first")
        connection = _get(db, Connection, row.connection_id)
        for run in runs:
            db.delete(run)
        db.delete(row)
        db.flush()
        write_environment(request.app.state.settings.project_dir, connection, None)
        db.commit()


@router.post(
    "/pipelines/{pipeline_id}/run", status_code=202, response_model=RunAccepted, tags=["runs"]
)
def run_pipeline(pipeline_id: Id, request: Request) -> RunAccepted:
    """Start a run in the background; 409 while one is active."""
    run = request.app.state.runs.start(pipeline_id)
    return RunAccepted(run_id=run.id, status=run.status)


# Runs


@router.get("/runs", response_model=list[RunOut], tags=["runs"])
def list_runs(
    request: Request,
    pipeline_id: Annotated[str | None, Query(pattern=r"^[0-9a-f]{32}$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[RunOut]:
    """The run history, newest first."""
    query = select(Run).order_by(Run.created_at.desc()).limit(limit)
    if pipeline_id is not None:
        query = query.where(Run.pipeline_id == pipeline_id)
    with _session(request) as db:
        return [RunOut.model_validate(r, from_attributes=True) for r in db.scalars(query)]


@router.get("/runs/{run_id}", response_model=RunOut, tags=["runs"])
def get_run(run_id: Id, request: Request) -> RunOut:
    """Status, start and end, rows/files/bytes per stream, error and log tail."""
    with _session(request) as db:
        return RunOut.model_validate(_get(db, Run, run_id), from_attributes=True)


@router.post("/runs/{run_id}/cancel", status_code=202, response_model=RunAccepted, tags=["runs"])
def cancel_run(run_id: Id, request: Request) -> RunAccepted:
    """Stop an active run (SIGTERM to the run, SIGKILL after a grace)."""
    run = request.app.state.runs.cancel(run_id)
    return RunAccepted(run_id=run.id, status=run.status)


__all__ = ["environment_path", "router"]
