"""A real Tryton 8.2 server with deterministic demo data, for end-to-end tests."""

from tryton_testbed.install import ensure_template, ensure_venv
from tryton_testbed.server import TrytonRpcError, TrytonServer, tryton_server

__all__ = ["TrytonRpcError", "TrytonServer", "ensure_template", "ensure_venv", "tryton_server"]
