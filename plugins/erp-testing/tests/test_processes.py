"""run_cli kills a plugin process at the point asked for; error_line finds the line."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from erp_testing.processes import After, Run, error_line, run_cli

# A stand-in plugin: writes a STATE line, then waits for the next one to be asked for
# (a file that never appears), so it only ends by being killed.
PLUGIN = """import sys, time
for n in range(1, 11):
    print('{"pos": %d}' % n, flush=True)
    time.sleep(0.05)
while True:
    time.sleep(1)
"""


@pytest.fixture
def plugin(tmp_path: Path) -> Path:
    path = tmp_path / "target-s3"  # a plugin name the watcher knows
    path.write_text(f"#!{sys.executable}\n{PLUGIN}")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("states", [1, 4, 10])
def test_kill_after_the_nth_state(plugin: Path, states: int) -> None:
    run = run_cli([str(plugin)], dict(os.environ), victim="target-s3", after=After('"pos"', states))
    assert run.killed == "target-s3"
    assert run.rc == -9
    assert len(run.stdout.splitlines()) >= states


def test_nothing_is_killed_without_a_victim(plugin: Path) -> None:
    run = run_cli([str(plugin)], dict(os.environ), timeout=1, watch=True)
    assert run.killed is None
    assert run.rc is None  # still running at the timeout; the group was killed after
    assert "target-s3" in run.lifetimes


@pytest.mark.parametrize(
    ("output", "pattern", "line"),
    [
        (
            "2026-01-01 | INFO | tap-erp | reading\n"
            "2026-01-01 | ERROR | tap-erp | setting 'page_size': 0 is out of range\n"
            "2026-01-01T00:00:00Z [error    ] Extractor failed\n",
            None,
            "setting 'page_size': 0 is out of range",
        ),
        (
            "2026-01-01T00:00:00Z [info     ] Run started\n"
            "2026-01-01T00:00:00Z [error    ] Run failed: bucket missing\n",
            r"bucket",
            "Run failed: bucket missing",
        ),
        ("all fine\n", r"bucket", ""),
    ],
)
def test_error_line(output: str, pattern: str | None, line: str) -> None:
    assert error_line(Run(rc=1, stdout="", stderr=output, seconds=0.0), pattern) == line
