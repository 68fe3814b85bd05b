"""Odoo: the external JSON-RPC API (`/jsonrpc`) and the JSON-2 API (`/json/2/...`).

JSON-RPC, as Odoo's external API documents it: `POST /jsonrpc` with
`{"jsonrpc": "2.0", "method": "call", "params": {"service": "common", "method":
"authenticate", "args": [db, login, key, {}]}}` answers the user id (or `false`);
then `{"service": "object", "method": "execute_kw", "args": [db, uid, key, model,
"search_read", [domain], {"fields", "offset", "limit", "order"}]}` answers
`{"result": [...]}`. Errors come with status 200 as `{"error": {"code": 200,
"message": "Odoo Server Error", "data": {"name", "message", ...}}}`.

JSON-2 (Odoo 19): `POST /json/2/<model>/search_read` with `Authorization: bearer
<API key>` and `{"domain", "fields", "offset", "limit", "order"}` answers the list
itself; errors are 4xx/5xx with `{"name", "message", "arguments", "context",
"debug"}` (401 "Invalid apikey").

Values as Odoo's ORM reads them: `false` for any empty value, many2one fields as
`[id, display name]`, datetimes naive UTC to the second, inactive records left out
unless the domain names `active`.
"""

from __future__ import annotations

import datetime
from functools import partial
from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response

from erp_sandbox.dialects import listing
from erp_sandbox.dialects.common import warehouse_index
from erp_sandbox.odata.handler import Dialect, ODataError, delete_entity
from erp_sandbox.odata.model import Batch, EntitySet, Prop, Service, Source
from erp_sandbox.tenants import Tenant

UTC = datetime.UTC
UID = 2
VENDOR_BASE = 10_000_000
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "SEK", "DKK", "NOK", "PLN", "CZK", "JPY", "CAD", "AUD")
STATE = {
    "Open": "draft",
    "Released": "sale",
    "Shipped": "sale",
    "Invoiced": "sale",
    "Cancelled": "cancel",
}
UOMS = ("EA", "BOX", "PAL", "KG", "L", "M")
UOM_NAME = {"EA": "Units", "BOX": "Box", "PAL": "Pallet", "KG": "kg", "L": "L", "M": "m"}
TERMS = {"NET15": "15 Days", "NET30": "30 Days", "NET45": "45 Days", "NET60": "60 Days"}
#: Odoo field types of the sandbox's custom field types.
CUSTOM_TYPES = {
    "string": "char",
    "integer": "integer",
    "decimal": "float",
    "boolean": "boolean",
    "date": "date",
}


def _seconds(us: int) -> str:
    instant = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=us)
    return instant.strftime("%Y-%m-%d %H:%M:%S")


def _utc_text(iso: str | None) -> str | bool:
    if not iso:
        return False
    value = datetime.datetime.fromisoformat(iso).astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def _pair(ident: int, name: str) -> list[Any]:
    return [ident, name]


def _currency(code: str) -> list[Any]:
    return _pair(CURRENCIES.index(code) + 1 if code in CURRENCIES else 99, code)


def _uom(code: str) -> list[Any]:
    return _pair(UOMS.index(code) + 1 if code in UOMS else 99, UOM_NAME.get(code, code))


def _warehouse(code: str) -> list[Any]:
    return _pair(warehouse_index(code) + 1, code)


def _falsy(row: dict[str, Any]) -> dict[str, Any]:
    """Odoo reads an empty value as `false`."""
    return {k: (False if v is None or v == "" else v) for k, v in row.items()}


def _custom(tenant: Tenant, stream: str, row: dict[str, Any]) -> dict[str, Any]:
    return {cf.name: row.get(cf.name) for cf in tenant.custom(stream)}


def _orders(tenant: Tenant, b: Batch) -> list[dict[str, Any]]:
    keys = np.array([r["CustomerKey"] - 1 for r in b.rows], dtype=np.int64)
    names = [c["CardName"] for c in b.store.render("customers", keys)] if len(keys) else []
    return [
        _falsy(
            {
                "id": r["DocEntry"],
                "name": r["DocNum"],
                "partner_id": _pair(r["CustomerKey"], name),
                "date_order": _utc_text(r["CreatedOn"]),
                "state": STATE[r["DocStatus"]],
                "currency_id": _currency(r["DocCurrency"]),
                "amount_untaxed": r["SubTotal"],
                "amount_tax": r["TaxTotal"],
                "amount_total": r["DocTotal"],
                "create_date": _utc_text(r["CreatedOn"]),
                "write_date": _seconds(m),
            }
        )
        for r, name, m in zip(b.rows, names, b.modified, strict=True)
    ]


def _lines(tenant: Tenant, b: Batch) -> list[dict[str, Any]]:
    out = []
    for r, m in zip(b.rows, b.modified, strict=True):
        gross = r["Quantity"] * r["UnitPrice"]
        discount = round(r["DiscountAmount"] / gross * 100, 2) if gross else 0.0
        out.append(
            _falsy(
                {
                    "id": r["LineKey"],
                    "order_id": _pair(r["DocEntry"], f"SO-{r['DocEntry']:07d}"),
                    "sequence": (r["LineNum"] + 1) * 10,
                    "product_id": _pair(r["ItemKey"], f"[{r['ItemCode']}] {r['ItemDescription']}"),
                    "name": r["ItemDescription"],
                    "product_uom_qty": r["Quantity"],
                    "product_uom": _uom(r["UoMCode"]),
                    "price_unit": r["UnitPrice"],
                    "discount": discount,
                    "price_subtotal": r["LineTotal"],
                    "warehouse_id": _warehouse(r["WhsCode"]),
                    "write_date": _seconds(m),
                }
            )
        )
    return out


def _partners(tenant: Tenant, stream: str, b: Batch) -> list[dict[str, Any]]:
    customer = stream == "customers"
    out = []
    for r, m in zip(b.rows, b.modified, strict=True):
        address = r.get("BillTo") or {}
        country = address.get("CountryCode") or r.get("CountryCode")
        row = {
            "id": r["CustomerKey"] if customer else VENDOR_BASE + r["VendorKey"],
            "name": r["CardName"] if customer else r["VendorName"],
            "ref": r["CardCode"] if customer else r["VendorCode"],
            "email": r["EmailAddress"],
            "phone": r["Phone1"],
            "city": address.get("City"),
            "country_id": _pair(ord(country[0]) * 100 + ord(country[1]), country)
            if country
            else None,
            "country_code": country,
            "property_payment_term_id": (
                _pair(list(TERMS).index(r["PaymentTermsCode"]) + 1, TERMS[r["PaymentTermsCode"]])
                if r["PaymentTermsCode"] in TERMS
                else None
            ),
            "credit_limit": r["CreditLimit"] if customer else 0.0,
            "active": bool(r["Active"]),
            "customer_rank": 1 if customer else 0,
            "supplier_rank": 0 if customer else 1,
            "create_date": _utc_text(r["CreatedOn"]),
            "write_date": _seconds(m),
        }
        row.update(
            {cf.name: r.get(cf.name) if customer else None for cf in tenant.custom("customers")}
        )
        out.append(_falsy(row) | {"active": bool(r["Active"])})
    return out


def _products(tenant: Tenant, b: Batch) -> list[dict[str, Any]]:
    out = []
    for r, m in zip(b.rows, b.modified, strict=True):
        row = {
            "id": r["ItemKey"],
            "default_code": r["ItemCode"],
            "name": r["ItemName"],
            "categ_id": _pair(
                sum(map(ord, r["ItemGroup"])) % 1000 + 1, f"All / Saleable / {r['ItemGroup']}"
            ),
            "uom_id": _uom(r["InventoryUoM"]),
            "list_price": r["ListPrice"],
            "standard_price": r["StandardCost"],
            "create_date": _utc_text(r["CreatedOn"]),
            "write_date": _seconds(m),
            **_custom(tenant, "products", r),
        }
        out.append(_falsy(row) | {"active": bool(r["Active"])} | _booleans(tenant, r))
    return out


def _booleans(tenant: Tenant, r: dict[str, Any]) -> dict[str, Any]:
    return {
        cf.name: bool(r.get(cf.name)) for cf in tenant.custom("products") if cf.type == "boolean"
    }


def _quants(tenant: Tenant, b: Batch) -> list[dict[str, Any]]:
    keys = np.array([r["ItemKey"] - 1 for r in b.rows], dtype=np.int64)
    names = [p["ItemName"] for p in b.store.render("products", keys)] if len(keys) else []
    return [
        _falsy(
            {
                "id": int(i) + 1,
                "product_id": _pair(r["ItemKey"], f"[{r['ItemCode']}] {name}"),
                "location_id": _pair(
                    warehouse_index(r["WhsCode"]) * 10 + 8, f"{r['WhsCode']}/Stock"
                ),
                "warehouse_id": _warehouse(r["WhsCode"]),
                "quantity": r["OnHand"],
                "reserved_quantity": r["Committed"],
                "available_quantity": r["Available"],
                "write_date": _seconds(m),
                "location_id.usage": "internal",
            }
        )
        for i, r, m, name in zip(b.idx.tolist(), b.rows, b.modified, names, strict=True)
    ]


#: Fields of each model: (name, Odoo type, digits or None).
Field = tuple[str, str, int | None]
MODELS: dict[str, tuple[str | tuple[str, ...], tuple[Field, ...]]] = {
    "sale.order": ("sales_orders", (
        ("id", "integer", None), ("name", "char", None), ("partner_id", "many2one", None),
        ("date_order", "datetime", None), ("state", "selection", None),
        ("currency_id", "many2one", None), ("amount_untaxed", "monetary", 2),
        ("amount_tax", "monetary", 2), ("amount_total", "monetary", 2),
        ("create_date", "datetime", None), ("write_date", "datetime", None),
    )),
    "sale.order.line": ("sales_order_lines", (
        ("id", "integer", None), ("order_id", "many2one", None), ("sequence", "integer", None),
        ("product_id", "many2one", None), ("name", "text", None),
        ("product_uom_qty", "float", 3), ("product_uom", "many2one", None),
        ("price_unit", "float", 4), ("discount", "float", 2), ("price_subtotal", "monetary", 2),
        ("warehouse_id", "many2one", None), ("write_date", "datetime", None),
    )),
    "res.partner": (("customers", "vendors"), (
        ("id", "integer", None), ("name", "char", None), ("ref", "char", None),
        ("email", "char", None), ("phone", "char", None), ("city", "char", None),
        ("country_id", "many2one", None), ("country_code", "char", None),
        ("property_payment_term_id", "many2one", None), ("credit_limit", "float", 2),
        ("active", "boolean", None), ("customer_rank", "integer", None),
        ("supplier_rank", "integer", None), ("create_date", "datetime", None),
        ("write_date", "datetime", None),
    )),
    "product.product": ("products", (
        ("id", "integer", None), ("default_code", "char", None), ("name", "char", None),
        ("categ_id", "many2one", None), ("uom_id", "many2one", None),
        ("list_price", "float", 4), ("standard_price", "float", 4), ("active", "boolean", None),
        ("create_date", "datetime", None), ("write_date", "datetime", None),
    )),
    "stock.quant": ("inventory", (
        ("id", "integer", None), ("product_id", "many2one", None),
        ("location_id", "many2one", None), ("warehouse_id", "many2one", None),
        ("quantity", "float", 3), ("reserved_quantity", "float", 3),
        ("available_quantity", "float", 3), ("write_date", "datetime", None),
    )),
}  # fmt: skip
PROJECT = {
    "sales_orders": _orders,
    "sales_order_lines": _lines,
    "customers": lambda tenant, b: _partners(tenant, "customers", b),
    "vendors": lambda tenant, b: _partners(tenant, "vendors", b),
    "products": _products,
    "inventory": _quants,
}
#: Related paths a domain may name (`location_id.usage`), served on the rows.
RELATED = {"stock.quant": {"location_id.usage"}}
CUSTOM_STREAM = {"res.partner": "customers", "product.product": "products"}


def fields_of(tenant: Tenant, model: str) -> list[tuple[str, str, int | None, str]]:
    """(name, type, digits, label) of a model, custom `x_` fields last."""
    out = [(n, t, d, n.replace("_", " ").title()) for n, t, d in MODELS[model][1]]
    for cf in tenant.custom(CUSTOM_STREAM.get(model, "")):
        out.append((cf.name, CUSTOM_TYPES.get(cf.type, "char"), cf.scale, cf.label))
    return out


def _etag(_m: int, v: int) -> str:
    return str(v)


def services(tenant: Tenant) -> list[Service]:
    """The models as entity sets over the store (for listings and the admin views)."""
    sets = {}
    for model, (streams, _fields) in MODELS.items():
        names = (streams,) if isinstance(streams, str) else streams
        sources = tuple(
            Source(s, partial(PROJECT[s], tenant), _etag, rank=k) for k, s in enumerate(names)
        )
        props = tuple(
            Prop(n, "Edm.String", nullable=n != "id") for n, *_ in fields_of(tenant, model)
        )
        rk = None if model == "stock.quant" else "write_date"
        sets[model] = EntitySet(model, model, props, ("id",), rk, sources)
    return [Service("jsonrpc", "odoo", "odoo", sets)]


_SETS: dict[str, dict[str, EntitySet]] = {}


def models_of(tenant: Tenant) -> dict[str, EntitySet]:
    """The tenant's models by name (built once)."""
    if tenant.name not in _SETS:
        _SETS[tenant.name] = services(tenant)[0].sets
    return _SETS[tenant.name]


# -- calls ------------------------------------------------------------------------------


class OdooError(Exception):
    """An exception Odoo would raise: its qualified name, message and JSON-2 status."""

    def __init__(self, name: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.name, self.message, self.status = name, message, status


def _instant_us(value: Any) -> int:
    try:
        naive = datetime.datetime.fromisoformat(str(value))
    except ValueError:
        raise OdooError(
            "ValueError", f"time data {value!r} does not match format '%Y-%m-%d %H:%M:%S'"
        ) from None
    delta = naive.replace(tzinfo=UTC) - datetime.datetime(1970, 1, 1, tzinfo=UTC)
    return delta // datetime.timedelta(microseconds=1)


def _domain(es: EntitySet, domain: Any) -> list[listing.Condition]:
    if not isinstance(domain, list):
        raise OdooError("ValueError", f"Invalid domain: {domain!r}")
    out = []
    for term in domain:
        if term == "&":
            continue
        if not (isinstance(term, list) and len(term) == 3 and isinstance(term[0], str)):
            raise OdooError(
                "ValueError", f"Invalid leaf {term!r} (the sandbox reads AND-ed leaves)"
            )
        out.append((term[0], str(term[1]), term[2]))
    if "active" in es.by_name and not any(c[0] == "active" for c in out):
        out.append(("active", "=", True))
    return out


def search_read(ts: Any, model: str, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    """`model.search_read(domain, fields, offset, limit, order)` as Odoo answers it."""
    es = models_of(ts.tenant).get(model)
    if es is None:
        raise OdooError("KeyError", f"Object {model} doesn't exist", 404)
    fields = kwargs.get("fields") or sorted(es.by_name)
    known = set(es.by_name) | RELATED.get(model, set())
    unknown = [f for f in fields if f not in es.by_name]
    if unknown:
        raise OdooError("ValueError", f"Invalid field {unknown[0]!r} on model {model!r}")
    try:
        conditions = _domain(es, kwargs.get("domain", []))
        compiled = listing.compile_conditions(es, conditions, known, _instant_us)
        mode = listing.order_mode(es, listing.parse_order(kwargs.get("order") or ""), "id")
    except listing.ListingError as exc:
        raise OdooError("ValueError", str(exc)) from None
    limit = kwargs.get("limit") or None
    rows = listing.page(
        ts.store, es, compiled, mode, start=int(kwargs.get("offset") or 0), limit=limit
    )
    return [{"id": r["id"], **{f: r.get(f, False) for f in fields}} for r in rows]


def fields_get(ts: Any, model: str) -> dict[str, Any]:
    """`model.fields_get()`: type, label and digits of every field."""
    if model not in MODELS:
        raise OdooError("KeyError", f"Object {model} doesn't exist", 404)
    return {
        name: {
            "type": ftype,
            "string": label,
            "required": name == "id",
            **(
                {"digits": [16, digits]}
                if digits is not None and ftype in ("float", "monetary")
                else {}
            ),
            **({"relation": "x"} if ftype == "many2one" else {}),
        }
        for name, ftype, digits, label in fields_of(ts.tenant, model)
    }


def unlink(ts: Any, model: str, ids: Any) -> bool:
    """`model.unlink(ids)`: the records are gone (an order with its lines)."""
    es = models_of(ts.tenant).get(model)
    if es is None:
        raise OdooError("KeyError", f"Object {model} doesn't exist", 404)
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
        raise OdooError("ValueError", f"unlink needs a list of ids, not {ids!r}")
    for ident in ids:
        try:
            delete_entity(ts.store, es, {"id": ident})
        except ODataError as exc:
            name = "odoo.exceptions.MissingError" if exc.status == 404 else "AccessError"
            raise OdooError(name, exc.message, exc.status) from None
    return True


def call(ts: Any, model: str, method: str, kwargs: dict[str, Any]) -> Any:
    """One ORM method call of the API."""
    if method == "search_read":
        return search_read(ts, model, kwargs)
    if method == "search_count":
        return len(search_read(ts, model, {**kwargs, "fields": ["id"], "offset": 0, "limit": None}))
    if method == "fields_get":
        return fields_get(ts, model)
    if method == "unlink":
        return unlink(ts, model, kwargs.get("ids", kwargs.get("domain")))
    raise OdooError(
        "AttributeError", f"The method '{method}' does not exist on the model '{model}'"
    )


# -- the wire ---------------------------------------------------------------------------


def _rpc_error(ident: Any, name: str, message: str) -> Response:
    body = {
        "jsonrpc": "2.0",
        "id": ident,
        "error": {
            "code": 200,
            "message": "Odoo Server Error",
            "data": {
                "name": name,
                "debug": "",
                "message": message,
                "arguments": [message],
                "context": {},
            },
        },
    }
    return Response(orjson.dumps(body), media_type="application/json")


def _login_ok(tenant: Tenant, login: Any, key: Any) -> bool:
    return (login, key) in tenant.logins


def _key_ok(tenant: Tenant, key: Any) -> bool:
    return any(k == key for _, k in tenant.logins)


async def _jsonrpc(ts: Any, req: Any) -> Response:
    tenant: Tenant = ts.tenant
    ident = req.get("id") if isinstance(req, dict) else None
    params = req.get("params") if isinstance(req, dict) else None
    if not isinstance(params, dict):
        return _rpc_error(ident, "werkzeug.exceptions.BadRequest", "Invalid JSON-RPC request")
    service, method, args = params.get("service"), params.get("method"), params.get("args") or []
    if service == "common" and method == "version":
        result: Any = {
            "server_version": "18.0",
            "server_version_info": [18, 0, 0, "final", 0, ""],
            "protocol_version": 1,
        }
        return Response(
            orjson.dumps({"jsonrpc": "2.0", "id": ident, "result": result}),
            media_type="application/json",
        )
    if args and args[0] != tenant.name:
        return _rpc_error(
            ident, "psycopg2.OperationalError", f'database "{args[0]}" does not exist'
        )
    if service == "common" and method in ("authenticate", "login") and len(args) >= 3:
        uid = UID if _login_ok(tenant, args[1], args[2]) else False
        return Response(
            orjson.dumps({"jsonrpc": "2.0", "id": ident, "result": uid}),
            media_type="application/json",
        )
    if service == "object" and method == "execute_kw" and len(args) >= 5:
        _db, uid, key, model, name = args[:5]
        if str(uid) != str(UID) or not _key_ok(tenant, key):
            return _rpc_error(ident, "odoo.exceptions.AccessDenied", "Access Denied")
        refused = await listing.faults(ts)
        if refused is not None:
            return refused
        positional = args[5] if len(args) > 5 else []
        kwargs = dict(args[6]) if len(args) > 6 and isinstance(args[6], dict) else {}
        if positional:
            kwargs.setdefault("domain", positional[0])
        try:
            result = call(ts, model, name, kwargs)
        except OdooError as exc:
            return _rpc_error(ident, exc.name, exc.message)
        return Response(
            orjson.dumps({"jsonrpc": "2.0", "id": ident, "result": result}),
            media_type="application/json",
        )
    return _rpc_error(ident, "werkzeug.exceptions.NotFound", f"unknown call {service}.{method}")


def _json2_error(status: int, name: str, message: str) -> Response:
    body = {
        "name": name,
        "message": message,
        "arguments": [message, status],
        "context": {},
        "debug": "",
    }
    return Response(orjson.dumps(body), status, media_type="application/json")


async def _json2(ts: Any, request: Request, model: str, method: str, body: Any) -> Response:
    tenant: Tenant = ts.tenant
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not _key_ok(tenant, key.strip()):
        return _json2_error(401, "werkzeug.exceptions.Unauthorized", "Invalid apikey")
    refused = await listing.faults(ts)
    if refused is not None:
        return refused
    database = request.headers.get("x-odoo-database")
    if database not in (None, tenant.name):
        return _json2_error(404, "werkzeug.exceptions.NotFound", f"database {database!r} not found")
    if not isinstance(body, dict):
        return _json2_error(400, "werkzeug.exceptions.BadRequest", "the body must be a JSON object")
    try:
        result = call(ts, model, method, body)
    except OdooError as exc:
        return _json2_error(exc.status, exc.name, exc.message)
    return Response(orjson.dumps(result), media_type="application/json")


async def handle(request: Request, ts: Any, rest: str) -> Response:
    """Every request of an Odoo tenant: `/jsonrpc` and `/json/2/<model>/<method>`."""
    ts.requests["data"] += 1
    if request.method != "POST":
        return _json2_error(405, "werkzeug.exceptions.MethodNotAllowed", "use POST")
    try:
        body = orjson.loads(await request.body() or b"null")
    except orjson.JSONDecodeError:
        return _json2_error(400, "werkzeug.exceptions.BadRequest", "the body is not JSON")
    if rest == "jsonrpc":
        return await _jsonrpc(ts, body)
    parts = rest.split("/")
    if len(parts) == 4 and parts[:2] == ["json", "2"]:
        return await _json2(ts, request, parts[2], parts[3], body)
    return _json2_error(404, "werkzeug.exceptions.NotFound", f"no route /{rest}")


DIALECT = Dialect(
    name="odoo",
    services=services,
    error_codes={},
    absolute_links=False,
    default_page_size=80,
    max_page_size=100_000,
    special=handle,
)
