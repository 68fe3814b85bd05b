"""Secrets stay secret, TLS is verified by default, hostile values cannot inject."""

from __future__ import annotations

import io
import json
import os
import time
import urllib.parse
from pathlib import Path

import pytest
from erp_sandbox.testing import CREDENTIALS
from erp_testing.processes import error_line, run_cli
from target_s3.fault_proxy import fault_proxy

from reliability.report import record_check
from reliability.workspace import DEMO_RUN, STATE_ARGS, STATE_ID, Lab, workspace

TAP_EXE = Path(__file__).resolve().parents[1] / ".meltano/extractors/tap-erp/venv/bin/tap-erp"
SECRETS = {
    "api key": CREDENTIALS["acme"]["api_key"],
    "bearer token": "bearer-SECRET-7c1e0f",
    "password": "password-SECRET-52ab",
    "client secret": "client-SECRET-e93d",
    "s3 secret key": "s3-SECRET-1b7f44",
}
ALLOWED_PARAMS = {
    "offset",
    "limit",
    "modified_since",
    "modified_before",
    "cursor",
    "page",
    "page_size",
}
HOSTILE_START_DATES = [
    "2024-01-01T00:00:00Z&foo=1",
    "2024-01-01T00:00:00+02:00#limit=1",
    "2024-01-01T00:00:00Z limit=1&offset=5",
]


def checked(request: pytest.FixtureRequest, name: str, ok: bool, detail: str) -> None:
    record_check(request.node, name, ok, detail)
    assert ok, f"{name}: {detail}"


def parquet_metadata(body: bytes) -> bytes:
    """Key/value metadata and schema of a Parquet file, as text (empty otherwise)."""
    if not body.startswith(b"PAR1"):
        return b""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(io.BytesIO(body)).metadata
    return (str(meta.metadata) + str(meta.schema)).encode()


def test_no_secret_anywhere(lab: Lab, request: pytest.FixtureRequest) -> None:
    """Five secrets set for a run at debug log level appear in no output, log, state
    or S3 object."""
    started = time.time()
    with workspace(
        lab,
        TAP_ERP_AUTH_METHOD="api_key",
        TAP_ERP_BEARER_TOKEN=SECRETS["bearer token"],
        TAP_ERP_USERNAME="someone",
        TAP_ERP_PASSWORD=SECRETS["password"],
        TAP_ERP_CLIENT_SECRET=SECRETS["client secret"],
        AWS_SECRET_ACCESS_KEY=SECRETS["s3 secret key"],
        TARGET_S3_AWS_ACCESS_KEY_ID="local",
        TARGET_S3_AWS_SECRET_ACCESS_KEY=SECRETS["s3 secret key"],
    ) as ws:
        run = ws.meltano("--log-level=debug", *DEMO_RUN)
        state = ws.meltano(*STATE_ARGS, "get", STATE_ID, timeout=120)
        places = {
            "run stdout": run.stdout.encode(),
            "run stderr": run.stderr.encode(),
            "meltano state": state.output.encode(),
        }
        for logs in (Path(ws.env["XDG_STATE_HOME"]), Path(ws.env["MELTANO_SYS_DIR_ROOT"])):
            for path in logs.rglob("*.log") if logs.exists() else ():
                if path.stat().st_mtime >= started:
                    places[f"log {path}"] = path.read_bytes()
        client = lab.s3.client()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=ws.bucket):
            for item in page.get("Contents", []):
                body = client.get_object(Bucket=ws.bucket, Key=item["Key"])["Body"].read()
                places[f"s3 {item['Key']}"] = body + parquet_metadata(body)
    leaks = [
        f"{what} in {where}"
        for where, blob in places.items()
        for what, secret in SECRETS.items()
        if secret.encode() in blob
    ]
    objects = sum(1 for p in places if p.startswith("s3 "))
    checked(request, "normal run with 5 secrets set succeeds", run.rc == 0, f"exit {run.rc}")
    checked(
        request,
        "no secret in stdout/stderr/logs/state/S3 objects",
        not leaks,
        "; ".join(leaks) or f"searched {len(places)} places ({objects} objects, debug log level)",
    )


def test_tls_verified_by_default(request: pytest.FixtureRequest) -> None:
    about = run_cli([str(TAP_EXE), "--about", "--format=json"], dict(os.environ), timeout=60)
    default = json.loads(about.stdout)["settings"]["properties"]["verify_tls"].get("default")
    checked(
        request,
        "verify_tls defaults to true (tap --about)",
        default is True,
        f"default={default!r}",
    )


@pytest.mark.parametrize("value", HOSTILE_START_DATES)
def test_start_date_cannot_inject(
    value: str, lab: Lab, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A hostile start_date reaches the ERP encoded, or is refused in one line."""
    with fault_proxy(lab.erp.port) as proxy:
        config = {
            "base_url": f"{proxy.url}/acme",
            "api_key": CREDENTIALS["acme"]["api_key"],
            "page_size": 50,
            "start_date": value,
            "max_retries": 0,
        }
        path = tmp_path / "tap.json"
        path.write_text(json.dumps(config))
        run = run_cli([str(TAP_EXE), "--config", str(path)], dict(os.environ), timeout=120)
    params: set[str] = set()
    for _, target in proxy.requests:
        query = urllib.parse.urlsplit(target).query
        params |= set(urllib.parse.parse_qs(query, keep_blank_values=True))
    injected = params - ALLOWED_PARAMS
    refused = run.rc not in (0, None) and "Traceback" not in run.output
    how = (
        f"rejected: {(error_line(run, r'start_date') or error_line(run))[:120]}"
        if run.rc
        else f"sent encoded ({len(proxy.requests)} requests, params {sorted(params)})"
    )
    checked(
        request,
        f"start_date {value!r} cannot inject",
        not injected and (refused or run.rc == 0),
        how + (f"; injected {sorted(injected)}" if injected else ""),
    )
