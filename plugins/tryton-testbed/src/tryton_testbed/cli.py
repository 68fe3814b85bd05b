"""Command line: `python -m tryton_testbed install` and `python -m tryton_testbed serve`."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType


def _install(_: argparse.Namespace) -> int:
    from tryton_testbed.install import cache_dir, ensure_template

    started = time.monotonic()
    template = ensure_template()
    print(f"cache:    {cache_dir()}")
    print(f"template: {template.database_file}")
    print(f"build:    {json.dumps(template.summary.get('timings', {}))}")
    print(f"ready in {time.monotonic() - started:.1f}s")
    return 0


def _stop(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _serve(args: argparse.Namespace) -> int:
    from tryton_testbed.server import tryton_server

    signal.signal(signal.SIGTERM, _stop)
    started = time.monotonic()
    try:
        with tryton_server(Path(args.workdir) if args.workdir else None) as server:
            print(f"url:         {server.url}", flush=True)
            print(f"database:    {server.database}")
            print(f"rest base:   {server.rest_base}")
            print(f"api key:     {server.api_key}")
            print(f"admin:       {server.admin_login} / {server.admin_password}")
            print(f"company:     {server.company_id}")
            print(f"warehouses:  {server.warehouse_ids}")
            print(f"log:         {server.log_path}")
            print(f"started in {time.monotonic() - started:.1f}s; Ctrl-C stops it", flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run a subcommand."""
    parser = argparse.ArgumentParser(prog="tryton_testbed", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="install Tryton and build the template database")
    serve = sub.add_parser("serve", help="run a server on a fresh copy until Ctrl-C")
    serve.add_argument("--workdir", help="keep the database and log in this folder")
    args = parser.parse_args(argv)
    handlers = {"install": _install, "serve": _serve}
    return handlers[args.command](args)
