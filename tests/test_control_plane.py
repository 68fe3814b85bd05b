"""The control-plane API end to end: a real uvicorn server, the sandbox, local S3, Meltano.

Clients are onboarded through the API only, into a scratch copy of the project (its own
`clients/`), and their runs go through the orchestrator's one-client runner.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import boto3
import pytest
import requests
from erp_control_plane.testing import ControlPlane, control_plane_server, scratch_project
from erp_quality.lake import Lake, LakeConfig
from erp_testing.project import STREAMS

PREFIX = "clients"

#: tenant -> (connection body without base_url, its secret values)
CLIENTS: dict[str, dict[str, Any]] = {
    "acme": {"auth_method": "api_key", "secrets": {"api_key": "acme-key-123"}},
    "globex": {
        "auth_method": "oauth2",
        "settings": {"client_id": "globex-client", "pagination_style": "cursor"},
        "secrets": {"client_secret": "globex-secret"},
    },
    "initech": {
        "auth_method": "basic",
        "settings": {"username": "initech", "pagination_style": "page"},
        "secrets": {"password": "initech-pass"},
    },
}
#: A client whose key the ERP refuses: its run fails alone.
WRONG_KEY_CLIENT = (
    "umbrella",
    "acme",
    {"auth_method": "api_key", "secrets": {"api_key": "nope-wrong-key-9"}},
)
SECRET_VALUES = [
    value for body in [*CLIENTS.values(), WRONG_KEY_CLIENT[2]] for value in body["secrets"].values()
]


@pytest.fixture(scope="module")
def bucket(s3) -> str:
    name = f"cp-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def api(tmp_path_factory, erp) -> ControlPlane:
    erp.reset()
    project = scratch_project(tmp_path_factory.mktemp("control-plane") / "project")
    env = {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with control_plane_server(project, env={**os.environ, **env}, max_runs=3) as server:
        yield server


def onboard(api: ControlPlane, client: str, tenant: str, body: dict, erp, s3, bucket) -> str:
    """Create a client's connection and pipeline through the API; the pipeline id."""
    connection = api.post(
        "/connections",
        json={
            "client": client,
            "profile": "erp_sandbox",
            "base_url": erp.tenant_url(tenant),
            **body,
        },
    )
    assert connection.status_code == 201, connection.text
    pipeline = api.post(
        "/pipelines",
        json={
            "connection_id": connection.json()["id"],
            "bucket": bucket,
            "prefix": PREFIX,
            "endpoint_url": s3.endpoint_url,
            "schedule": "0 2 * * *",
        },
    )
    assert pipeline.status_code == 201, pipeline.text
    return pipeline.json()["id"]


@pytest.fixture(scope="module")
def finished_runs(api, erp, s3, bucket) -> dict[str, dict]:
    """Onboard every client, trigger all runs, wait for them: client -> run."""
    pipelines = {c: onboard(api, c, c, body, erp, s3, bucket) for c, body in CLIENTS.items()}
    client, tenant, body = WRONG_KEY_CLIENT
    pipelines[client] = onboard(api, client, tenant, body, erp, s3, bucket)
    run_ids = {}
    for client, pipeline_id in pipelines.items():
        accepted = api.post(f"/pipelines/{pipeline_id}/run")
        assert accepted.status_code == 202, accepted.text
        run_ids[client] = accepted.json()["run_id"]
    second = api.post(f"/pipelines/{pipelines['acme']}/run")
    assert second.status_code == 409, "a second run of a running pipeline is refused"
    return {client: api.wait_for_run(run_id) for client, run_id in run_ids.items()}


def lake(s3, bucket: str, client: str) -> Lake:
    return Lake(
        LakeConfig(
            bucket=bucket,
            prefix=PREFIX,
            client_id=client,
            endpoint_url=s3.endpoint_url,
            access_key_id="local",
            secret_access_key="local",
        )
    )


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_an_onboarded_client_lands_the_sandbox_totals_in_its_own_prefix(
    client, finished_runs, erp, s3, bucket
):
    run = finished_runs[client]
    assert run["status"] == "succeeded", run["error"] or run["log_tail"]
    assert run["started_at"] and run["ended_at"] and run["error"] is None
    totals = erp.stats(client)["counts"]
    assert {stream: load["rows"] for stream, load in run["streams"].items()} == {
        stream: totals[stream] for stream in STREAMS
    }
    tables = lake(s3, bucket, client)
    assert tables.streams() == sorted(STREAMS)
    for stream in STREAMS:
        count = tables.query(f"SELECT count(*) FROM {tables.table(stream)}")[0][0]
        assert count == totals[stream], stream


def test_a_client_with_a_wrong_key_fails_alone_with_one_clear_error(finished_runs):
    run = finished_runs[WRONG_KEY_CLIENT[0]]
    assert run["status"] == "failed"
    assert "\n" not in run["error"]
    assert "401" in run["error"] or "authentication" in run["error"].lower(), run["error"]
    assert all(finished_runs[c]["status"] == "succeeded" for c in CLIENTS)


@pytest.mark.parametrize(
    ("client", "ok", "says"),
    [
        ("acme", True, {"customers": ["U_LoyaltyTier", "U_Segment"]}),
        (WRONG_KEY_CLIENT[0], False, "401"),
    ],
)
def test_checking_a_connection_logs_in_and_discovers_streams_and_custom_fields(
    api, finished_runs, client, ok, says
):
    (connection,) = [c for c in api.get("/connections").json() if c["client"] == client]
    result = api.post(f"/connections/{connection['id']}/test").json()
    assert result["ok"] is ok
    if ok:
        found = {s["name"]: s["custom_fields"] for s in result["streams"]}
        assert set(found) == set(STREAMS)
        assert all(found[stream] == fields for stream, fields in says.items())
    else:
        assert says in result["error"] and "\n" not in result["error"]
        assert not any(value in result["error"] for value in SECRET_VALUES)


def test_the_environment_written_runs_by_hand_as_a_meltano_environment(api, finished_runs):
    listed = api.get("/pipelines").json()
    files = sorted(p["environment_file"] for p in listed)
    assert files == sorted(f"clients/{c}.meltano.yml" for c in [*CLIENTS, WRONG_KEY_CLIENT[0]])


def test_no_secret_in_any_response_log_or_environment_file(api, finished_runs):
    connections = api.get("/connections").json()
    seen = [json.dumps(connections)]
    seen += [api.get(f"/connections/{c['id']}").text for c in connections]
    seen += [api.get("/pipelines").text, api.get("/runs").text]
    seen += [api.get(f"/runs/{r['id']}").text for r in finished_runs.values()]
    seen.append(api.log())
    project = api.log_path.parents[2]
    seen += [(project / "clients" / f"{c['client']}.meltano.yml").read_text() for c in connections]
    seen.append((project / ".meltano" / "control-plane" / "secrets.json").read_text())
    text = "\n".join(seen)
    assert {c["client"]: c["secret_names"] for c in connections}["acme"] == ["api_key"]
    leaked = [value for value in SECRET_VALUES if value in text]
    assert not leaked, "a secret value left the secret store"


def test_a_cancelled_run_stops_and_frees_its_pipeline(api, finished_runs):
    pipeline_id = finished_runs["acme"]["pipeline_id"]
    run_id = api.post(f"/pipelines/{pipeline_id}/run").json()["run_id"]
    assert api.post(f"/runs/{run_id}/cancel").status_code == 202
    run = api.wait_for_run(run_id)
    assert (run["status"], run["error"]) == ("cancelled", "cancelled")
    assert api.post(f"/runs/{run_id}/cancel").status_code == 409
    history = api.get("/runs", params={"pipeline_id": pipeline_id}).json()
    assert [r["id"] for r in history] == [run_id, finished_runs["acme"]["id"]]


GOOD = {"client": "hooli", "profile": "erp_sandbox", "base_url": "http://127.0.0.1:9/hooli"}

#: (case, token, method, path, body, expected status, field named in the 422)
BAD_INPUT = [
    ("no token", None, "POST", "/connections", GOOD, 401, None),
    ("wrong token", "not-the-token-at-all", "POST", "/connections", GOOD, 401, None),
    ("wrong token on a read", "not-the-token-at-all", "GET", "/runs", None, 401, None),
    (
        "unknown profile",
        "ok",
        "POST",
        "/connections",
        {**GOOD, "profile": "sap_r2"},
        422,
        "profile",
    ),
    ("bad URL", "ok", "POST", "/connections", {**GOOD, "base_url": "ftp//x"}, 422, "base_url"),
    (
        "URL with credentials",
        "ok",
        "POST",
        "/connections",
        {**GOOD, "base_url": "http://u:p@h/x"},
        422,
        "base_url",
    ),
    (
        "path in a name",
        "ok",
        "POST",
        "/connections",
        {**GOOD, "client": "../../etc/x"},
        422,
        "client",
    ),
    (
        "SQL in a name",
        "ok",
        "POST",
        "/connections",
        {**GOOD, "client": "x'; DROP TABLE connections;--"},
        422,
        "client",
    ),
    (
        "unknown secret",
        "ok",
        "POST",
        "/connections",
        {**GOOD, "secrets": {"passwd": "x"}},
        422,
        "secrets",
    ),
    (
        "unknown setting",
        "ok",
        "POST",
        "/connections",
        {**GOOD, "settings": {"batch_config": {}}},
        422,
        "settings",
    ),
    (
        "unknown auth method",
        "ok",
        "POST",
        "/connections",
        {**GOOD, "auth_method": "kerberos"},
        422,
        "auth_method",
    ),
    ("unknown field", "ok", "POST", "/connections", {**GOOD, "owner": "x"}, 422, "owner"),
    ("hand-written client", "ok", "POST", "/connections", {**GOOD, "client": "demo"}, 409, None),
    ("path in an id", "ok", "GET", "/connections/..%2F..%2Fetc%2Fpasswd", None, 404, None),
    (
        "SQL in an id",
        "ok",
        "POST",
        "/pipelines/1%27%20OR%20%271%27=%271/run",
        None,
        422,
        "pipeline_id",
    ),
    (
        "unknown connection",
        "ok",
        "POST",
        "/pipelines",
        {"connection_id": "0" * 32, "bucket": "b-1", "prefix": "p"},
        422,
        "connection_id",
    ),
    (
        "path in a prefix",
        "ok",
        "POST",
        "/pipelines",
        {"connection_id": "0" * 32, "bucket": "b-1", "prefix": "../x"},
        422,
        "prefix",
    ),
    (
        "bad bucket",
        "ok",
        "POST",
        "/pipelines",
        {"connection_id": "0" * 32, "bucket": "B_1", "prefix": "p"},
        422,
        "bucket",
    ),
    (
        "bad schedule",
        "ok",
        "POST",
        "/pipelines",
        {"connection_id": "0" * 32, "bucket": "b-1", "prefix": "p", "schedule": "daily"},
        422,
        "schedule",
    ),
    (
        "bad table format",
        "ok",
        "POST",
        "/pipelines",
        {"connection_id": "0" * 32, "bucket": "b-1", "prefix": "p", "table_format": "csv"},
        422,
        "table_format",
    ),
]


def written(api: ControlPlane) -> tuple:
    """What the API has written: its rows, the environment files, the secret file."""
    project = api.log_path.parents[2]
    secrets = project / ".meltano" / "control-plane" / "secrets.json"
    return (
        api.get("/connections").text,
        api.get("/pipelines").text,
        api.get("/runs").text,
        sorted((p.name, p.read_text()) for p in (project / "clients").iterdir()),
        secrets.read_bytes() if secrets.exists() else None,
    )


@pytest.mark.parametrize(
    ("token", "method", "path", "body", "status", "field"),
    [case[1:] for case in BAD_INPUT],
    ids=[case[0] for case in BAD_INPUT],
)
def test_bad_input_is_refused_and_nothing_is_written(api, token, method, path, body, status, field):
    before = written(api)
    headers = (
        {}
        if token is None
        else {"Authorization": f"Bearer {api.token if token == 'ok' else token}"}
    )
    response = requests.request(method, api.url + path, json=body, headers=headers, timeout=60)
    assert response.status_code == status, response.text
    if field is not None:
        assert field in [part for error in response.json()["detail"] for part in error["loc"]]
    assert written(api) == before


def test_the_api_documents_itself_at_docs(api):
    assert requests.get(api.url + "/docs", timeout=30).status_code == 200
    paths = requests.get(api.url + "/openapi.json", timeout=30).json()["paths"]
    assert {
        "/connections",
        "/connections/{connection_id}",
        "/connections/{connection_id}/test",
        "/pipelines",
        "/pipelines/{pipeline_id}",
        "/pipelines/{pipeline_id}/run",
        "/runs",
        "/runs/{run_id}",
        "/runs/{run_id}/cancel",
    } == set(paths)
