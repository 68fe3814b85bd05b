"""The secret variables of an API-managed client, for runs started elsewhere.

The control plane fills `<CLIENT>_ERP_<SETTING>` itself for the runs it starts; an
orchestrator (or a shell) running `meltano --environment=<client> …` for a client the
API manages gets them here:

    env.update(secret_environment("acme"))
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from erp_control_plane.database import Connection, open_database
from erp_control_plane.environments import secret_variable
from erp_control_plane.secret_store import open_secret_store
from erp_control_plane.settings import Settings


def secret_environment(client: str, settings: Settings | None = None) -> dict[str, str]:
    """Variables of one client's secrets ({} when the API does not manage the client)."""
    settings = settings or Settings.from_env(require_token=False)
    engine = open_database(settings.database_url)
    try:
        with Session(engine) as db:
            connection = db.scalar(select(Connection).where(Connection.client == client))
    finally:
        engine.dispose()
    if connection is None:
        return {}
    values = open_secret_store(settings).get(connection.id)
    return {secret_variable(client, name): value for name, value in values.items()}
