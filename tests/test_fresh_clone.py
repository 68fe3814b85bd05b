"""The README's client recipe as written: a fresh clone, `cp .env.example .env`,
nothing exported, then `meltano --environment=acme run tap-erp target-s3`.

Meltano fills `$VAR` in plugin config from `.env`, but not variables of an
environment's `env:` that refer to other variables (those are expanded against the
process environment only), so every client environment names its `.env` variables
in its plugin config directly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml
from erp_quality.lake import Lake, LakeConfig
from erp_testing.project import BIN, ROOT, STREAMS

COPIED = ("meltano.yml", "clients", "transforms", ".env.example")
LINKED = ("tap-erp", "plugins")


def client_files() -> list[Path]:
    return sorted((ROOT / "clients").glob("*.meltano.yml"))


@pytest.mark.parametrize("path", client_files(), ids=lambda p: p.name)
def test_no_environment_variable_refers_to_another(path):
    """`env: {LAKE_BUCKET: $ACME_LAKE_BUCKET}` is never filled from .env."""
    for environment in yaml.safe_load(path.read_text())["environments"]:
        for name, value in (environment.get("env") or {}).items():
            assert "$" not in str(value), (
                f"{path.name}: env {name}: {value!r} is not filled from .env; name the "
                "variable in the plugin's config instead"
            )


def fresh_clone(tmp_path: Path) -> Path:
    """The project's files in a new folder, with the installed plugins linked (what
    `make setup` would install there)."""
    clone = tmp_path / "erp-elt"
    clone.mkdir()
    for name in COPIED:
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, clone / name)
    for name in LINKED:
        (clone / name).symlink_to(ROOT / name)
    (clone / ".meltano").mkdir()
    for kind in ("extractors", "loaders", "utilities"):
        (clone / ".meltano" / kind).symlink_to(ROOT / ".meltano" / kind)
    return clone


def test_the_readme_recipe_runs_with_only_the_env_file(tmp_path, erp, s3):
    erp.reset()
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    s3.client().create_bucket(Bucket=bucket)  # what `make services` does for erp-lake
    clone = fresh_clone(tmp_path)
    # `cp .env.example .env`; this test's servers listen on ports of their own
    env_file = (clone / ".env.example").read_text()
    env_file = env_file.replace("http://127.0.0.1:8765", erp.url)
    env_file = env_file.replace("http://127.0.0.1:5555", s3.endpoint_url)
    env_file = env_file.replace("ACME_LAKE_BUCKET=erp-lake", f"ACME_LAKE_BUCKET={bucket}")
    (clone / ".env").write_text(env_file)

    result = subprocess.run(
        [str(BIN / "meltano"), "--environment=acme", "run", "tap-erp", "target-s3"],
        cwd=clone,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},  # nothing exported
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]

    lake = Lake(
        LakeConfig(
            bucket=bucket,
            prefix="clients",
            client_id="acme",
            endpoint_url=s3.endpoint_url,
            access_key_id="local",
            secret_access_key="local",
        )
    )
    counts = erp.stats("acme")["counts"]
    for stream in STREAMS:
        landed = lake.query(f"SELECT count(*) FROM {lake.table(stream)}")[0][0]
        assert landed == counts[stream], stream
