"""A connection and its pipeline as a Meltano environment: `clients/<client>.meltano.yml`.

Secrets stay out of the file: it names environment variables (`<CLIENT>_ERP_<SETTING>`)
that the control plane fills from the secret store when it runs the client; by hand,
export them first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from erp_control_plane.database import Connection, Pipeline
from erp_control_plane.errors import ConflictError

MARKER = "# Managed by the control-plane API (erp_control_plane): edits are overwritten."


def secret_variable(client: str, setting: str) -> str:
    """The environment variable carrying one secret of a client."""
    return f"{client.upper()}_ERP_{setting.upper()}"


def environment_path(clients_dir: Path, client: str) -> Path:
    """The file of a client's environment."""
    return clients_dir / f"{client}.meltano.yml"


def _map_files(project_dir: Path, profile: str, client: str) -> list[str]:
    """The profile's standard model and, if there is one, the client's custom fields."""
    files = []
    for relative in (
        f"transforms/{profile}/standard_model.yml",
        f"transforms/{profile}/clients/{client}.yml",
    ):
        if (project_dir / relative).is_file():
            files.append(f"$MELTANO_PROJECT_ROOT/{relative}")
    return files


def environment_document(
    project_dir: Path, connection: Connection, pipeline: Pipeline | None
) -> dict[str, Any]:
    """The environment (and schedule) of one client, as Meltano reads it."""
    client = connection.client
    tap: dict[str, Any] = {
        "profile": connection.profile,
        "base_url": connection.base_url,
        **connection.settings,
        **{name: f"${secret_variable(client, name)}" for name in connection.secret_names},
    }
    if connection.auth_method:
        tap["auth_method"] = connection.auth_method
    maps = _map_files(project_dir, connection.profile, client)
    if maps:
        tap["stream_map_files"] = maps
    extractor: dict[str, Any] = {"name": "tap-erp", "config": tap}
    plugins: dict[str, Any] = {"extractors": [extractor]}
    document: dict[str, Any] = {
        "environments": [
            {
                "name": client,
                "env": {"CLIENT_ID": client, "SOURCE_SYSTEM": connection.profile},
                "config": {"plugins": plugins},
            }
        ]
    }
    if pipeline is None:
        return document
    if pipeline.streams:
        extractor["select"] = [f"{stream}.*" for stream in pipeline.streams]
    lake = {"bucket": pipeline.bucket, "prefix": pipeline.prefix}
    if pipeline.endpoint_url:
        lake["endpoint_url"] = pipeline.endpoint_url
    plugins["loaders"] = [
        {"name": "target-s3", "config": {**lake, "table_format": pipeline.table_format}}
    ]
    plugins["utilities"] = [{"name": "erp-quality", "config": dict(lake)}]
    if pipeline.schedule:
        document["schedules"] = [
            {"name": f"{client}-pipeline", "job": "erp-to-s3", "interval": pipeline.schedule}
        ]
    return document


def _check_managed(path: Path) -> None:
    if path.exists() and not path.read_text(encoding="utf-8").startswith(MARKER):
        raise ConflictError(
            f"client: clients/{path.name} exists and is written by hand; choose another name"
        )


def check_free(clients_dir: Path, client: str) -> None:
    """Raise ConflictError if a hand-written environment has this client's name."""
    _check_managed(environment_path(clients_dir, client))


def write_environment(project_dir: Path, connection: Connection, pipeline: Pipeline | None) -> Path:
    """Write (atomically) the client's environment file; hand-written files are refused."""
    clients_dir = project_dir / "clients"
    path = environment_path(clients_dir, connection.client)
    _check_managed(path)
    body = yaml.safe_dump(environment_document(project_dir, connection, pipeline), sort_keys=False)
    clients_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(f"{MARKER}\n{body}", encoding="utf-8")
    tmp.replace(path)
    return path


def remove_environment(clients_dir: Path, client: str) -> None:
    """Delete a managed environment file (hand-written ones stay)."""
    path = environment_path(clients_dir, client)
    _check_managed(path)
    path.unlink(missing_ok=True)
