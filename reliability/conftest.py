"""The matrix's options, the lab each test process shares, and its report."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from erp_sandbox.testing import sandbox_server
from erp_testing.project import ROOT
from target_s3.testing import local_s3

from reliability.report import MatrixReport
from reliability.scenarios import BASELINE
from reliability.trial import Outcome, trial
from reliability.workspace import Lab

ORDERS = 300
FORMS = ("short", "full", "soak")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fault matrix")
    group.addoption(
        "--matrix",
        choices=FORMS,
        default="full",
        help="short: `make test` (fewer Delta kills); full: `make reliability`; "
        "soak: `make soak` (50 kills per kind, 3 trials per fault)",
    )
    group.addoption(
        "--seed", type=int, default=7, help="seed of the kill points and the sandbox data"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(MatrixReport(), "fault-matrix-report")


@pytest.fixture(scope="session", autouse=True)
def _plugins_installed() -> None:
    if not (ROOT / ".meltano" / "loaders" / "target-s3").exists():
        pytest.fail("Meltano plugins are not installed: run `make setup`")


@pytest.fixture(scope="session")
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """A sandbox and a local S3 server per test process, calibrated: a clean slowed
    run measures how long each plugin lives (the kill points are drawn within it)."""
    seed = request.config.getoption("--seed")
    with contextlib.ExitStack() as stack:
        s3 = stack.enter_context(local_s3(bucket=None))
        erp = stack.enter_context(sandbox_server(orders=ORDERS, seed=seed))
        lab = Lab(erp, s3, seed, lifetimes={})
        lab.baseline = trial(BASELINE, 0, lab)
        lab.lifetimes.update(lab.baseline.first.lifetimes)
        yield lab


@pytest.fixture(scope="session")
def baseline(lab: Lab) -> Outcome:
    return lab.baseline
