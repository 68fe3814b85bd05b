"""ERPNext (Frappe REST API): `/api/resource/<DocType>` listings and doctype meta.

As Frappe documents it: `GET /api/resource/Sales Order?fields=[...]&filters=[[...]]
&order_by=modified asc, name asc&limit_start=0&limit_page_length=20` answers
`{"data": [...]}`; `Authorization: token <api key>:<api secret>`; datetimes are
naive, in the site's time zone (`str(datetime)`: microseconds left out when zero);
Check fields are 0/1; child tables (Sales Order Item) are doctypes of their own,
listed with `parent=<parent doctype>`, or inside their parent document
(`/api/resource/Sales Order/<name>`). Custom fields (`custom_...`) are in the
doctype's meta (`/api/method/frappe.desk.form.load.getdoctype?doctype=...`).
Errors: `{"exc_type", "exception", "_server_messages"}` with Frappe's statuses.
"""

from __future__ import annotations

import datetime
import zoneinfo
from functools import partial
from typing import Any
from urllib.parse import unquote

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response

from erp_sandbox.dialects import listing, wall_clock
from erp_sandbox.dialects.common import warehouse_index
from erp_sandbox.odata import engine
from erp_sandbox.odata.handler import Dialect, ODataError, delete_entity
from erp_sandbox.odata.model import (
    BY_REPLICATION_KEY,
    Batch,
    EntitySet,
    Nav,
    Prop,
    Service,
    Source,
)
from erp_sandbox.store import TenantStore
from erp_sandbox.tenants import Tenant

UTC = datetime.UTC
WAREHOUSES = ("Stores - KS", "Finished Goods - KS", "Goods In Transit - KS")
STATUS = {
    "Open": "To Deliver and Bill",
    "Released": "To Deliver and Bill",
    "Shipped": "To Bill",
    "Invoiced": "Completed",
    "Cancelled": "Cancelled",
}
UOM = {"EA": "Nos", "BOX": "Box", "PAL": "Pallet", "KG": "Kg", "L": "Litre", "M": "Meter"}
#: Frappe field types of the sandbox's custom field types.
CUSTOM_TYPES = {"string": "Data", "integer": "Int", "decimal": "Float", "boolean": "Check"}
EDM = {
    "Data": "Edm.String",
    "Link": "Edm.String",
    "Select": "Edm.String",
    "Small Text": "Edm.String",
    "Int": "Edm.Int64",
    "Check": "Edm.Int64",
    "Float": "Edm.Decimal",
    "Currency": "Edm.Decimal",
    "Date": "Edm.Date",
    "Datetime": "Edm.String",
}


def local_text(us: int, zone: datetime.tzinfo) -> str:
    """Epoch microseconds -> Frappe's naive local text (`str(datetime)`)."""
    instant = datetime.datetime(1970, 1, 1, tzinfo=UTC) + datetime.timedelta(microseconds=us)
    return str(instant.astimezone(zone).replace(tzinfo=None))


def local_us(text: Any, zone: datetime.tzinfo) -> int:
    """Naive local text -> epoch microseconds (the earlier instant of a repeated hour)."""
    try:
        naive = datetime.datetime.fromisoformat(str(text))
    except ValueError:
        raise listing.ListingError(f"{text!r} is not a datetime") from None
    aware = naive.replace(tzinfo=zone) if naive.tzinfo is None else naive
    delta = aware.astimezone(UTC) - datetime.datetime(1970, 1, 1, tzinfo=UTC)
    return delta // datetime.timedelta(microseconds=1)


def _zone(tenant: Tenant) -> datetime.tzinfo:
    return zoneinfo.ZoneInfo(tenant.timezone or "UTC")


def _stamps(tenant: Tenant, b: Batch, row: dict[str, Any], i: int) -> dict[str, Any]:
    zone = _zone(tenant)
    created = row.get("CreatedOn")
    out = {"modified": local_text(b.modified[i], zone), "docstatus": 1 if created else 0}
    if created is not None:
        when = datetime.datetime.fromisoformat(created).astimezone(zone).replace(tzinfo=None)
        out["creation"] = str(when)
    return out


def _custom(tenant: Tenant, stream: str, row: dict[str, Any]) -> dict[str, Any]:
    return {
        cf.name: (int(bool(row.get(cf.name))) if cf.type == "boolean" else row.get(cf.name))
        for cf in tenant.custom(stream)
    }


def _orders(tenant: Tenant, b: Batch) -> list[dict[str, Any]]:
    return [
        {
            "name": r["DocNum"],
            "customer": f"C{r['CustomerKey']:05d}",
            "transaction_date": r["DocDate"],
            "delivery_date": r["DocDueDate"],
            "status": STATUS[r["DocStatus"]],
            "currency": r["DocCurrency"],
            "net_total": r["SubTotal"],
            "total_taxes_and_charges": r["TaxTotal"],
            "grand_total": r["DocTotal"],
            **_stamps(tenant, b, r, i),
        }
        for i, r in enumerate(b.rows)
    ]


def _items(tenant: Tenant, b: Batch) -> list[dict[str, Any]]:
    return [
        {
            "name": f"{r['LineKey']:010x}",
            "parent": f"SO-{r['DocEntry']:07d}",
            "parenttype": "Sales Order",
            "parentfield": "items",
            "idx": r["LineNum"] + 1,
            "item_code": r["ItemCode"],
            "item_name": r["ItemDescription"][:140],
            "description": r["ItemDescription"],
            "qty": r["Quantity"],
            "uom": UOM.get(r["UoMCode"], r["UoMCode"]),
            "rate": r["UnitPrice"],
            "discount_amount": r["DiscountAmount"],
            "amount": r["LineTotal"],
            "warehouse": WAREHOUSES[warehouse_index(r["WhsCode"])],
            "modified": local_text(b.modified[i], _zone(tenant)),
        }
        for i, r in enumerate(b.rows)
    ]


def _customers(tenant: Tenant, b: Batch) -> list[dict[str, Any]]:
    return [
        {
            "name": r["CardCode"],
            "customer_name": r["CardName"],
            "customer_group": "Commercial",
            "territory": r["BillTo"]["CountryCode"],
            "email_id": r["EmailAddress"],
            "mobile_no": r["Phone1"],
            "payment_terms": r["PaymentTermsCode"],
            "disabled": 0 if r["Active"] else 1,
            **_stamps(tenant, b, r, i),
            **_custom(tenant, "customers", r),
        }
        for i, r in enumerate(b.rows)
    ]


def _suppliers(tenant: Tenant, b: Batch) -> list[dict[str, Any]]:
    return [
        {
            "name": r["VendorCode"],
            "supplier_name": r["VendorName"],
            "supplier_group": "Distributor",
            "country": r["CountryCode"],
            "email_id": r["EmailAddress"],
            "mobile_no": r["Phone1"],
            "payment_terms": r["PaymentTermsCode"],
            "disabled": 0 if r["Active"] else 1,
            **_stamps(tenant, b, r, i),
        }
        for i, r in enumerate(b.rows)
    ]


def _products(tenant: Tenant, b: Batch) -> list[dict[str, Any]]:
    return [
        {
            "name": r["ItemCode"],
            "item_code": r["ItemCode"],
            "item_name": r["ItemName"],
            "item_group": r["ItemGroup"],
            "stock_uom": UOM.get(r["InventoryUoM"], r["InventoryUoM"]),
            "standard_rate": r["ListPrice"],
            "valuation_rate": r["StandardCost"],
            "disabled": 0 if r["Active"] else 1,
            **_stamps(tenant, b, r, i),
            **_custom(tenant, "products", r),
        }
        for i, r in enumerate(b.rows)
    ]


def _bins(tenant: Tenant, b: Batch) -> list[dict[str, Any]]:
    return [
        {
            "name": f"{int(i):010x}",
            "item_code": r["ItemCode"],
            "warehouse": WAREHOUSES[warehouse_index(r["WhsCode"])],
            "actual_qty": r["OnHand"],
            "reserved_qty": r["Committed"],
            "projected_qty": r["Available"],
            "modified": local_text(m, _zone(tenant)),
        }
        for i, r, m in zip(b.idx.tolist(), b.rows, b.modified, strict=True)
    ]


#: Fields of each doctype: (fieldname, Frappe type, precision or None).
Field = tuple[str, str, int | None]
STANDARD: tuple[Field, ...] = (("name", "Data", None), ("modified", "Datetime", None))
DOCTYPES: dict[str, tuple[Field, ...]] = {
    "Sales Order": (
        ("customer", "Link", None),
        ("transaction_date", "Date", None),
        ("delivery_date", "Date", None),
        ("status", "Select", None),
        ("currency", "Link", None),
        ("net_total", "Currency", 2),
        ("total_taxes_and_charges", "Currency", 2),
        ("grand_total", "Currency", 2),
        ("items", "Table", None),
    ),
    "Sales Order Item": (
        ("item_code", "Link", None),
        ("item_name", "Data", None),
        ("description", "Small Text", None),
        ("qty", "Float", 3),
        ("uom", "Link", None),
        ("rate", "Currency", 4),
        ("discount_amount", "Currency", 2),
        ("amount", "Currency", 2),
        ("warehouse", "Link", None),
    ),
    "Customer": (
        ("customer_name", "Data", None),
        ("customer_group", "Link", None),
        ("territory", "Link", None),
        ("email_id", "Data", None),
        ("mobile_no", "Data", None),
        ("payment_terms", "Link", None),
        ("disabled", "Check", None),
    ),
    "Supplier": (
        ("supplier_name", "Data", None),
        ("supplier_group", "Link", None),
        ("country", "Link", None),
        ("email_id", "Data", None),
        ("mobile_no", "Data", None),
        ("payment_terms", "Link", None),
        ("disabled", "Check", None),
    ),
    "Item": (
        ("item_code", "Data", None),
        ("item_name", "Data", None),
        ("item_group", "Link", None),
        ("stock_uom", "Link", None),
        ("standard_rate", "Currency", 4),
        ("valuation_rate", "Currency", 4),
        ("disabled", "Check", None),
    ),
    "Bin": (
        ("item_code", "Link", None),
        ("warehouse", "Link", None),
        ("actual_qty", "Float", 3),
        ("reserved_qty", "Float", 3),
        ("projected_qty", "Float", 3),
    ),
}
CHILD = {"Sales Order Item": "Sales Order"}
#: Standard fields of every child table row.
CHILD_FIELDS: tuple[Field, ...] = (
    ("parent", "Data", None),
    ("parenttype", "Data", None),
    ("parentfield", "Data", None),
    ("idx", "Int", None),
)
STREAM_OF = {
    "Sales Order": ("sales_orders", _orders),
    "Sales Order Item": ("sales_order_lines", _items),
    "Customer": ("customers", _customers),
    "Supplier": ("vendors", _suppliers),
    "Item": ("products", _products),
    "Bin": ("inventory", _bins),
}
WITH_CREATION = {"Sales Order", "Customer", "Supplier", "Item"}


def fields_of(tenant: Tenant, doctype: str) -> list[tuple[str, str, int | None, bool]]:
    """(fieldname, type, precision, is custom) of a doctype, custom fields last."""
    stream = STREAM_OF[doctype][0]
    out = [(n, t, p, False) for n, t, p in DOCTYPES[doctype]]
    for cf in tenant.custom(stream):
        out.append((cf.name, CUSTOM_TYPES.get(cf.type, "Data"), cf.scale, True))
    return out


def _etag(_m: int, v: int) -> str:
    return str(v)


def services(tenant: Tenant) -> list[Service]:
    """The doctypes as entity sets over the store (for listings and the admin views)."""
    sets = {}
    for doctype, (stream, project) in STREAM_OF.items():
        std = [*STANDARD, *((("creation", "Datetime", None),) if doctype in WITH_CREATION else ())]
        std += list(CHILD_FIELDS) if doctype in CHILD else []
        props = tuple(
            Prop(n, EDM.get(t, "Edm.String"), nullable=n != "name")
            for n, t, _p, _c in [
                *((n, t, p, False) for n, t, p in std),
                *fields_of(tenant, doctype),
            ]
            if t != "Table"
        )
        rk = None if doctype == "Bin" else "modified"
        navs = (
            (Nav("items", "Sales Order Item", TenantStore.order_lines),)
            if doctype == "Sales Order"
            else ()
        )
        source = Source(stream, partial(project, tenant), _etag)
        sets[doctype] = EntitySet(doctype, doctype, props, ("name",), rk, (source,), navs=navs)
    return [Service("api/resource", "erpnext", "erpnext", sets)]


# -- the wire -----------------------------------------------------------------------


def _error(status: int, exc_type: str, message: str) -> Response:
    body = {
        "exc_type": exc_type,
        "exception": f"frappe.exceptions.{exc_type}: {message}",
        "_server_messages": orjson.dumps([orjson.dumps({"message": message}).decode()]).decode(),
    }
    return Response(orjson.dumps(body), status, media_type="application/json")


def _authorized(tenant: Tenant, header: str) -> bool:
    scheme, _, value = header.partition(" ")
    key, _, secret = value.strip().partition(":")
    return scheme.lower() == "token" and (key, secret) in tenant.logins


def _json_param(request: Request, name: str, default: Any) -> Any:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise listing.ListingError(f"{name} is not valid JSON: {text[:80]!r}") from None


def _conditions(doctype: str, filters: Any) -> list[listing.Condition]:
    if isinstance(filters, dict):
        filters = [[k, *(v if isinstance(v, list) else ["=", v])] for k, v in filters.items()]
    if not isinstance(filters, list):
        raise listing.ListingError("filters must be a list or an object")
    out = []
    for given in filters:
        f = (
            given[1:]
            if isinstance(given, list) and len(given) == 4 and given[0] == doctype
            else given
        )
        if not (isinstance(f, list) and len(f) == 3 and isinstance(f[0], str)):
            raise listing.ListingError(f"cannot read the filter {given!r}")
        out.append((f[0], str(f[1]), f[2]))
    return out


def _select(row: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    return {f: row.get(f) for f in fields}


def _listing(ts: Any, es: EntitySet, request: Request) -> Response:
    tenant: Tenant = ts.tenant
    doctype = es.name
    if doctype in CHILD and request.query_params.get("parent") != CHILD[doctype]:
        return _error(
            403, "PermissionError", f"Please specify a valid parent DocType for {doctype}"
        )
    known = set(es.by_name)
    fields = _json_param(request, "fields", ["name"])
    if fields == ["*"]:
        fields = [p.name for p in es.props]
    bad = [f for f in fields if not isinstance(f, str) or f.split(".")[-1].strip("`") not in known]
    if bad:
        return _error(417, "DataError", f"Field not permitted in query: {bad[0]}")
    conditions = _conditions(doctype, _json_param(request, "filters", []))
    order = listing.parse_order(request.query_params.get("order_by", "name asc"))
    mode = listing.order_mode(es, order, "name")
    start = int(request.query_params.get("limit_start") or 0)
    size = request.query_params.get("limit_page_length") or request.query_params.get("limit")
    limit = 20 if size is None else int(size) or None
    zone = _zone(tenant)
    wall_us = partial(local_us, zone=zone)
    compiled = listing.compile_conditions(es, conditions, known, wall_us)
    rows = None
    if mode == BY_REPLICATION_KEY:  # Frappe compares and sorts naive local times
        rows = wall_clock.page(ts.store, es, compiled, zone, wall_us, start=start, limit=limit)
    if rows is None:
        rows = listing.page(ts.store, es, compiled, mode, start=start, limit=limit)
    body = {"data": [_select(r, fields) for r in rows]}
    return Response(orjson.dumps(body), media_type="application/json")


def _document(ts: Any, es: EntitySet, name: str) -> Response:
    found = next((i for i in engine.all_rows(ts.store, es) if i.row["name"] == name), None)
    if found is None:
        return _error(404, "DoesNotExistError", f"{es.name} {name} not found")
    doc = {"doctype": es.name, **found.row}
    for nav in es.navs:
        child = services_of_tenant(ts.tenant)[nav.target]
        kids = engine.children(ts.store, es, child, nav.name, [found.idx])[found.idx]
        doc[nav.name] = [{"doctype": child.name, **k.row} for k in kids]
    return Response(orjson.dumps({"data": doc}), media_type="application/json")


def _meta(tenant: Tenant, doctype: str) -> dict[str, Any]:
    fields = [
        {
            "doctype": "DocField" if not custom else "Custom Field",
            "parent": doctype,
            "fieldname": name,
            "fieldtype": ftype,
            "label": name.replace("_", " ").title(),
            "precision": "" if precision is None else str(precision),
            "options": "Sales Order Item" if ftype == "Table" else None,
            "is_custom_field": 1 if custom else 0,
        }
        for name, ftype, precision, custom in fields_of(tenant, doctype)
    ]
    return {
        "doctype": "DocType",
        "name": doctype,
        "istable": int(doctype in CHILD),
        "fields": fields,
    }


def _getdoctype(tenant: Tenant, request: Request) -> Response:
    doctype = request.query_params.get("doctype", "")
    if doctype not in STREAM_OF:
        return _error(404, "DoesNotExistError", f"DocType {doctype} not found")
    docs = [_meta(tenant, doctype)]
    docs += [_meta(tenant, c) for c, p in CHILD.items() if p == doctype]
    return Response(
        orjson.dumps({"docs": docs, "user_settings": "{}"}), media_type="application/json"
    )


_SETS: dict[str, dict[str, EntitySet]] = {}


def services_of_tenant(tenant: Tenant) -> dict[str, EntitySet]:
    """The tenant's doctypes by name (built once)."""
    if tenant.name not in _SETS:
        _SETS[tenant.name] = services(tenant)[0].sets
    return _SETS[tenant.name]


#: The Frappe name of a deleted document, from the store's row.
DELETED_NAME = {
    "Sales Order": lambda r: r["DocNum"],
    "Sales Order Item": lambda r: f"{r['LineKey']:010x}",
    "Customer": lambda r: r["CardCode"],
    "Supplier": lambda r: r["VendorCode"],
}
DELETED_DOCUMENT = "Deleted Document"
DELETED_FIELDS = ("name", "deleted_name", "deleted_doctype", "creation", "modified")


def _deleted_documents(ts: Any, request: Request) -> Response:
    """`GET /api/resource/Deleted Document`: a record per deleted document (its
    `deleted_name`, `deleted_doctype`; `creation` is when it was deleted), in
    `creation asc, name asc` order, filtered by `=` and `>=`/`>`/`<`/`<=` conditions."""
    zone = _zone(ts.tenant)
    fields = _json_param(request, "fields", ["name"])
    if fields == ["*"]:
        fields = list(DELETED_FIELDS)
    bad = [f for f in fields if f not in DELETED_FIELDS]
    if bad:
        return _error(417, "DataError", f"Field not permitted in query: {bad[0]}")
    tests = []
    for name, op, value in _conditions(DELETED_DOCUMENT, _json_param(request, "filters", [])):
        if name not in DELETED_FIELDS:
            return _error(417, "DataError", f"Unknown column {name!r}")
        want = local_us(value, zone) if name in ("creation", "modified") else value
        tests.append((name, listing.test(op.lower(), want)))
    rows = []
    for doctype, name_of in DELETED_NAME.items():
        stream = STREAM_OF[doctype][0]
        for at, i in ts.store.deletions(stream, None):
            (native,) = ts.store.render(stream, np.array([i], dtype=np.int64))
            row = {
                "name": f"DEL-{doctype[:2].upper()}{i + 1:08d}",
                "deleted_name": name_of(native),
                "deleted_doctype": doctype,
                "creation": at,
                "modified": at,
            }
            if all(test(row[n]) for n, test in tests):
                rows.append(row)
    rows.sort(key=lambda r: (r["creation"], r["name"]))
    start = int(request.query_params.get("limit_start") or 0)
    size = request.query_params.get("limit_page_length") or request.query_params.get("limit")
    limit = 20 if size is None else int(size) or None
    rows = rows[start:] if limit is None else rows[start : start + limit]
    for row in rows:
        row["creation"] = row["modified"] = local_text(row["creation"], zone)
    body = {"data": [_select(r, fields) for r in rows]}
    return Response(orjson.dumps(body), media_type="application/json")


def _delete(ts: Any, doctype: str, name: str) -> Response:
    """`DELETE /api/resource/<doctype>/<name>`: Frappe answers 202 `{"message": "ok"}`."""
    es = services_of_tenant(ts.tenant).get(doctype)
    if es is None or not name:
        return _error(404, "DoesNotExistError", f"DocType {doctype} not found")
    try:
        delete_entity(ts.store, es, {"name": name})
    except ODataError as exc:
        kind = "DoesNotExistError" if exc.status == 404 else "PermissionError"
        return _error(exc.status if exc.status == 404 else 403, kind, exc.message)
    return Response(orjson.dumps({"message": "ok"}), 202, media_type="application/json")


async def handle(request: Request, ts: Any, rest: str) -> Response:
    """Every request of an ERPNext tenant: resources, the meta method, errors."""
    tenant: Tenant = ts.tenant
    ts.requests["data"] += 1
    if not _authorized(tenant, request.headers.get("authorization", "")):
        return _error(401, "AuthenticationError", "Invalid API key or secret")
    refused = await listing.faults(ts)
    if refused is not None:
        return refused
    path = unquote(rest)
    if request.method == "DELETE" and path.startswith("api/resource/"):
        return _delete(ts, *path[len("api/resource/") :].partition("/")[::2])
    if request.method != "GET":
        return _error(405, "PermissionError", "the sandbox serves reads (GET) and deletes")
    try:
        if path == "api/method/frappe.desk.form.load.getdoctype":
            return _getdoctype(tenant, request)
        if path.startswith("api/resource/"):
            doctype, _, name = path[len("api/resource/") :].partition("/")
            if doctype == DELETED_DOCUMENT and not name:
                return _deleted_documents(ts, request)
            es = services_of_tenant(tenant).get(doctype)
            if es is None:
                return _error(404, "DoesNotExistError", f"DocType {doctype} not found")
            return _document(ts, es, name) if name else _listing(ts, es, request)
    except (listing.ListingError, ValueError) as exc:
        return _error(417, "DataError", str(exc))
    return _error(404, "PageDoesNotExistError", f"no route /{path}")


DIALECT = Dialect(
    name="erpnext",
    services=services,
    error_codes={},
    absolute_links=False,
    default_page_size=20,
    max_page_size=100_000,
    special=handle,
)
