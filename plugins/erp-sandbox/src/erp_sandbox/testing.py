"""Run a sandbox server in a subprocess for tests and benchmarks.

Uses only the standard library and `requests`::

    with sandbox_server(orders=2000) as sb:
        sb.advance("acme", seconds=60, new_orders=5)
        rows = sb.records("acme", "sales_orders")
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import requests

DEFAULT_TENANTS = (
    "acme",
    "globex",
    "initech",
    "contoso",
    "bestrun",
    "kestrel",
    "pelican",
    "bluepeak",
    "heron",
)

#: Credentials of the built-in tenants, for clients under test.
CREDENTIALS: dict[str, dict[str, str]] = {
    "acme": {"api_key": "acme-key-123", "bearer_token": "acme-pat-123"},
    "globex": {"client_id": "globex-client", "client_secret": "globex-secret"},
    "initech": {"username": "initech", "password": "initech-pass"},
    "contoso": {
        "client_id": "contoso-client",
        "client_secret": "contoso-secret",
        "scope": "https://api.businesscentral.dynamics.com/.default",
        "token_path": "oauth2/v2.0/token",
    },
    "bestrun": {"username": "BESTRUN_COMM", "password": "bestrun-pass"},
    "bluepeak": {"username": "BLUEPEAK_COMM", "password": "bluepeak-pass"},
    "kestrel": {"api_key": "kestrel-api-key", "api_secret": "kestrel-api-secret"},
    "pelican": {
        "login": "api-reader@pelican.example",
        "api_key": "pelican-api-key",
        "db": "pelican",
    },
    "heron": {
        "account_id": "1234567_SB1",
        "client_id": "heron-m2m-client",
        "certificate_id": "heron-cert-1",
        "private_key_file": str(Path(__file__).resolve().parent / "keys" / "heron-m2m.pem"),
        "consumer_key": "heron-consumer-key",
        "consumer_secret": "heron-consumer-secret",
        "token_id": "heron-token-id",
        "token_secret": "heron-token-secret",
    },
}

#: Service roots (below the tenant URL) of the tenants in OData v4 mode.
ODATA_SERVICES: dict[str, dict[str, str]] = {
    "contoso": {
        "standard": "api/v2.0",
        "custom": "api/contoso/erp/v1.0",
    },
    "bestrun": {
        "sales_order": "sap/opu/odata4/sap/api_salesorder/srvd_a2x/sap/salesorder/0001",
        "product": "sap/opu/odata4/sap/api_product/srvd_a2x/sap/product/0002",
        "business_partner": (
            "sap/opu/odata4/sap/api_business_partner/srvd_a2x/sap/businesspartner/0001"
        ),
        "material_stock": ("sap/opu/odata4/sap/api_material_stock/srvd_a2x/sap/materialstock/0001"),
    },
    "bluepeak": {
        "sales_order": "sap/opu/odata/sap/API_SALES_ORDER_SRV",
        "business_partner": "sap/opu/odata/sap/API_BUSINESS_PARTNER",
        "product": "sap/opu/odata/sap/API_PRODUCT_SRV",
        "material_stock": "sap/opu/odata/sap/API_MATERIAL_STOCK_SRV",
    },
}


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SandboxServer:
    """Handle on a running sandbox server: its URL and admin helpers."""

    def __init__(self, url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.url = url
        self.process = process
        self.log_path = log_path
        self.session = requests.Session()

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return int(self.url.rsplit(":", 1)[1])

    def tenant_url(self, tenant: str) -> str:
        """Base URL of a tenant, e.g. http://127.0.0.1:PORT/acme."""
        return f"{self.url}/{tenant}"

    def service_url(self, tenant: str, service: str) -> str:
        """Root URL of an OData service of a tenant (see ODATA_SERVICES), no trailing slash."""
        return f"{self.url}/{tenant}/{ODATA_SERVICES[tenant][service]}"

    def company_url(self, tenant: str = "contoso", service: str = "standard") -> str:
        """URL of the one company of a Business Central tenant: .../companies(ID)."""
        root = self.service_url(tenant, service)
        resp = self.session.get(f"{root}/companies", headers=self.auth_headers(tenant), timeout=30)
        resp.raise_for_status()
        return f"{root}/companies({resp.json()['value'][0]['id']})"

    def _admin(self, method: str, path: str, body: Any = None) -> Any:
        resp = self.session.request(method, f"{self.url}/_admin/{path}", json=body, timeout=60)
        resp.raise_for_status()
        return resp.json()

    def stats(self, tenant: str) -> dict[str, Any]:
        """Clock, row counts and request counters of a tenant."""
        return self._admin("GET", f"{tenant}/stats")

    def records(self, tenant: str, entity: str) -> list[dict[str, Any]]:
        """Every current row of an entity, ordered by primary key.

        `entity` is a stream name, or for an OData tenant an entity set name (rows as
        the set serves them, without `@odata.etag`).
        """
        url = f"{self.url}/_admin/{tenant}/records/{entity}"
        resp = self.session.get(url, timeout=300)
        resp.raise_for_status()
        return [json.loads(line) for line in resp.text.splitlines() if line]

    def advance(self, tenant: str, **change: Any) -> dict[str, Any]:
        """Move the tenant clock and change data (see API.md); returns changed keys."""
        return self._admin("POST", f"{tenant}/advance", change)

    def delete(self, tenant: str, **keys: list[int]) -> dict[str, Any]:
        """Delete rows by stream and key (an order with its lines); returns deleted keys."""
        return self._admin("POST", f"{tenant}/delete", keys)

    def set_faults(self, tenant: str, faults: dict[str, Any]) -> dict[str, Any]:
        """Replace the fault settings of a tenant (`{}` clears them)."""
        return self._admin("PUT", f"{tenant}/faults", faults)

    def revoke_tokens(self, tenant: str) -> dict[str, Any]:
        """Invalidate every OAuth2 token the tenant issued."""
        return self._admin("POST", f"{tenant}/revoke-tokens")

    def reset(self) -> dict[str, Any]:
        """Back to the state at start (clock, data, faults, tokens, counters)."""
        return self._admin("POST", "reset")

    def auth_headers(self, tenant: str) -> dict[str, str]:
        """Request headers that authenticate against a built-in tenant."""
        import base64

        if tenant == "acme":
            return {"X-API-Key": CREDENTIALS["acme"]["api_key"]}
        if tenant in ("initech", "bestrun", "bluepeak"):
            c = CREDENTIALS[tenant]
            raw = base64.b64encode(f"{c['username']}:{c['password']}".encode()).decode()
            return {"Authorization": f"Basic {raw}"}
        if tenant == "contoso":
            c = CREDENTIALS["contoso"]
            form = {k: c[k] for k in ("client_id", "client_secret", "scope")}
            resp = self.session.post(
                f"{self.url}/contoso/{c['token_path']}",
                data={"grant_type": "client_credentials", **form},
                timeout=30,
            )
            resp.raise_for_status()
            return {"Authorization": f"Bearer {resp.json()['access_token']}"}
        if tenant == "globex":
            c = CREDENTIALS["globex"]
            resp = self.session.post(
                f"{self.url}/globex/oauth/token",
                data={"grant_type": "client_credentials", **c},
                timeout=30,
            )
            resp.raise_for_status()
            return {"Authorization": f"Bearer {resp.json()['access_token']}"}
        raise ValueError(f"no built-in credentials for tenant {tenant!r}")

    def log(self) -> str:
        """What the server process wrote to stdout/stderr so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Stop the server process (terminate, then kill)."""
        self.session.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@contextlib.contextmanager
def sandbox_server(
    orders: int = 2000,
    seed: int = 42,
    port: int | None = None,
    tenants: Iterable[str] | str = DEFAULT_TENANTS,
    *,
    clock: str | None = None,
    startup_timeout: float = 30.0,
    cache_mb: int | None = None,
    request_log: Path | None = None,
) -> Iterator[SandboxServer]:
    """Start `python -m erp_sandbox serve` on 127.0.0.1, wait until healthy, yield a handle.

    `cache_mb` sizes the rendered-page cache: a scan of more data than it holds
    renders every page again (the server's default is 512 MB). `request_log` names a
    file for one JSON line per request (`erp_sandbox.request_log.read_request_log`).
    """
    port = port or free_port()
    names = tenants if isinstance(tenants, str) else ",".join(tenants)
    cmd = [
        sys.executable,
        "-m",
        "erp_sandbox",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--seed",
        str(seed),
        "--orders",
        str(orders),
        "--tenants",
        names,
    ]
    if clock is not None:
        cmd += ["--clock", clock]
    if cache_mb is not None:
        cmd += ["--cache-mb", str(cache_mb)]
    if request_log is not None:
        cmd += ["--request-log", str(request_log)]
    fd, log_name = tempfile.mkstemp(prefix="erp-sandbox-", suffix=".log")
    log_path = Path(log_name)
    with os.fdopen(fd, "wb") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT)
    server = SandboxServer(f"http://127.0.0.1:{port}", proc, log_path)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"erp-sandbox exited with {proc.returncode}:\n{server.log()}")
            try:
                if requests.get(f"{server.url}/_health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"erp-sandbox did not become healthy:\n{server.log()}")
            time.sleep(0.05)
        yield server
    finally:
        server.stop()
        log_path.unlink(missing_ok=True)
