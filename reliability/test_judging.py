"""How a faulted run is judged: exit code against the expected outcome, the one line,
tracebacks and secrets (no servers needed)."""

from __future__ import annotations

import pytest
from erp_testing.processes import Run

from reliability.expect import RECOVERS, Expect, rejected
from reliability.lake import Tally
from reliability.trial import judge_first

LINE = "target-s3 failed: bucket 'x' does not exist (setting 'bucket')"
KILL = Expect(first="fails")
WARNS = Expect(first="ok", says=r"custom field 'U_X' is dropped")
WARNING = "tap-erp 'products': custom field 'U_X' is dropped by the stream maps"


@pytest.mark.parametrize(
    ("expect", "rc", "output", "injected", "judged"),  # judged: silent, unclear, failed runs
    [
        (KILL, -9, "Extractor failed", True, (0, 0, 0)),
        (KILL, 0, "Run completed", True, (1, 0, 0)),  # killed, yet exit 0: silent
        (KILL, 0, "Run completed", False, (0, 0, 0)),  # the kill came after the end
        (RECOVERS, 0, "Run completed", True, (0, 0, 0)),
        (RECOVERS, 1, "Run failed", True, (0, 0, 1)),  # a retried fault must not fail it
        (rejected(r"bucket 'x'"), 1, LINE, True, (0, 0, 0)),
        (rejected(r"bucket 'x'"), 0, LINE, True, (1, 1, 0)),
        (rejected(r"bucket 'x'"), 1, "Run failed", True, (0, 1, 0)),  # not the line
        (rejected(r"bucket 'x'"), 1, f"Traceback (most recent call last)\n{LINE}", True, (0, 1, 0)),
        (rejected(r"bucket 'x'"), 1, f"{LINE} key acme-key-123", True, (0, 1, 0)),  # a secret
        (rejected(r"HTTP 404", never="retry"), 1, "HTTP 404 from GET; retry 1", True, (0, 1, 0)),
        (RECOVERS, None, "", True, (0, 1, 0)),  # still running at the timeout
        (WARNS, 0, f"{WARNING}\nRun completed", True, (0, 0, 0)),
        (WARNS, 0, "Run completed", True, (0, 1, 0)),  # dropped without a word
        (WARNS, 0, f"{WARNING}\n{WARNING}", True, (0, 1, 0)),  # said twice, not once
    ],
)
def test_judge_first(
    expect: Expect,
    rc: int | None,
    output: str,
    injected: bool,
    judged: tuple[int, int, int],
) -> None:
    tally, _ = judge_first(expect, Run(rc=rc, stdout="", stderr=output, seconds=1.0), injected)
    assert (tally.silent, tally.unclear, tally.failed_runs) == judged


@pytest.mark.parametrize(
    ("counts", "passed"),
    [
        ({"trials": 1, "expected": 10, "landed": 10}, True),
        ({"trials": 0}, False),
        ({"trials": 1, "expected": 10, "landed": 9, "lost": 1}, False),
        ({"trials": 1, "expected": 10, "landed": 10, "duplicated": 1}, False),
        ({"trials": 1, "state_ahead": 1}, False),
        ({"trials": 1, "silent": 1}, False),
        ({"trials": 1, "phantom": 1}, False),
        ({"trials": 1, "extra_versions": 5}, True),  # older versions are history
        ({"trials": 1, "expected": 10, "landed": 8, "quarantined": 2}, True),  # in _rejected/
        ({"trials": 1, "expected": 10, "landed": 8, "quarantined": 1}, False),
    ],
)
def test_a_row_passes_only_without_loss_duplicates_or_state_ahead(
    counts: dict, passed: bool
) -> None:
    assert Tally(**counts).passed is passed
