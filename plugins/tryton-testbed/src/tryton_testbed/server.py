"""Start and stop a real Tryton server on a copy of the template database."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from tryton_testbed import wire
from tryton_testbed.install import (
    Template,
    clean_env,
    ensure_template,
    venv_bin,
    write_config,
)

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


class TrytonRpcError(RuntimeError):
    """A JSON-RPC call answered with an error."""

    def __init__(self, method: str, error: Any) -> None:
        super().__init__(f"{method}: {error!r}")
        self.method = method
        self.error = error


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    """True if something accepts connections on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class TrytonServer:
    """A running trytond with the demo data, and JSON-RPC access as the admin user."""

    def __init__(self, url: str, port: int, template: Template, workdir: Path) -> None:
        summary = template.summary
        self.url = url
        self.port = port
        self.database: str = template.database
        self.api_key: str = summary["api_key"]
        self.admin_login: str = summary["admin_login"]
        self.admin_password: str = summary["admin_password"]
        self.company_id: int = summary["company_id"]
        self.currency_id: int = summary["currency_id"]
        self.warehouse_ids: list[int] = list(summary["warehouse_ids"])
        self.storage_location_ids: list[int] = list(summary["storage_location_ids"])
        self.customer_category_id: int = summary["customer_category_id"]
        self.supplier_category_id: int = summary["supplier_category_id"]
        self.summary = summary
        self.workdir = workdir
        self.log_path = workdir / "trytond.log"
        self.pid: int | None = None
        self._http = requests.Session()
        self._auth: str | None = None
        self._context: dict[str, Any] = {}
        self._ids = 0

    # -- addresses -------------------------------------------------------

    @property
    def rpc_url(self) -> str:
        """The JSON-RPC endpoint of the database."""
        return f"{self.url}/{self.database}/rpc/"

    @property
    def rest_base(self) -> str:
        """Base URL of the REST API: `<rest_base>/model/<model>[/<id>]`."""
        return f"{self.url}/{self.database}/rest"

    def rest_headers(self, context: dict[str, Any] | None = None) -> dict[str, str]:
        """Headers for a REST call: the bearer key and, if given, the context."""
        headers = {"Authorization": f"Bearer {self.api_key}"}
        if context:
            headers["X-Tryton-Context"] = wire.b64(context)
        return headers

    def rest_get(
        self,
        path: str,
        params: dict[str, Any] | Sequence[tuple[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        context: dict[str, Any] | None = None,
    ) -> requests.Response:
        """GET `<rest_base>/<path>` with the bearer key."""
        merged = self.rest_headers(context)
        merged.update(headers or {})
        return self._http.get(f"{self.rest_base}/{path}", params=params, headers=merged, timeout=30)

    # -- JSON-RPC --------------------------------------------------------

    def _post(self, url: str, method: str, params: list[Any], auth: bool) -> Any:
        self._ids += 1
        headers = {"Content-Type": "application/json"}
        if auth:
            if self._auth is None:
                self.login()
            headers["Authorization"] = self._auth or ""
        body = wire.dumps({"id": self._ids, "method": method, "params": params})
        response = self._http.post(url, data=body, headers=headers, timeout=60)
        if response.status_code != 200:
            raise TrytonRpcError(method, f"HTTP {response.status_code}: {response.text[:500]}")
        payload = wire.loads(response.content)
        if payload.get("error") is not None:
            raise TrytonRpcError(method, payload["error"])
        return payload.get("result")

    def login(self) -> int:
        """Open a JSON-RPC session as the admin user; return its user id."""
        user_id, token, _ = self._post(
            self.rpc_url,
            "common.db.login",
            [self.admin_login, {"password": self.admin_password}, "en"],
            auth=False,
        )
        raw = f"{self.admin_login}:{user_id}:{token}".encode()
        self._auth = "Session " + base64.b64encode(raw).decode()
        self._context = self._post(
            self.rpc_url, "model.res.user.get_preferences", [True, {}], auth=True
        )
        return int(user_id)

    def server_rpc(self, method: str, *params: Any) -> Any:
        """Call a server-wide JSON-RPC method (`POST /rpc/`), e.g. common.server.version."""
        return self._post(f"{self.url}/rpc/", method, list(params), auth=False)

    def rpc(self, method: str, *params: Any) -> Any:
        """Call a JSON-RPC method of the database as the admin user."""
        return self._post(self.rpc_url, method, list(params), auth=True)

    def call(
        self, model: str, method: str, *args: Any, context: dict[str, Any] | None = None
    ) -> Any:
        """`model.<model>.<method>(*args, context)` with the admin's preferences as context."""
        if self._auth is None:
            self.login()
        return self.rpc(f"model.{model}.{method}", *args, {**self._context, **(context or {})})

    def search_read(
        self,
        model: str,
        domain: list[Any],
        fields: Sequence[str],
        context: dict[str, Any] | None = None,
        *,
        order: Sequence[tuple[str, str]] | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Tryton's own rows (typed: Decimal, datetime...) for comparisons."""
        order_list = [list(o) for o in order] if order else None
        return self.call(
            model, "search_read", domain, offset, limit, order_list, list(fields), context=context
        )

    def search_count(self, model: str, domain: list[Any]) -> int:
        """How many records of model match domain."""
        return int(self.call(model, "search_count", domain))

    def write(self, model: str, ids: Sequence[int], values: dict[str, Any]) -> None:
        """Write values on records, as the admin user would in the client."""
        self.call(model, "write", list(ids), values)

    def write_dates(self, model: str, ids: Sequence[int]) -> dict[int, dt.datetime | None]:
        """`write_date` of each record (None while never written)."""
        rows = self.call(model, "read", list(ids), ["write_date"])
        return {r["id"]: r["write_date"] for r in rows}

    # -- changes a user would make ---------------------------------------

    def edit_sale(
        self,
        sale_id: int,
        *,
        reference: str | None = None,
        description: str | None = None,
        line_quantity: tuple[int, float] | None = None,
    ) -> None:
        """Change a sale's reference/description, or a line's quantity (line id, quantity).

        Tryton keeps the description and the lines of a sale read-only once it is
        quoted, so those two are for draft sales; the reference can change any time.
        """
        values: dict[str, Any] = {}
        if reference is not None:
            values["reference"] = reference
        if description is not None:
            values["description"] = description
        if values:
            self.write("sale.sale", [sale_id], values)
        if line_quantity is not None:
            line_id, quantity = line_quantity
            self.write("sale.line", [line_id], {"quantity": float(quantity)})

    def new_sale(
        self,
        party_id: int,
        lines: Sequence[tuple[int, float, Decimal]],
        *,
        warehouse_id: int | None = None,
        reference: str | None = None,
        description: str | None = None,
        confirm: bool = False,
    ) -> int:
        """Create a sale with (product id, quantity, unit price) lines; optionally confirm it."""
        (party,) = self.call("party.party", "read", [party_id], ["addresses"])
        products = {
            p["id"]: p
            for p in self.call("product.product", "read", [ln[0] for ln in lines], ["default_uom"])
        }
        line_values = [
            {
                "sequence": i,
                "type": "line",
                "product": product_id,
                "unit": products[product_id]["default_uom"],
                "quantity": float(quantity),
                "unit_price": Decimal(unit_price),
            }
            for i, (product_id, quantity, unit_price) in enumerate(lines, start=1)
        ]
        values: dict[str, Any] = {
            "company": self.company_id,
            "currency": self.currency_id,
            "party": party_id,
            "invoice_address": party["addresses"][0],
            "shipment_address": party["addresses"][0],
            "warehouse": warehouse_id or self.warehouse_ids[0],
            "invoice_method": "manual",
            "shipment_method": "order",
            "reference": reference,
            "description": description,
            "lines": [["create", line_values]],
        }
        (sale_id,) = self.call("sale.sale", "create", [values])
        if confirm:
            self.call("sale.sale", "quote", [sale_id])
            self.call("sale.sale", "confirm", [sale_id])
        return int(sale_id)

    def edit_party(
        self, party_id: int, *, name: str | None = None, code: str | None = None
    ) -> None:
        """Rename a party or change its code."""
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = name
        if code is not None:
            values["code"] = code
        self.write("party.party", [party_id], values)

    # -- what Tryton holds -----------------------------------------------

    def stock_levels(self) -> dict[tuple[int, int], dict[str, float]]:
        """quantity and forecast_quantity of each goods product in each warehouse."""
        levels: dict[tuple[int, int], dict[str, float]] = {}
        for warehouse_id in self.warehouse_ids:
            rows = self.search_read(
                "product.product",
                [("type", "=", "goods")],
                ["quantity", "forecast_quantity"],
                context={"locations": [warehouse_id]},
            )
            for row in rows:
                levels[(row["id"], warehouse_id)] = {
                    "quantity": row["quantity"],
                    "forecast_quantity": row["forecast_quantity"],
                }
        return levels

    def counts(self) -> dict[str, int]:
        """Tryton's own row counts of each extracted entity.

        `stock_levels` counts (goods product, warehouse) pairs; `stock_levels_nonzero`
        those with a quantity on hand.
        """
        levels = self.stock_levels()
        return {
            "sales": self.search_count("sale.sale", []),
            "sale_lines": self.search_count("sale.line", []),
            "customers": self.search_count(
                "party.party", [("categories", "=", self.customer_category_id)]
            ),
            "vendors": self.search_count(
                "party.party", [("categories", "=", self.supplier_category_id)]
            ),
            "products": self.search_count("product.product", []),
            "stock_levels": len(levels),
            "stock_levels_nonzero": sum(1 for v in levels.values() if v["quantity"]),
        }


def _wait_ready(server: TrytonServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = server.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"trytond exited with {process.returncode}:\n{log}")
        try:
            server.login()
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise TimeoutError(f"trytond did not answer within {START_TIMEOUT_S:.0f}s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)


@contextlib.contextmanager
def tryton_server(workdir: Path | None = None) -> Iterator[TrytonServer]:
    """Run trytond on a fresh copy of the template database until the block exits."""
    template = ensure_template()
    own_dir = workdir is None
    base = Path(tempfile.mkdtemp(prefix="tryton-")) if own_dir else Path(workdir)
    base.mkdir(parents=True, exist_ok=True)
    db_dir = base / "db"
    db_dir.mkdir(exist_ok=True)
    shutil.copyfile(template.database_file, db_dir / template.database_file.name)
    port = free_port()
    conf = write_config(base / "trytond.conf", db_dir, listen=f"127.0.0.1:{port}")
    server = TrytonServer(f"http://127.0.0.1:{port}", port, template, base)
    with server.log_path.open("ab") as log:
        process = subprocess.Popen(
            [str(venv_bin("trytond")), "-c", str(conf), "-d", template.database],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=clean_env(),
            cwd=base,
        )
    try:
        _wait_ready(server, process)
        server.pid = process.pid
        yield server
    finally:
        _stop(process)
        server._http.close()
        if own_dir:
            shutil.rmtree(base, ignore_errors=True)
