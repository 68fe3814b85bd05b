"""Ways a run is made to meet drift or a broken batch folder, shared by the end-to-end
tests and the fault matrix: each returns the plugin setting (an environment value)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from erp_testing.project import ROOT

MAPS = ROOT / "transforms" / "erp_sandbox"


def map_files(workdir: Path, *, voltage: bool) -> str:
    """`TAP_ERP_STREAM_MAP_FILES`: acme's map files, with or without
    `spec_voltage: U_Voltage` (without it, a custom field the maps drop)."""
    client = yaml.safe_load((MAPS / "clients" / "acme.yml").read_text())
    if not voltage:
        del client["products"]["spec_voltage"]
    path = workdir / f"acme-voltage-{voltage}.yml"
    path.write_text(yaml.safe_dump(client))
    return json.dumps([str(MAPS / "standard_model.yml"), str(path)])


def batch_root_under_a_file(workdir: Path) -> str:
    """`TAP_ERP_BATCH_CONFIG` whose folder cannot be created: its parent is a file
    (`ENOTDIR`, a real OS refusal that needs no special file system)."""
    blocker = workdir / "not-a-folder"
    blocker.write_text("x")
    root = (blocker / "batches").as_uri()
    config = {"encoding": {"format": "jsonl"}, "storage": {"root": root}, "batch_size": 100000}
    return json.dumps(config)
