"""Secrets of an API-managed client as the variables its environment file names."""

from __future__ import annotations

from erp_control_plane.client_secrets import secret_environment
from erp_control_plane.database import Connection, open_database
from erp_control_plane.secret_store import open_secret_store
from erp_control_plane.settings import Settings
from sqlalchemy.orm import Session


def test_a_managed_client_gets_its_variables_and_others_none(tmp_path):
    settings = Settings.from_env(
        {"ERP_CONTROL_PLANE_PROJECT_DIR": str(tmp_path)}, require_token=False
    )
    engine = open_database(settings.database_url)
    with Session(engine) as db:
        db.add(Connection(id="c" * 32, client="hooli", profile="erp_sandbox", base_url="http://x"))
        db.commit()
    engine.dispose()
    open_secret_store(settings).put("c" * 32, {"api_key": "k-1", "password": "p-2"})
    assert secret_environment("hooli", settings) == {
        "HOOLI_ERP_API_KEY": "k-1",
        "HOOLI_ERP_PASSWORD": "p-2",
    }
    assert secret_environment("acme", settings) == {}
