"""The FastAPI application: connections, pipelines, runs (OpenAPI at /docs)."""

from __future__ import annotations

import secrets as tokens
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from erp_control_plane.database import open_database
from erp_control_plane.errors import ConflictError, ControlPlaneError, NotFoundError
from erp_control_plane.routes import router
from erp_control_plane.runs import RunManager, Runner
from erp_control_plane.secret_store import open_secret_store
from erp_control_plane.settings import Settings

bearer = HTTPBearer(auto_error=False)


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """Every API request carries `Authorization: Bearer <ERP_CONTROL_PLANE_TOKEN>`."""
    expected = request.app.state.settings.token
    if credentials is None or not tokens.compare_digest(
        credentials.credentials.encode(), expected.encode()
    ):
        raise HTTPException(
            401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
        )


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    """422 naming each bad field; the input is never echoed (it may hold a secret)."""
    assert isinstance(exc, RequestValidationError)
    detail = [
        {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
        for error in exc.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


def _known_error(_: Request, exc: Exception) -> JSONResponse:
    status = (
        409 if isinstance(exc, ConflictError) else 404 if isinstance(exc, NotFoundError) else 500
    )
    return JSONResponse({"detail": str(exc)}, status_code=status)


def create_app(settings: Settings, runner: Runner | None = None) -> FastAPI:
    """The API over the given settings; `runner` replaces `run_client` (for tests)."""

    engine = open_database(settings.database_url)
    store = open_secret_store(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runs = RunManager(engine, settings, store, runner)
        runs.recover()
        app.state.runs = runs
        try:
            yield
        finally:
            runs.shutdown()
            engine.dispose()

    app = FastAPI(
        title="erp-elt control plane",
        summary="Clients' ERP connections, pipelines to S3, runs and their history.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings, app.state.engine, app.state.secrets = settings, engine, store
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ControlPlaneError, _known_error)
    app.include_router(router, dependencies=[Depends(require_token)])
    return app
