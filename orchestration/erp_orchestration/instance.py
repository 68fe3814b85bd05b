"""The Dagster instance of one machine: `DAGSTER_HOME/dagster.yaml`.

SQLite run and event storage in the folder, telemetry off, and the run queue with the
limits: at most `ERP_ORCHESTRATION_MAX_RUNS` runs in progress (default 8) and at most
`ERP_ORCHESTRATION_HOST_LIMIT` (default 2) per ERP host (runs tagged `erp/host`).
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from erp_orchestration.definitions_settings import HOST_TAG, whole_number

DEFAULT_MAX_RUNS = 8
DEFAULT_HOST_LIMIT = 2


def instance_config(home: Path, *, max_runs: int, host_limit: int) -> dict:
    """dagster.yaml as data."""
    return {
        "telemetry": {"enabled": False},
        "storage": {"sqlite": {"base_dir": str(home / "storage")}},
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {"dequeue_interval_seconds": 2},
        },
        "concurrency": {
            "runs": {
                "max_concurrent_runs": max_runs,
                "tag_concurrency_limits": [
                    {
                        "key": HOST_TAG,
                        "value": {"applyLimitPerUniqueValue": True},
                        "limit": host_limit,
                    }
                ],
            }
        },
    }


def prepare_home(home: Path) -> Path:
    """Write `home/dagster.yaml` from the settings; returns the path."""
    home.mkdir(parents=True, exist_ok=True)
    config = instance_config(
        home.resolve(),
        max_runs=whole_number(os.environ, "ERP_ORCHESTRATION_MAX_RUNS", DEFAULT_MAX_RUNS),
        host_limit=whole_number(os.environ, "ERP_ORCHESTRATION_HOST_LIMIT", DEFAULT_HOST_LIMIT),
    )
    path = home / "dagster.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
