"""Measure how many records/s tap-erp emits for sales_order_lines (not a test).

Starts a sandbox server with ``--orders N`` (about 3.5 N lines), runs the real CLI
with only ``sales_order_lines`` selected, sends its output to /dev/null and prints
records per second. Usage: python scripts/measure_throughput.py [orders] [page_size]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from erp_sandbox.testing import CREDENTIALS, sandbox_server


def main() -> None:
    orders = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    page_size = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    exe = str(Path(sys.executable).with_name("tap-erp"))
    with sandbox_server(orders=orders, tenants="acme", startup_timeout=600) as sb:
        lines = sb.stats("acme")["counts"]["sales_order_lines"]
        tmp = Path(tempfile.mkdtemp())
        config = {
            "base_url": sb.tenant_url("acme"),
            "api_key": CREDENTIALS["acme"]["api_key"],
            "page_size": page_size,
        }
        (tmp / "config.json").write_text(json.dumps(config))
        discovered = subprocess.run(
            [exe, "--config", str(tmp / "config.json"), "--discover"],
            capture_output=True,
            check=True,
        )
        catalog = json.loads(discovered.stdout)
        for entry in catalog["streams"]:
            for md in entry["metadata"]:
                if md["breadcrumb"] == []:
                    md["metadata"]["selected"] = entry["tap_stream_id"] == "sales_order_lines"
        (tmp / "catalog.json").write_text(json.dumps(catalog))
        started = time.perf_counter()
        with Path("/dev/null").open("wb") as devnull:
            subprocess.run(
                [exe, "--config", str(tmp / "config.json"), "--catalog", str(tmp / "catalog.json")],
                stdout=devnull,
                stderr=subprocess.DEVNULL,
                check=True,
            )
        elapsed = time.perf_counter() - started
        print(f"{lines} sales_order_lines in {elapsed:.1f}s: {lines / elapsed:,.0f} records/s")


if __name__ == "__main__":
    main()
