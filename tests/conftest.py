"""End-to-end fixtures: the sandbox ERP, a local S3 server and an isolated Meltano run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from erp_quality.lake import Lake, LakeConfig
from erp_sandbox.testing import sandbox_server
from erp_testing.postgres import postgres_server
from erp_testing.project import ROOT, Endpoints, meltano, meltano_env
from target_s3.testing import local_s3

ORDERS = 400  # small enough for quick runs, large enough for several pages per stream


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything in this folder is end to end."""
    for item in items:
        if Path(str(item.fspath)).is_relative_to(ROOT / "tests"):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session", autouse=True)
def _plugins_installed() -> None:
    if not (ROOT / ".meltano" / "extractors" / "tap-erp").exists():
        pytest.fail("Meltano plugins are not installed: run `make setup` (or `make test`)")


@pytest.fixture(scope="session")
def erp() -> Iterator:
    with sandbox_server(orders=ORDERS) as server:
        yield server


@pytest.fixture(scope="session")
def s3() -> Iterator:
    with local_s3() as server:
        yield server


@pytest.fixture(scope="session")
def postgres() -> Iterator:
    """A real PostgreSQL server of the tests' own (see erp_testing.postgres)."""
    with postgres_server() as server:
        yield server


@dataclass
class Project:
    """One isolated use of the Meltano project: own bucket and system database."""

    endpoints: Endpoints
    env: dict[str, str]
    workdir: Path

    def run(self, *args: str, check: bool = True):
        """`meltano <args>` in the project root; output captured."""
        result = meltano(*args, env=self.env, check=False, capture=True)
        if check and result.returncode != 0:
            raise AssertionError(
                f"meltano {' '.join(args)} exited {result.returncode}\n"
                f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-8000:]}"
            )
        return result

    def lake(self, client_id: str | None = None, prefix: str | None = None) -> Lake:
        """Read one client's tables back over the S3 API."""
        ep = self.endpoints
        return Lake(
            LakeConfig(
                bucket=ep.bucket,
                prefix=ep.prefix if prefix is None else prefix,
                client_id=client_id or ep.client_id,
                endpoint_url=ep.s3_endpoint_url,
                access_key_id=ep.access_key_id,
                secret_access_key=ep.secret_access_key,
            )
        )

    def s3_client(self):
        ep = self.endpoints
        return boto3.client(
            "s3",
            endpoint_url=ep.s3_endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=ep.access_key_id,
            aws_secret_access_key=ep.secret_access_key,
        )


@pytest.fixture
def project(erp, s3, tmp_path: Path) -> Project:
    """A fresh sandbox, a fresh bucket and a fresh Meltano system database."""
    erp.reset()
    endpoints = Endpoints(
        erp_url=erp.tenant_url("acme"),
        s3_endpoint_url=s3.endpoint_url,
        bucket=f"lake-{uuid.uuid4().hex[:12]}",
    )
    env = meltano_env(endpoints)
    env["MELTANO_DATABASE_URI"] = f"sqlite:///{tmp_path / 'meltano.db'}"
    proj = Project(endpoints=endpoints, env=env, workdir=tmp_path)
    proj.s3_client().create_bucket(Bucket=endpoints.bucket)
    return proj
