"""The control plane keeps connections and pipelines in SQLite or PostgreSQL across restarts."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from erp_control_plane.testing import control_plane_server, scratch_project

CONNECTION = {
    "client": "hooli",
    "profile": "erp_sandbox",
    "base_url": "http://127.0.0.1:9/hooli",
    "auth_method": "basic",
    "settings": {"username": "gavin"},
    "secrets": {"password": "hooli-pass-777"},
}


def database_url(kind: str, request, tmp_path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'control-plane.db'}"
    pg = request.getfixturevalue("postgres")
    return f"postgresql+psycopg://{pg.user}@{pg.host}:{pg.port}/{pg.database}"


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_connections_and_pipelines_outlive_a_restart(kind, request, tmp_path):
    project = scratch_project(tmp_path / "project")
    settings = {
        "ERP_CONTROL_PLANE_DATABASE_URL": database_url(kind, request, tmp_path),
        "ERP_CONTROL_PLANE_SECRET_KEY": Fernet.generate_key().decode(),
        "ERP_CONTROL_PLANE_TOKEN": "a-token-that-stays-the-same",
    }
    with control_plane_server(project, settings=settings) as api:
        connection = api.post("/connections", json=CONNECTION).json()
        pipeline = api.post(
            "/pipelines",
            json={"connection_id": connection["id"], "bucket": "lake", "prefix": "clients"},
        ).json()
    with control_plane_server(project, settings=settings) as api:
        assert api.get(f"/connections/{connection['id']}").json() == connection
        assert api.get(f"/pipelines/{pipeline['id']}").json() == pipeline
        assert api.get("/runs").json() == []
        assert "hooli-pass-777" not in api.get("/connections").text
        assert api.request("DELETE", f"/connections/{connection['id']}").status_code == 409
        assert api.request("DELETE", f"/pipelines/{pipeline['id']}").status_code == 204
        assert api.request("DELETE", f"/connections/{connection['id']}").status_code == 204
        assert api.get("/connections").json() == []
    assert not (project / "clients" / "hooli.meltano.yml").exists()
