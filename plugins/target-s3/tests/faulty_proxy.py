"""A loopback HTTP proxy in front of the S3 server that injects faults."""

from __future__ import annotations

import contextlib
import http.client
import http.server
import threading
import typing as t
from collections.abc import Iterator

ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
    "<Message>{message}</Message></Error>"
)


class Faults:
    """Decides per request whether to fail it: `rule(method, path, count) -> (status, code)`."""

    def __init__(self, rule: t.Callable[[str, str, int], tuple[int, str] | None]) -> None:
        self.rule = rule
        self.count = 0
        self.lock = threading.Lock()


@contextlib.contextmanager
def faulty_proxy(upstream_port: int, faults: Faults) -> Iterator[str]:
    """Serve on 127.0.0.1:<free port>; yields the endpoint URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: t.Any) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with faults.lock:
                faults.count += 1
                verdict = faults.rule(self.command, self.path, faults.count)
            if verdict:
                status, code = verdict
                payload = ERROR.format(code=code, message="injected fault").encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle  # noqa: N815

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
