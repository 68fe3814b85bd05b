"""Shared fixtures: one sandbox server subprocess for the HTTP tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from erp_sandbox.testing import SandboxServer, sandbox_server


@pytest.fixture(scope="session")
def server() -> Iterator[SandboxServer]:
    with sandbox_server(orders=2000, seed=42) as sb:
        yield sb


@pytest.fixture
def sb(server: SandboxServer) -> Iterator[SandboxServer]:
    """The shared server, reset to its starting state after each test."""
    yield server
    server.reset()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s
