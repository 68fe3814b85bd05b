"""Testing helper: a loopback HTTP proxy that forwards to an upstream server, records
every request line and fails the requests a rule picks (an S3-style XML error with
the rule's status and code).

target-s3's tests and the project's reliability matrix put it in front of the local
S3 server (upload failures, denied writes) and in front of the sandbox ERP (to see
exactly which query strings the tap sends).
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import threading
import typing as t
from collections.abc import Iterator
from dataclasses import dataclass, field

ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
    "<Message>injected fault</Message></Error>"
)

#: rule(method, path, headers, count) -> (status, code) to fail the request, or None
Rule = t.Callable[[str, str, t.Mapping[str, str], int], "tuple[int, str] | None"]


@dataclass
class Proxy:
    """What the proxy saw and decided; `rule` may be replaced while it runs."""

    rule: Rule | None = None
    url: str = ""
    requests: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str, int]] = field(default_factory=list)
    count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextlib.contextmanager
def fault_proxy(upstream_port: int, rule: Rule | None = None) -> Iterator[Proxy]:
    """Serve on 127.0.0.1:<free port> in a thread; yields the Proxy (its `url`)."""
    proxy = Proxy(rule=rule)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: t.Any) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            with proxy.lock:
                proxy.count += 1
                proxy.requests.append((self.command, self.path))
                verdict = (
                    proxy.rule(self.command, self.path, headers, proxy.count)
                    if proxy.rule
                    else None
                )
                if verdict:
                    proxy.failed.append((self.command, self.path, verdict[0]))
            if verdict:
                status, code = verdict
                payload = ERROR.format(code=code).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            finally:
                conn.close()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle  # noqa: N815

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
