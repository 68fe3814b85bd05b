"""Benchmark target-s3 against a plain pyarrow writer, both into a local S3 server.

    .venv/bin/python bench/bench_target.py --records 1000000

Generates a recorded Singer file of N ~15-field ERP order lines once (cached in the
work directory), starts moto_server, then measures (a) the `target-s3` console
script consuming the file and (b) a plain json-lines → pyarrow → Parquet → S3 script.
Peak RSS is the child's own maximum resident set (os.wait4).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from target_s3.testing import ORDER_LINES_SCHEMA, local_s3

SCHEMA = ORDER_LINES_SCHEMA
OFFSETS = ("+02:00", "Z", "-05:30", "+00:00")

PLAIN_WRITER = r"""
import sys, io, boto3, pyarrow as pa, pyarrow.json as pj, pyarrow.parquet as pq
path, endpoint, bucket = sys.argv[1:4]
ts = pa.timestamp("us", tz="UTC")
schema = pa.schema([("id", pa.int64()), ("order_id", pa.int64()), ("line_no", pa.int64()),
    ("sku", pa.string()), ("description", pa.string()), ("quantity", pa.decimal128(38, 3)),
    ("unit_price", pa.decimal128(38, 2)), ("amount", pa.decimal128(38, 2)),
    ("discount_pct", pa.float64()), ("currency", pa.string()), ("customer_id", pa.int64()),
    ("is_closed", pa.bool_()), ("delivery_date", pa.string()), ("created_at", ts),
    ("updated_at", ts)])
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="local", aws_secret_access_key="local")
reader = pj.open_json(path, read_options=pj.ReadOptions(block_size=64 << 20),
                      parse_options=pj.ParseOptions(explicit_schema=schema))
part = 0
for batch in reader:
    table = pa.Table.from_batches([batch])
    table = table.set_column(12, "delivery_date", table.column(12).cast(pa.date32()))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    part += 1
    s3.upload_fileobj(io.BytesIO(sink.getvalue().to_pybytes()), bucket,
                      f"plain/order_lines/part-{part:05d}.parquet")
"""


def record_json(i: int) -> str:
    day = 1 + i % 28
    off = OFFSETS[i % 4]
    desc = "null" if i % 7 == 0 else f'"Item {i} with a longer description text"'
    amount = "null" if i % 11 == 0 else f"{(i * 37 % 100000) / 100:.2f}"
    return (
        f'{{"id": {i}, "order_id": {i // 5}, "line_no": {i % 5}, "sku": "SKU-{i % 977:05d}", '
        f'"description": {desc}, "quantity": {(i % 50) + 0.125:.3f}, '
        f'"unit_price": {(i % 1000) / 100 + 1:.2f}, "amount": {amount}, '
        f'"discount_pct": {(i % 4) * 0.05:.2f}, "currency": "EUR", '
        f'"customer_id": {10_000 + i % 313}, "is_closed": {"true" if i % 3 == 0 else "false"}, '
        f'"delivery_date": "2024-03-{day:02d}", '
        f'"created_at": "2024-02-{day:02d}T08:00:00.{i % 1000000:06d}{off}", '
        f'"updated_at": "2024-03-{day:02d}T12:{i % 60:02d}:30.{(i * 7) % 1000000:06d}{off}"}}'
    )


def generate(workdir: Path, n: int) -> tuple[Path, Path]:
    """The Singer file and the plain records file (cached per N)."""
    singer = workdir / f"order_lines_{n}.singer"
    plain = workdir / f"order_lines_{n}.jsonl"
    if singer.exists() and plain.exists():
        return singer, plain
    started = time.monotonic()
    schema = json.dumps(
        {
            "type": "SCHEMA",
            "stream": "order_lines",
            "schema": SCHEMA,
            "key_properties": ["id"],
            "bookmark_properties": ["updated_at"],
        }
    )
    with singer.open("w") as out, plain.open("w") as flat:
        out.write(schema + "\n")
        for i in range(1, n + 1):
            rec = record_json(i)
            out.write(
                '{"type": "RECORD", "stream": "order_lines", "record": '
                + rec
                + ', "time_extracted": "2024-03-30T00:00:00+00:00"}\n'
            )
            flat.write(rec + "\n")
            if i % 10_000 == 0:
                out.write(
                    json.dumps(
                        {
                            "type": "STATE",
                            "value": {"bookmarks": {"order_lines": {"replication_key_value": i}}},
                        }
                    )
                    + "\n"
                )
    print(f"generated {n:,} records in {time.monotonic() - started:.1f}s -> {singer}")
    return singer, plain


def measure(cmd: list[str], stdin_path: Path | None) -> tuple[float, float, int, bytes]:
    """Wall seconds, peak RSS (MiB) of the child, exit status, stdout."""
    with tempfile.TemporaryFile() as out:
        stdin = stdin_path.open("rb") if stdin_path else subprocess.DEVNULL
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=stdin, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if stdin_path:
            stdin.close()  # type: ignore[union-attr]
        out.seek(0)
        return elapsed, usage.ru_maxrss / 1024, proc.returncode, out.read()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "erp-elt-bench"
    )
    parser.add_argument("--batch-max-rows", type=int, default=500_000)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    singer, plain = generate(args.workdir, args.records)
    target = str(Path(sys.executable).with_name("target-s3"))
    rows = []
    with local_s3(bucket="bench") as s3:
        config = s3.target_config(
            client_id="bench", prefix="lake", batch_max_rows=args.batch_max_rows
        )
        config_path = args.workdir / "target-config.json"
        config_path.write_text(json.dumps(config))
        seconds, rss, code, stdout = measure([target, "--config", str(config_path)], singer)
        if code != 0:
            print(f"target-s3 failed with exit status {code}")
            return 1
        keys = s3.client().list_objects_v2(Bucket="bench", Prefix="lake/bench/order_lines/")
        files = keys.get("KeyCount", 0)
        rows.append(("target-s3 (Singer file → S3)", seconds, rss, files, len(stdout.splitlines())))
        seconds, rss, code, _ = measure(
            [sys.executable, "-c", PLAIN_WRITER, str(plain), s3.endpoint_url, "bench"], None
        )
        if code != 0:
            print(f"plain writer failed with exit status {code}")
            return 1
        files = s3.client().list_objects_v2(Bucket="bench", Prefix="plain/").get("KeyCount", 0)
        rows.append(("plain pyarrow (json lines → S3)", seconds, rss, files, 0))
    n = args.records
    print(f"\n{n:,} order lines, {singer.stat().st_size / 1e6:.0f} MB Singer input\n")
    print(
        f"| {'path':<32} | {'seconds':>7} | {'records/s':>10} | {'peak RSS MiB':>12} "
        f"| {'files':>5} | {'STATE lines':>11} |"
    )
    print(f"|{'-' * 34}|{'-' * 9}:|{'-' * 11}:|{'-' * 13}:|{'-' * 6}:|{'-' * 12}:|")
    for name, seconds, rss, files, state_lines in rows:
        print(
            f"| {name:<32} | {seconds:7.2f} | {n / seconds:10,.0f} | {rss:12,.0f} "
            f"| {files:5d} | {state_lines:11d} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
