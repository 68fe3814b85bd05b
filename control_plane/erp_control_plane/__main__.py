"""`python -m erp_control_plane`: serve the API with uvicorn and print its URL."""

from __future__ import annotations

import argparse
import os
import secrets
import sys

import uvicorn

from erp_control_plane.app import create_app
from erp_control_plane.errors import ControlPlaneError
from erp_control_plane.settings import Settings


def create_token_file() -> None:
    """A random token in the token file (mode 0600), unless a token is configured."""
    if os.environ.get("ERP_CONTROL_PLANE_TOKEN"):
        return
    path = Settings.token_file(os.environ)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    print(f"API token: in {path} (send it as 'Authorization: Bearer <token>')", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Start the server; a bad setting is one line and exit status 2."""
    parser = argparse.ArgumentParser(prog="erp-control-plane", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8780)
    parser.add_argument(
        "--create-token",
        action="store_true",
        help="without ERP_CONTROL_PLANE_TOKEN, create the token file if it is missing",
    )
    args = parser.parse_args(argv)
    try:
        if args.create_token:
            create_token_file()
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
