"""The contenders of bench/run.py: how each one is started and how its output is checked.

Each contender is a function `(bench, round) -> RunResult` that runs one process
tree under `procmon.run_measured` and raises `BenchError` unless it extracted or
landed exactly `bench.expected` rows.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from erp_sandbox.testing import CREDENTIALS, SandboxServer
from erp_testing.project import MELTANO, ROOT, Endpoints, meltano, meltano_env, state_id
from procmon import Measurement, run_measured
from target_s3.testing import LocalS3

BENCH = ROOT / "bench"

PY = sys.executable
API_KEY = CREDENTIALS["acme"]["api_key"]
STREAM = "sales_order_lines"
MAP_FILES = [
    str(ROOT / "transforms/erp_sandbox/standard_model.yml"),
    str(ROOT / "transforms/erp_sandbox/clients/acme.yml"),
]
PLUGIN_BIN = {
    "tap-erp": ROOT / ".meltano/extractors/tap-erp/venv/bin/tap-erp",
    "target-s3": ROOT / ".meltano/loaders/target-s3/venv/bin/target-s3",
}
# s3fs (needed by dlt's filesystem destination) pins an older botocore than the
# project's boto3, so it lives in its own folder, on PYTHONPATH of the dlt process only.
DLT_SITE = Path(tempfile.gettempdir()) / "erp-elt-bench" / "dlt-site"
S3FS = "s3fs==2026.9.0"


class BenchError(RuntimeError):
    """A contender failed or did not deliver every row."""


@dataclass
class Bench:
    """Servers, scratch space and the expected row count shared by all runs."""

    sandbox: SandboxServer
    s3: LocalS3
    bucket: str
    work: Path
    expected: int
    page_size: int
    recorded: Path = field(init=False)

    def __post_init__(self) -> None:
        self.recorded = self.work / "recorded.singer"

    @property
    def erp_url(self) -> str:
        """The tenant's base URL."""
        return self.sandbox.tenant_url("acme")

    def timeout(self) -> float:
        """Upper bound of one run (seconds)."""
        return 300 + self.expected / 1000


@dataclass
class RunResult:
    """One run of one contender."""

    seconds: float
    peak_mb: dict[str, float]
    types: str = ""
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    note: str = ""  # printed after the run's line


def executable(name: str) -> str:
    """A plugin's console script as Meltano installed it, else the project venv's."""
    path = PLUGIN_BIN[name]
    return str(path if path.exists() else Path(PY).with_name(name))


def checked(name: str, m: Measurement) -> Measurement:
    """Raise unless the run exited 0."""
    if m.returncode != 0:
        msg = f"{name} exited with {m.returncode}:\n{m.stderr_tail}"
        raise BenchError(msg)
    return m


def expect_rows(name: str, got: int, bench: Bench) -> None:
    """Raise unless exactly the sandbox's number of lines arrived."""
    if got != bench.expected:
        msg = f"{name}: {got:,} rows, expected {bench.expected:,}"
        raise BenchError(msg)


def count_singer_records(path: Path) -> int:
    """RECORD messages in a Singer file."""
    count = 0
    with path.open("rb") as f:
        for line in f:
            if line.startswith((b'{"type":"RECORD"', b'{"type": "RECORD"')):
                count += 1
    return count


def _col_type(schema: pa.Schema, names: tuple[str, ...]) -> str:
    for f in schema:
        if f.name.replace("_", "").lower() in names:
            return str(f.type).replace("timestamp", "ts").replace("decimal128", "dec")
    return "?"


def count_parquet_rows(bench: Bench, prefix: str) -> tuple[int, str]:
    """Rows of every Parquet object under a prefix, and the money/timestamp column types."""
    client = bench.s3.client()
    rows, types = 0, ""
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bench.bucket, Prefix=prefix.rstrip("/") + "/"):
        for obj in page.get("Contents", []):
            if not obj["Key"].endswith(".parquet"):
                continue
            body = client.get_object(Bucket=bench.bucket, Key=obj["Key"])["Body"].read()
            meta = pq.ParquetFile(io.BytesIO(body))
            rows += meta.metadata.num_rows
            if not types:
                schema = meta.schema_arrow
                money = _col_type(schema, ("lineamount", "linetotal"))
                types = f"{money} / {_col_type(schema, ('updatedat', 'modifiedon'))}"
    return rows, types


# --- tap configs and the recorded Singer file ----------------------------------------


def tap_files(bench: Bench, with_maps: bool) -> tuple[Path, Path]:
    """Config and catalog (only sales_order_lines selected) for tap-erp alone."""
    suffix = "maps" if with_maps else "raw"
    config_path = bench.work / f"tap-config-{suffix}.json"
    catalog_path = bench.work / "tap-catalog.json"
    config: dict[str, Any] = {
        "base_url": bench.erp_url,
        "api_key": API_KEY,
        "page_size": bench.page_size,
    }
    if with_maps:
        config["stream_map_files"] = MAP_FILES
    config_path.write_text(json.dumps(config))
    if not catalog_path.exists():
        catalog_path.write_text(json.dumps(discover(config_path)))
    return config_path, catalog_path


def discover(config_path: Path) -> dict[str, Any]:
    """Run --discover and select only sales_order_lines."""
    out = subprocess.run(
        [executable("tap-erp"), "--config", str(config_path), "--discover"],
        capture_output=True,
        check=True,
        timeout=300,
    )
    catalog = json.loads(out.stdout)
    for entry in catalog["streams"]:
        for md in entry["metadata"]:
            if md["breadcrumb"] == []:
                md["metadata"]["selected"] = entry["tap_stream_id"] == STREAM
    return catalog


def run_tap(bench: Bench, with_maps: bool, out_path: Path) -> Measurement:
    """tap-erp alone, its Singer output into a file (in memory when /dev/shm is used)."""
    config, catalog = tap_files(bench, with_maps)
    cmd = [executable("tap-erp"), "--config", str(config), "--catalog", str(catalog)]
    with out_path.open("wb") as out:
        m = run_measured(cmd, os.environ, stdout=out, timeout=bench.timeout())
    return checked("tap-erp", m)


def prepare(bench: Bench, names: list[str]) -> None:
    """Untimed set-up: warm the sandbox, record the tap's output, install dlt's s3fs."""
    body_rows = subprocess.run(
        [PY, str(BENCH / "fetch_pages.py"), bench.erp_url, API_KEY, str(bench.page_size)],
        capture_output=True,
        check=True,
        text=True,
        timeout=bench.timeout(),
    )
    expect_rows("warm-up fetch", int(body_rows.stdout), bench)
    if "target" in names:
        run_tap(bench, True, bench.recorded)
        expect_rows("recorded tap output", count_singer_records(bench.recorded), bench)
    if "dlt" in names:
        ensure_dlt_site()
    if "meltano" in names and not PLUGIN_BIN["tap-erp"].exists():
        meltano("install", env=meltano_env(endpoints(bench, "install")))


def ensure_dlt_site() -> None:
    """Install s3fs (and its own botocore) into DLT_SITE once, with uv or pip."""
    if (DLT_SITE / "s3fs").is_dir():
        return
    uv = Path(PY).with_name("uv")
    if uv.exists():
        cmd = [str(uv), "pip", "install", "--quiet", "--python", PY, "--target", str(DLT_SITE)]
    else:
        cmd = [PY, "-m", "pip", "install", "--quiet", "--target", str(DLT_SITE)]
    subprocess.run([*cmd, S3FS], check=True, timeout=600)


# --- the contenders ------------------------------------------------------------------


def fetch(bench: Bench, index: int) -> RunResult:
    """Fetch every page and discard it (the sandbox's limit)."""
    cmd = [PY, str(BENCH / "fetch_pages.py"), bench.erp_url, API_KEY, str(bench.page_size)]
    with tempfile.TemporaryFile() as out:
        m = checked("fetch", run_measured(cmd, os.environ, stdout=out, timeout=bench.timeout()))
        out.seek(0)
        expect_rows("fetch", int(out.read()), bench)
    return RunResult(m.seconds, m.peak_mb, cpu_seconds=m.cpu_seconds)


def baseline(bench: Bench, index: int) -> RunResult:
    """Hand-written requests + orjson + pyarrow → Parquet on S3."""
    prefix = f"baseline-{index}"
    cmd = [
        PY,
        str(BENCH / "baseline.py"),
        bench.erp_url,
        API_KEY,
        bench.s3.endpoint_url,
        bench.bucket,
        prefix,
        str(bench.page_size),
    ]
    m = checked("baseline", run_measured(cmd, os.environ, timeout=bench.timeout()))
    rows, types = count_parquet_rows(bench, prefix)
    expect_rows("baseline", rows, bench)
    return RunResult(m.seconds, m.peak_mb, types, m.cpu_seconds)


def endpoints(bench: Bench, prefix: str) -> Endpoints:
    """The demo environment pointed at the benchmark's servers."""
    return Endpoints(
        erp_url=bench.erp_url,
        s3_endpoint_url=bench.s3.endpoint_url,
        bucket=bench.bucket,
        prefix=prefix,
    )


def meltano_bench_env(bench: Bench, prefix: str) -> dict[str, str]:
    """meltano_env plus: one stream, the bench page size, a scratch system DB and logs."""
    env = meltano_env(endpoints(bench, prefix))
    env.update(
        {
            "TAP_ERP__SELECT": json.dumps([f"{STREAM}.*"]),
            "TAP_ERP_PAGE_SIZE": str(bench.page_size),
            "MELTANO_DATABASE_URI": f"sqlite:///{bench.work / 'meltano.db'}",
            "XDG_STATE_HOME": str(bench.work / "xdg-state"),
        }
    )
    return env


def meltano_run(bench: Bench, index: int) -> RunResult:
    """`meltano --environment=demo run tap-erp target-s3`, state cleared, fresh prefix."""
    prefix = f"meltano-{index}"
    env = meltano_bench_env(bench, prefix)
    cleared = meltano(
        "state", "clear", "--force", state_id("demo"), env=env, check=False, capture=True
    )
    if cleared.returncode != 0:
        msg = f"meltano state clear exited with {cleared.returncode}:\n{cleared.stderr[-2000:]}"
        raise BenchError(msg)
    cmd = [MELTANO, "--environment=demo", "run", "tap-erp", "target-s3"]
    m = checked("meltano", run_measured(cmd, env, cwd=ROOT, timeout=bench.timeout()))
    rows, types = count_parquet_rows(bench, f"{prefix}/acme/{STREAM}")
    expect_rows("meltano", rows, bench)
    return RunResult(m.seconds, m.peak_mb, types, m.cpu_seconds, nothing_changed(bench, env))


def nothing_changed(bench: Bench, env: dict[str, str]) -> str:
    """The same run again from the saved state: its wall time and ERP requests."""
    before = bench.sandbox.stats("acme")["requests"]["data"]
    cmd = [MELTANO, "--environment=demo", "run", "tap-erp", "target-s3"]
    m = checked("meltano (nothing changed)", run_measured(cmd, env, cwd=ROOT, timeout=300))
    sent = bench.sandbox.stats("acme")["requests"]["data"] - before
    return f"rerun with nothing changed: {m.seconds:.1f} s, {sent} ERP request(s)"


def _tap(bench: Bench, with_maps: bool) -> RunResult:
    out_path = bench.work / "tap-out.singer"
    try:
        m = run_tap(bench, with_maps, out_path)
        expect_rows("tap" if with_maps else "tap-raw", count_singer_records(out_path), bench)
    finally:
        out_path.unlink(missing_ok=True)
    return RunResult(m.seconds, m.peak_mb, cpu_seconds=m.cpu_seconds)


def tap(bench: Bench, index: int) -> RunResult:
    """tap-erp alone with the project's stream maps."""
    return _tap(bench, with_maps=True)


def tap_raw(bench: Bench, index: int) -> RunResult:
    """tap-erp alone without stream maps (native field names)."""
    return _tap(bench, with_maps=False)


def target(bench: Bench, index: int) -> RunResult:
    """target-s3 alone, fed the recorded output of `tap` on stdin."""
    prefix = f"target-{index}"
    config = bench.s3.target_config(
        bucket=bench.bucket, client_id="acme", prefix=prefix, compression="zstd"
    )
    config["source_system"] = "erp_sandbox"
    config_path = bench.work / "target-config.json"
    config_path.write_text(json.dumps(config))
    cmd = [executable("target-s3"), "--config", str(config_path)]
    with bench.recorded.open("rb") as stdin:
        m = run_measured(cmd, os.environ, stdin=stdin, timeout=bench.timeout())
    checked("target-s3", m)
    rows, types = count_parquet_rows(bench, f"{prefix}/acme/{STREAM}")
    expect_rows("target", rows, bench)
    return RunResult(m.seconds, m.peak_mb, types, m.cpu_seconds)


def dlt(bench: Bench, index: int) -> RunResult:
    """dlt rest_api source → filesystem destination, Parquet on the same S3."""
    prefix = f"dlt-{index}"
    data_dir = bench.work / "dlt"
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": str(DLT_SITE),
            "RUNTIME__DLTHUB_TELEMETRY": "false",
            "DLT_DATA_DIR": str(data_dir),
            "DESTINATION__FILESYSTEM__BUCKET_URL": f"s3://{bench.bucket}/{prefix}",
            "DESTINATION__FILESYSTEM__CREDENTIALS__AWS_ACCESS_KEY_ID": bench.s3.access_key_id,
            "DESTINATION__FILESYSTEM__CREDENTIALS__AWS_SECRET_ACCESS_KEY": (
                bench.s3.secret_access_key
            ),
            "DESTINATION__FILESYSTEM__CREDENTIALS__ENDPOINT_URL": bench.s3.endpoint_url,
            "DESTINATION__FILESYSTEM__CREDENTIALS__REGION_NAME": bench.s3.region,
        }
    )
    pipelines = data_dir / f"pipelines-{index}"
    cmd = [
        PY,
        str(BENCH / "dlt_contender.py"),
        bench.erp_url,
        API_KEY,
        str(pipelines),
        str(bench.page_size),
    ]
    m = checked("dlt", run_measured(cmd, env, timeout=bench.timeout()))
    rows, types = count_parquet_rows(bench, f"{prefix}/erp/{STREAM}")
    expect_rows("dlt", rows, bench)
    return RunResult(m.seconds, m.peak_mb, types, m.cpu_seconds)


CONTENDERS: dict[str, Callable[[Bench, int], RunResult]] = {
    "fetch": fetch,
    "baseline": baseline,
    "meltano": meltano_run,
    "tap": tap,
    "tap-raw": tap_raw,
    "target": target,
    "dlt": dlt,
}
