"""Command line: `erp-sandbox serve` and `erp-sandbox bench-fetch`."""

from __future__ import annotations

import argparse
import sys

from erp_sandbox.app import DEFAULT_CLOCK


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from erp_sandbox.app import create_app

    tenants = [t.strip() for t in args.tenants.split(",") if t.strip()]
    try:
        app = create_app(
            seed=args.seed,
            orders=args.orders,
            tenants=tenants,
            clock=args.clock,
            cache_mb=args.cache_mb,
            request_log=args.request_log,
        )
    except ValueError as exc:
        print(f"erp-sandbox: {exc}", file=sys.stderr)
        return 2
    level = args.log_level.lower()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=level,
        access_log=level in ("debug", "trace"),
        loop="uvloop",
        http="httptools",
        lifespan="off",
        timeout_keep_alive=30,
    )
    return 0


def _bench(args: argparse.Namespace) -> int:
    from erp_sandbox.bench import bench_fetch

    result = bench_fetch(
        orders=args.orders,
        page_size=args.page_size,
        seed=args.seed,
        entity=args.entity,
        passes=args.passes,
    )
    for line in result["report"]:
        print(line)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `erp-sandbox` command."""
    parser = argparse.ArgumentParser(prog="erp-sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the sandbox ERP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--seed", type=int, default=42)
    serve.add_argument("--orders", type=int, default=2000, help="number of sales orders")
    serve.add_argument("--tenants", default="acme,globex,initech,contoso,bestrun")
    serve.add_argument("--clock", default=DEFAULT_CLOCK, help="starting clock (ISO 8601)")
    serve.add_argument("--cache-mb", type=int, default=512, help="rendered-page cache size")
    serve.add_argument("--request-log", help="file to append one JSON line per request to")
    serve.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug", "trace"],
    )
    serve.set_defaults(func=_serve)
    bench = sub.add_parser("bench-fetch", help="measure fetch-and-discard throughput")
    bench.add_argument("--orders", type=int, default=300_000)
    bench.add_argument("--page-size", type=int, default=5000)
    bench.add_argument("--seed", type=int, default=42)
    bench.add_argument("--entity", default="sales-order-lines")
    bench.add_argument("--passes", type=int, default=2, help="passes over the data (cache)")
    bench.set_defaults(func=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `erp-sandbox` command."""
    args = build_parser().parse_args(argv)
    if args.orders < 1:
        print("erp-sandbox: --orders must be >= 1", file=sys.stderr)
        return 2
    return int(args.func(args))
