"""The shared helpers describe the checkout they are installed from."""

from __future__ import annotations

import yaml
from erp_testing.project import ROOT, STREAMS, Endpoints, meltano_env, state_id
from erp_testing.standard_model import KEYS, STANDARD_COLUMNS


def test_root_is_the_meltano_project():
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    assert project["project_id"] == "erp-elt"


def test_every_stream_has_standard_columns_and_keys():
    assert set(STREAMS) == set(STANDARD_COLUMNS) == set(KEYS)
    for stream, (native, standard) in KEYS.items():
        assert len(native) == len(standard)
        assert set(standard) <= set(STANDARD_COLUMNS[stream]), stream


def test_meltano_env_points_every_plugin_at_the_endpoints():
    endpoints = Endpoints(erp_url="http://127.0.0.1:1/acme", s3_endpoint_url="http://127.0.0.1:2")
    env = meltano_env(endpoints, base={"PATH": "/bin"})
    assert env["PATH"] == "/bin"
    assert env["TAP_ERP_BASE_URL"] == "http://127.0.0.1:1/acme"
    for plugin in ("TARGET_S3", "ERP_QUALITY"):
        assert env[f"{plugin}_ENDPOINT_URL"] == "http://127.0.0.1:2"
        assert env[f"{plugin}_BUCKET"] == endpoints.bucket
    assert env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] == "false"
    assert state_id("acme") == "acme:tap-erp-to-target-s3"
