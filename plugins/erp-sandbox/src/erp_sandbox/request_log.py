"""A request log: one JSON line per HTTP request (start, end, tenant, method, path, status).

Tests read it to measure what reached the ERP when, e.g. how many runs were reading
from one host at the same time.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RequestLog:
    """ASGI middleware appending one line per request to a file."""

    def __init__(self, app: ASGIApp, path: Path) -> None:
        self.app = app
        self.file = Path(path).open("a", encoding="utf-8")  # noqa: SIM115 - lives with the app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.time()
        status = 0

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self._write(scope, started, status)

    def _write(self, scope: Scope, started: float, status: int) -> None:
        path = str(scope.get("path", ""))
        line: dict[str, Any] = {
            "start": started,
            "end": time.time(),
            "tenant": path.strip("/").split("/", 1)[0],
            "method": scope.get("method"),
            "path": path,
            "status": status,
        }
        self.file.write(json.dumps(line) + "\n")
        self.file.flush()


def read_request_log(path: Path) -> list[dict[str, Any]]:
    """Every line of a request log."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line]
