"""Every row of the fault matrix: each trial injects its fault, reruns and is judged;
the report (`reliability/report.py`) sums the trials per row."""

from __future__ import annotations

import pytest

from reliability.expect import Scenario
from reliability.report import record_check, record_row
from reliability.scenarios import BASELINE, SCENARIOS
from reliability.trial import Outcome, trial
from reliability.workspace import Lab, workspace

TRIALS = [s for s in SCENARIOS if s is not BASELINE]  # the baseline calibrates each process


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if {"scenario", "index"} <= set(metafunc.fixturenames):
        form = metafunc.config.getoption("--matrix")
        cases = [(s, i) for s in TRIALS for i in range(s.count(form))]
        ids = [f"{s.name} #{i + 1}" for s, i in cases]
        metafunc.parametrize(("scenario", "index"), cases, ids=ids)


def judged(request: pytest.FixtureRequest, scenario: Scenario, outcome: Outcome) -> None:
    line = outcome.line if scenario.expect.line or scenario.expect.says else ""
    record_row(request.node, scenario.name, outcome.tally, line)
    assert outcome.tally.passed, outcome.tally.notes


def test_baseline(baseline: Outcome, request: pytest.FixtureRequest) -> None:
    """The clean slowed run that calibrates the kill points lands everything once."""
    judged(request, BASELINE, baseline)


def test_trial(scenario: Scenario, index: int, lab: Lab, request: pytest.FixtureRequest) -> None:
    judged(request, scenario, trial(scenario, index, lab))


def test_matrix_sees_a_copied_and_a_deleted_file(lab: Lab, request: pytest.FixtureRequest) -> None:
    """Controls: a landed data file copied must count as duplicated, deleted as lost."""
    with workspace(lab) as ws:
        assert ws.run().rc == 0
        client = lab.s3.client()
        keys = sorted(k for k in ws.lake().keys("sales_order_lines/") if k.endswith(".parquet"))
        victim, copy = keys[0], keys[0].replace(".parquet", "-copy.parquet")
        source = {"Bucket": ws.bucket, "Key": victim}
        client.copy_object(Bucket=ws.bucket, Key=copy, CopySource=source)
        copied = ws.compare()
        client.delete_object(Bucket=ws.bucket, Key=copy)
        client.delete_object(Bucket=ws.bucket, Key=victim)
        deleted = ws.compare()
    checks = [
        ("matrix counts the rows of a copied file as duplicated", copied.duplicated > 0,
         f"duplicated={copied.duplicated}"),
        ("matrix counts the rows of a deleted file as lost", deleted.lost > 0,
         f"lost={deleted.lost}"),
    ]  # fmt: skip
    for name, ok, detail in checks:
        record_check(request.node, name, ok, detail)
    assert all(ok for _, ok, _ in checks), checks
