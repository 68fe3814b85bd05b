"""A Tryton server shared by the read-only tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tryton_testbed import TrytonServer, tryton_server


@pytest.fixture(scope="session")
def server() -> Iterator[TrytonServer]:
    """One server for every test that only reads."""
    with tryton_server() as running:
        yield running
