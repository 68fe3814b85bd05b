"""Each loader gets the tap's records the way it reads them, with no extra flags.

tap-erp writes its records to JSON-lines files (BATCH messages). target-s3 reads the
files itself; loaders that read RECORD lines only (target-jsonl, target-postgres) run
behind record-lines, declared in meltano.yml, which hands them the files' records as
RECORD lines and takes the files. The tap's STATE for a batch waits until its files
are taken, so a run that relied on `batch_wait_seconds` would fail, not pass.
"""

from __future__ import annotations

import json

import psycopg
import pytest

# One small stream keeps these runs short.
ONLY_VENDORS = {"TAP_ERP__SELECT": json.dumps(["vendors.*"]), "TAP_ERP_BATCH_WAIT_SECONDS": "120"}

# loader, what it is handed
LOADERS = [
    ("target-s3", "BATCH"),
    ("target-jsonl", "RECORD"),
    ("target-postgres", "RECORD"),
]


def landed_vendors(project, loader: str, postgres) -> int:
    if loader == "target-s3":
        lake = project.lake()
        return lake.query(f"SELECT count(*) FROM {lake.table('vendors')}")[0][0]
    if loader == "target-postgres":
        with psycopg.connect(postgres.dsn) as conn:
            schema = f"handoff_{project.endpoints.bucket.replace('-', '_')}"
            return conn.execute(f'SELECT count(*) FROM "{schema}".vendors').fetchone()[0]
    (path,) = (project.workdir / "jsonl").glob("vendors*.jsonl")
    return len(path.read_text().splitlines())


@pytest.mark.parametrize(("loader", "handed"), LOADERS)
def test_each_loader_gets_what_it_reads(project, erp, postgres, loader, handed):
    project.env.update(ONLY_VENDORS)
    project.env["TARGET_JSONL_DESTINATION_PATH"] = str(project.workdir / "jsonl")
    project.env.update(postgres.loader_env())
    schema = f"handoff_{project.endpoints.bucket.replace('-', '_')}"
    project.env["TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA"] = schema  # apart from other tests
    result = project.run("--environment=demo", "run", "tap-erp", loader)
    vendors = len(erp.records("acme", "vendors"))
    assert "'vendors': 1 batch file(s) written" in result.stderr  # the tap sent BATCH
    expanded = f"1 batch file(s) taken, {vendors} RECORD line(s) handed to {loader}"
    assert (expanded in result.stderr) == (handed == "RECORD")
    assert landed_vendors(project, loader, postgres) == vendors
