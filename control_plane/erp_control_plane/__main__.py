"""`python -m erp_control_plane`: serve the API with uvicorn and print its URL."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from erp_control_plane.app import create_app
from erp_control_plane.errors import ControlPlaneError
from erp_control_plane.settings import Settings


def main(argv: list[str] | None = None) -> int:
    """Start the server; a bad setting is one line and exit status 2."""
    parser = argparse.ArgumentParser(prog="erp-control-plane", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8780)
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        app = create_app(settings)
    except ControlPlaneError as exc:
        print(f"erp-control-plane: {exc}", file=sys.stderr)
        return 2
    url = f"http://{args.host}:{args.port}"
    print(f"control plane: {url}  (API docs: {url}/docs)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
