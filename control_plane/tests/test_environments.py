"""A connection and its pipeline as a Meltano environment file."""

from __future__ import annotations

import pytest
import yaml
from erp_control_plane.database import Connection, Pipeline
from erp_control_plane.environments import MARKER, remove_environment, write_environment
from erp_control_plane.errors import ConflictError
from erp_control_plane.settings import PROJECT_ROOT


def connection(**values) -> Connection:
    return Connection(
        client=values.get("client", "hooli"),
        profile="erp_sandbox",
        base_url="http://erp.example/hooli",
        auth_method="api_key",
        settings={"page_size": 500},
        secret_names=["api_key"],
    )


def pipeline() -> Pipeline:
    return Pipeline(
        streams=["customers"],
        bucket="lake",
        prefix="clients",
        table_format="delta",
        endpoint_url=None,
        schedule="0 3 * * *",
    )


@pytest.fixture
def project(tmp_path):
    (tmp_path / "transforms").symlink_to(PROJECT_ROOT / "transforms")
    return tmp_path


def test_secrets_are_variables_and_the_pipeline_fills_loader_and_schedule(project):
    path = write_environment(project, connection(), pipeline())
    text = path.read_text()
    assert text.startswith(MARKER)
    (env,) = yaml.safe_load(text)["environments"]
    (tap,) = env["config"]["plugins"]["extractors"]
    assert tap["config"]["api_key"] == "$HOOLI_ERP_API_KEY"
    assert tap["config"]["page_size"] == 500
    assert tap["select"] == ["customers.*"]
    assert tap["config"]["stream_map_files"] == [
        "$MELTANO_PROJECT_ROOT/transforms/erp_sandbox/standard_model.yml"
    ]
    (loader,) = env["config"]["plugins"]["loaders"]
    assert loader["config"] == {"bucket": "lake", "prefix": "clients", "table_format": "delta"}
    assert env["env"] == {"CLIENT_ID": "hooli", "SOURCE_SYSTEM": "erp_sandbox"}
    (schedule,) = yaml.safe_load(text)["schedules"]
    assert schedule == {"name": "hooli-pipeline", "job": "erp-to-s3", "interval": "0 3 * * *"}


def test_a_hand_written_environment_is_never_overwritten_or_removed(project):
    (project / "clients").mkdir()
    hand = project / "clients" / "hooli.meltano.yml"
    hand.write_text("environments: []\n")
    with pytest.raises(ConflictError, match="written by hand"):
        write_environment(project, connection(), None)
    with pytest.raises(ConflictError):
        remove_environment(project / "clients", "hooli")
    assert hand.read_text() == "environments: []\n"


def test_removing_a_managed_environment_deletes_its_file(project):
    path = write_environment(project, connection(), None)
    remove_environment(project / "clients", "hooli")
    assert not path.exists()
