"""Every setting of the control plane, read once from environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from erp_control_plane.errors import SettingError

# control_plane/erp_control_plane/settings.py: the Meltano project is two folders up.
PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: name -> (default, description); the README's settings table lists the same.
SETTINGS: dict[str, tuple[str | None, str]] = {
    "ERP_CONTROL_PLANE_TOKEN": (
        None,
        "Bearer token every API request must carry (default: the token file's content).",
    ),
    "ERP_CONTROL_PLANE_TOKEN_FILE": (
        "{state}/token",
        "File holding the token when the variable is unset (`make control-plane` creates one).",
    ),
    "ERP_CONTROL_PLANE_DATABASE_URL": (
        "sqlite:///{state}/control-plane.db",
        "SQLAlchemy URL of the database, e.g. postgresql+psycopg://user@host/db.",
    ),
    "ERP_CONTROL_PLANE_SECRET_KEY": (
        None,
        "Fernet key of the encrypted secret file (default: read from, or created in, "
        "ERP_CONTROL_PLANE_SECRET_KEY_FILE).",
    ),
    "ERP_CONTROL_PLANE_SECRET_KEY_FILE": ("{state}/secret.key", "File holding the Fernet key."),
    "ERP_CONTROL_PLANE_SECRETS_FILE": ("{state}/secrets.json", "The encrypted secret file."),
    "ERP_CONTROL_PLANE_SECRET_STORE": (
        "",
        "`module:factory` of another secret store (a vault); empty: the encrypted file.",
    ),
    "ERP_CONTROL_PLANE_PROJECT_DIR": ("{root}", "The Meltano project whose clients it manages."),
    "ERP_CONTROL_PLANE_MAX_RUNS": ("2", "Runs going on at the same time (more wait queued)."),
    "ERP_CONTROL_PLANE_JOB": ("erp-to-s3", "Meltano job a pipeline run runs."),
}


@dataclass(frozen=True)
class Settings:
    """The control plane's settings, resolved."""

    token: str
    database_url: str
    secret_key: str | None
    secret_key_file: Path
    secrets_file: Path
    secret_store: str
    project_dir: Path
    max_runs: int
    job: str

    @property
    def clients_dir(self) -> Path:
        """Where the Meltano environments of the clients live."""
        return self.project_dir / "clients"

    @staticmethod
    def token_file(environ: Mapping[str, str]) -> Path:
        """Where the token is read from when the variable is unset."""
        project = Path(environ.get("ERP_CONTROL_PLANE_PROJECT_DIR") or PROJECT_ROOT)
        default = project / ".meltano" / "control-plane" / "token"
        return Path(environ.get("ERP_CONTROL_PLANE_TOKEN_FILE") or default)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, require_token: bool = True
    ) -> Settings:
        """Read the settings; a missing or bad one raises SettingError naming it.

        Without `require_token` (readers of the secret store that serve no API), the
        token may be missing.
        """
        env = os.environ if environ is None else environ
        project = Path(env.get("ERP_CONTROL_PLANE_PROJECT_DIR") or PROJECT_ROOT)
        state = project / ".meltano" / "control-plane"

        def get(name: str) -> str:
            value = env.get(name) or SETTINGS[name][0] or ""
            return value.format(state=state, root=project)

        token = get("ERP_CONTROL_PLANE_TOKEN")
        token_file = cls.token_file(env)
        if not token and token_file.is_file():
            token = token_file.read_text(encoding="utf-8").strip()
        if require_token and len(token) < 16:
            raise SettingError(
                "ERP_CONTROL_PLANE_TOKEN: set it to the API's bearer token (16 characters or more)"
            )
        max_runs = get("ERP_CONTROL_PLANE_MAX_RUNS")
        if not max_runs.isdigit() or int(max_runs) < 1:
            raise SettingError("ERP_CONTROL_PLANE_MAX_RUNS: a whole number of 1 or more")
        return cls(
            token=token,
            database_url=get("ERP_CONTROL_PLANE_DATABASE_URL"),
            secret_key=env.get("ERP_CONTROL_PLANE_SECRET_KEY") or None,
            secret_key_file=Path(get("ERP_CONTROL_PLANE_SECRET_KEY_FILE")),
            secrets_file=Path(get("ERP_CONTROL_PLANE_SECRETS_FILE")),
            secret_store=get("ERP_CONTROL_PLANE_SECRET_STORE"),
            project_dir=project,
            max_runs=int(max_runs),
            job=get("ERP_CONTROL_PLANE_JOB"),
        )
