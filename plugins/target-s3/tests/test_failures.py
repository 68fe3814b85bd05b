"""Failing uploads, bad settings and kill -9: no STATE without data, no duplicates."""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time
from collections import Counter

import pyarrow as pa
import pytest
from conftest import TARGET, list_keys, order_stream, read_parquet, run_target, states
from target_s3.fault_proxy import fault_proxy
from target_s3.testing import free_port


def assert_one_clear_error(result, *needles: str) -> None:
    err = result.stderr.decode()
    assert result.returncode != 0
    assert "Traceback" not in err, err[-3000:]
    lines = [line for line in err.splitlines() if "target-s3 failed:" in line]
    assert len(lines) == 1, err[-3000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "local" not in lines[0].split("failed:", 1)[1]  # no secrets echoed


def visible_ids(s3, bucket) -> list[int]:
    tables = read_parquet(s3, bucket, "lake/acme/order_lines/")
    return sorted(pa.concat_tables(tables).column("id").to_pylist()) if tables else []


def test_missing_bucket(s3, config, tmp_path):
    config["bucket"] = "no-such-bucket-here"
    result = run_target(config, order_stream(range(1, 10), state_every=3), tmp_path)
    assert_one_clear_error(result, "bucket 'no-such-bucket-here' does not exist")
    assert result.stdout == b""


def test_unreachable_endpoint(config, tmp_path):
    config.update(endpoint_url=f"http://127.0.0.1:{free_port()}", s3_max_attempts=1)
    result = run_target(config, order_stream(range(1, 10), state_every=3), tmp_path)
    assert_one_clear_error(result, "cannot reach S3 endpoint", "endpoint_url")
    assert result.stdout == b""


@pytest.mark.parametrize(
    ("config_change", "needle"),
    [
        ({"key_template": "{client}/{stream}/x.parquet"}, "key_template"),
        ({"client_id": "_bad id"}, "client_id"),
        ({"sse": "rot13"}, "sse"),
        ({"stream_partition_fields": {"order_lines": "sku"}}, "stream_partition_fields"),
    ],
)
def test_bad_settings(config, tmp_path, config_change, needle):
    config.update(config_change)
    result = run_target(config, order_stream(range(1, 10), state_every=3), tmp_path)
    assert_one_clear_error(result, needle)
    assert result.stdout == b""


def test_invalid_setting_type_is_rejected(config, tmp_path):
    config["compression"] = "lz4"
    result = run_target(config, order_stream(range(1, 10)), tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr.decode()
    assert result.stdout == b""


def test_denied_writes(s3, bucket, config, tmp_path):
    def deny_puts(method, path, headers, n):
        return (403, "AccessDenied") if method == "PUT" else None

    with fault_proxy(s3.port, deny_puts) as proxy:
        config["endpoint_url"] = proxy.url
        result = run_target(config, order_stream(range(1, 10), state_every=3), tmp_path)
    assert_one_clear_error(result, "access denied", bucket)
    assert result.stdout == b""
    assert not list_keys(s3, bucket)


def test_server_fault_mid_stream(s3, bucket, config, tmp_path):
    """Uploads start failing after a few batches: exit 1, emitted STATEs match the data."""
    seen = {"data_puts": 0}

    def rule(method, path, headers, n):
        if method == "PUT" and "/data/" in path:
            seen["data_puts"] += 1
            if seen["data_puts"] > 4:
                return 500, "InternalError"
        return None

    config.update(batch_max_rows=100)
    with fault_proxy(s3.port, rule) as proxy:
        config["endpoint_url"] = proxy.url
        result = run_target(config, order_stream(range(1, 2001), state_every=30), tmp_path)
    assert_one_clear_error(result, "InternalError")
    emitted = states(result.stdout)
    assert emitted, "some batches succeeded, so some STATE must have been emitted"
    last = emitted[-1]["last_id"]
    # exactly the records an emitted STATE covers are visible: none lost, none extra
    assert visible_ids(s3, bucket) == list(range(1, last + 1))
    keys = list_keys(s3, bucket)
    assert all(size > 0 for size in keys.values())
    audit = [k for k in keys if "/_audit/" in k]
    record = json.loads(s3.client().get_object(Bucket=bucket, Key=audit[0])["Body"].read())
    assert record["status"] == "failed" and "InternalError" in record["error"]
    assert record["rows"] == last


def _feed_and_kill(config_path, data: bytes, kill_after_states: int, delay: float) -> list[dict]:
    """Feed `data` slowly; kill -9 after N STATE lines (+delay). Returns emitted STATEs."""
    proc = subprocess.Popen(
        [TARGET, "--config", str(config_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    emitted: list[dict] = []

    def read_states() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            emitted.append(json.loads(line))

    reader = threading.Thread(target=read_states, daemon=True)
    reader.start()
    lines = data.splitlines(keepends=True)
    deadline = time.monotonic() + 60
    try:
        for i in range(0, len(lines), 50):
            proc.stdin.write(b"".join(lines[i : i + 50]))  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]
            if len(emitted) >= kill_after_states or time.monotonic() > deadline:
                break
            time.sleep(0.002)
        time.sleep(delay)
    except BrokenPipeError:
        pass
    proc.kill()
    proc.wait(timeout=10)
    reader.join(timeout=10)
    return list(emitted)


@pytest.mark.parametrize(("kill_after_states", "delay"), [(1, 0.0), (3, 0.05), (6, 0.2)])
def test_kill_9_then_rerun_has_no_duplicates(
    s3, bucket, config, tmp_path, kill_after_states, delay
):
    n = 4000
    config.update(batch_max_rows=150, run_lease_seconds=600)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    random.seed(kill_after_states)
    emitted = _feed_and_kill(
        config_path, order_stream(range(1, n + 1), state_every=40), kill_after_states, delay
    )
    keys = list_keys(s3, bucket)
    assert all(size > 0 for size in keys.values()), "no 0-byte objects"
    read_parquet(s3, bucket, "lake/acme/")  # every visible file is a complete Parquet file
    last = emitted[-1]["last_id"] if emitted else 0
    assert set(range(1, last + 1)) <= set(visible_ids(s3, bucket))

    # rerun from the last emitted STATE, like the orchestrator would
    result = run_target(config, order_stream(range(last + 1, n + 1), state_every=40), tmp_path)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    ids = visible_ids(s3, bucket)
    assert set(ids) == set(range(1, n + 1)), "nothing lost"
    # A kill between deleting a batch's journal and writing its STATE line (one S3
    # DELETE apart) leaves that one committed batch for the rerun to land again: the
    # protocol errs towards a duplicate batch, never a lost one.
    extra = sorted((Counter(ids) - Counter(range(1, n + 1))).elements())
    assert not extra or (
        extra == list(range(last + 1, last + 1 + len(extra))) and len(extra) <= 150
    ), extra[:20]
    keys = list_keys(s3, bucket)
    assert not [k for k in keys if "/_staging/" in f"/{k}"], "journal and staging rolled back"
    if any(k for k in keys if k.endswith(".parquet")) and last < n:
        assert "Rolled back unfinished run" in result.stderr.decode() or last == n


def test_live_run_is_not_rolled_back(s3, bucket, config, tmp_path):
    """A second run of the same client leaves a live run's unfinished batches alone."""
    config.update(batch_max_rows=50)
    (tmp_path / "c.json").write_text(json.dumps(config))
    proc = subprocess.Popen(
        [TARGET, "--config", str(tmp_path / "c.json")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    data = order_stream(range(1, 121))  # no STATE: batches stay uncommitted
    proc.stdin.write(data)
    proc.stdin.flush()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(visible_ids(s3, bucket)) < 100:
        time.sleep(0.1)
    assert len(visible_ids(s3, bucket)) >= 100
    other = run_target(config, order_stream(range(1000, 1010)), tmp_path)
    assert other.returncode == 0
    proc.stdin.close()
    assert proc.wait(timeout=60) == 0
    assert visible_ids(s3, bucket) == list(range(1, 121)) + list(range(1000, 1010))


def test_a_failed_target_does_not_break_the_producers_pipe(s3, config, tmp_path):
    """After a fatal error the target exits at once, but its stdin stays readable for a
    while, so the process feeding it (Meltano) sees the exit, not a broken pipe."""
    config["bucket"] = "no-such-bucket-here"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    proc = subprocess.Popen(
        [TARGET, "--config", str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    data = order_stream(range(1, 10), state_every=3)
    proc.stdin.write(data)
    proc.stdin.flush()
    assert proc.wait(timeout=60) == 1
    assert b"bucket 'no-such-bucket-here' does not exist" in proc.stderr.read()
    for _ in range(200):  # ~3 MB more: far beyond a pipe buffer
        proc.stdin.write(data * 50)
        proc.stdin.flush()
    proc.stdin.close()
    assert proc.stdout.read() == b""  # EOF: the drainer holds no copy of stdout


def test_validate_records_checks_decimals_exactly(s3, bucket, config, tmp_path):
    """validate_records: exact decimals pass `multipleOf`; a wrong type is one clear error."""
    config["validate_records"] = True
    result = run_target(config, order_stream(range(1, 30), state_every=10), tmp_path)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert visible_ids(s3, bucket) == list(range(1, 30))
    bad = order_stream(range(30, 35)).replace(b'"id": 32', b'"id": "thirty-two"')
    assert b"thirty-two" in bad
    result = run_target(config, bad, tmp_path)
    assert_one_clear_error(result, "thirty-two")
    assert visible_ids(s3, bucket) == list(range(1, 30))
