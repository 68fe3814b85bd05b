"""The benchmark command works on a fresh clone (a tiny run; speed is not asserted)."""

from __future__ import annotations

import subprocess
import sys

from erp_testing.project import ROOT


def test_bench_command_runs_every_contender_but_dlt_and_checks_rows():
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--records",
            "3000",
            "--rounds",
            "1",
            "--page-size",
            "500",
            "--only",
            "fetch,baseline,meltano,tap,tap-raw,target,delta",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for name in ("fetch", "baseline", "meltano", "tap", "tap-raw", "target", "meltano (delta)"):
        assert f"| {name} |" in out
    assert out.count("rows OK") == 7
    assert "changed lines merged" in out and "landed alone (parquet)" in out
    assert "rerun with nothing changed" in out
    assert "meltano/baseline:" in out
