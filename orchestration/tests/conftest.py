"""A sandbox ERP and a local S3 server for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from erp_sandbox.testing import SandboxServer, sandbox_server
from target_s3.testing import LocalS3, local_s3


@pytest.fixture(scope="session")
def erp() -> Iterator[SandboxServer]:
    with sandbox_server(orders=200, tenants=("acme", "globex")) as server:
        yield server


@pytest.fixture(scope="session")
def s3() -> Iterator[LocalS3]:
    with local_s3(bucket="lake") as server:
        yield server
