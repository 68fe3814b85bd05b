"""One isolated use of the project per trial: a fresh sandbox state, bucket and
Meltano system database, and the commands a trial runs in it."""

from __future__ import annotations

import contextlib
import json
import tempfile
import typing as t
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from erp_quality.lake import Lake, LakeConfig
from erp_sandbox.testing import CREDENTIALS, SandboxServer
from erp_testing.processes import Run, run_cli
from erp_testing.project import MELTANO, ROOT, Endpoints, meltano_env, state_id
from target_s3.testing import LocalS3

from reliability import lake as judge

ENVIRONMENT = "demo"
DEMO_RUN = (f"--environment={ENVIRONMENT}", "run", "tap-erp", "target-s3")
STATE_ID = state_id(ENVIRONMENT)
STATE_ARGS = (f"--environment={ENVIRONMENT}", "state")
PREFIX = "rel"
S3_SECRET = "reliability-aws-secret"  # the local S3 server takes any key
#: Secrets of the matrix's runs: no output may show one.
SECRETS = (
    CREDENTIALS["acme"]["api_key"],
    CREDENTIALS["globex"]["client_secret"],
    "wrong-key-9f3",
    S3_SECRET,
)
GLOBEX_MAPS = json.dumps(
    [
        str(ROOT / "transforms" / "erp_sandbox" / "standard_model.yml"),
        str(ROOT / "transforms" / "erp_sandbox" / "clients" / "globex.yml"),
    ]
)
#: Small pages and batches: many requests to fault, several files per stream.
SETTINGS = {
    "TAP_ERP_PAGE_SIZE": "50",
    "TAP_ERP_BACKOFF_BASE_SECONDS": "0.05",
    "TAP_ERP_BACKOFF_MAX_SECONDS": "0.5",
    "TARGET_S3_BATCH_MAX_ROWS": "200",
    "TAP_ERP_BATCH_CONFIG_BATCH_SIZE": "250",
}


@dataclass
class Lab:
    """What every trial of one test process shares: a sandbox, a local S3 server."""

    erp: SandboxServer
    s3: LocalS3
    seed: int
    lifetimes: dict[str, float]  # seconds each plugin lives in a slowed clean run
    baseline: t.Any = None  # the calibrating trial's outcome


@dataclass
class Workspace:
    """A fresh bucket and Meltano system database on the lab's sandbox."""

    lab: Lab
    tenant: str
    bucket: str
    env: dict[str, str]
    workdir: Path

    @property
    def erp(self) -> SandboxServer:
        return self.lab.erp

    def meltano(self, *args: str, **kw: t.Any) -> Run:
        return run_cli([MELTANO, *args], self.env, **kw)

    def run(self, **kw: t.Any) -> Run:
        """`meltano run tap-erp target-s3` (kw: `env` overrides, kill options)."""
        env = dict(self.env, **kw.pop("env", {}))
        return run_cli([MELTANO, *DEMO_RUN], env, **kw)

    def lake(self) -> Lake:
        return Lake(
            LakeConfig(
                bucket=self.bucket,
                prefix=PREFIX,
                client_id=self.tenant,
                endpoint_url=self.lab.s3.endpoint_url,
                access_key_id=self.env["AWS_ACCESS_KEY_ID"],
                secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            )
        )

    def state(self) -> dict | None:
        """Meltano's saved state (`meltano state get`); None when there is none."""
        got = self.meltano(*STATE_ARGS, "get", STATE_ID, timeout=120)
        text = got.stdout
        if got.rc != 0 or "{" not in text:
            return None
        return json.loads(text[text.index("{") :])

    def data_files(self) -> list[str]:
        """Every landed data file (the run audit left out)."""
        return [k for k in self.lake().keys("") if "/_audit/" not in k]

    def compare(self) -> judge.Tally:
        return judge.compare(self.lake(), self.erp, self.tenant)

    def state_ahead(self) -> list[str]:
        return judge.state_ahead(self.state(), self.lake(), self.erp, self.tenant)


def private_sys_dir(tmp: Path) -> str:
    """A `.meltano` of its own (the installed plugins linked in), so that runs in
    parallel do not share Meltano's run folder, where each run writes its catalog."""
    sys_dir = tmp / "meltano-sys"
    sys_dir.mkdir()
    for kind in ("extractors", "loaders", "utilities"):
        if (ROOT / ".meltano" / kind).is_dir():
            (sys_dir / kind).symlink_to(ROOT / ".meltano" / kind)
    return str(sys_dir)


def tenant_settings(tenant: str) -> dict[str, str]:
    """globex signs in with OAuth2 client credentials and pages by cursor."""
    if tenant != "globex":
        return {}
    creds = CREDENTIALS["globex"]
    return {
        "TAP_ERP_AUTH_METHOD": "oauth2",
        "TAP_ERP_CLIENT_ID": creds["client_id"],
        "TAP_ERP_CLIENT_SECRET": creds["client_secret"],
        "TAP_ERP_PAGINATION_STYLE": "cursor",
        "TAP_ERP_STREAM_MAP_FILES": GLOBEX_MAPS,
    }


@contextlib.contextmanager
def workspace(lab: Lab, tenant: str = "acme", **env: str) -> Iterator[Workspace]:
    """Reset the sandbox; a new bucket, system database and environment."""
    lab.erp.reset()
    bucket = lab.s3.create_bucket(f"rel-{uuid.uuid4().hex[:12]}")
    endpoints = Endpoints(
        erp_url=lab.erp.tenant_url(tenant),
        s3_endpoint_url=lab.s3.endpoint_url,
        bucket=bucket,
        prefix=PREFIX,
        client_id=tenant,
        secret_access_key=S3_SECRET,
    )
    base = meltano_env(endpoints)
    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
        base.update(
            {
                "MELTANO_SYS_DIR_ROOT": private_sys_dir(Path(tmp)),
                "XDG_STATE_HOME": f"{tmp}/xdg-state",
                "MELTANO_DATABASE_URI": f"sqlite:///{tmp}/meltano.db",
                **SETTINGS,
                **tenant_settings(tenant),
                **env,
            }
        )
        try:
            yield Workspace(lab, tenant, bucket, base, Path(tmp))
        finally:
            with contextlib.suppress(Exception):
                lab.erp.set_faults(tenant, {})
            with contextlib.suppress(Exception):
                lab.erp.set_drift(tenant, {})
