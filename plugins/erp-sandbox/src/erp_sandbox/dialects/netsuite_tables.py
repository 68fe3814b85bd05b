"""NetSuite's SuiteQL tables over the sandbox store: columns, types and row projections.

Values are kept native (ints, floats, text; datetimes as epoch microseconds, dates as
ISO text) and written as NetSuite writes them only when a query selects them
(`netsuite.py`). Checkbox columns hold 'T'/'F', as SuiteQL returns them.
"""

from __future__ import annotations

import datetime
import zlib
from dataclasses import dataclass
from functools import partial
from typing import Any

from erp_sandbox import vocab
from erp_sandbox.dialects.common import warehouse_index
from erp_sandbox.odata.model import Batch, EntitySet, Prop, Service, Source
from erp_sandbox.tenants import Tenant

#: SuiteQL status codes of sales orders (SalesOrd:<code>) and their display values.
STATUS = {
    "Open": ("B", "Pending Fulfillment"),
    "Released": ("D", "Partially Fulfilled"),
    "Shipped": ("F", "Pending Billing"),
    "Invoiced": ("G", "Billed"),
    "Cancelled": ("C", "Cancelled"),
}
CHANNELS = ("Web Store", "EDI", "Phone", "Sales Rep")


@dataclass(frozen=True)
class Table:
    """A SuiteQL table: its columns (name -> type), key and change timestamp."""

    name: str
    stream: str
    record: str | None  # record type in the metadata catalog (None: not a record)
    columns: dict[str, str]  # integer | string | number | checkbox | date | datetime
    key: tuple[str, ...]
    replication_key: str | None


def _currency_id(code: str) -> int:
    codes = sorted({c[1] for c in vocab.COUNTRIES})
    return codes.index(code) + 1


def _hash(*parts: Any) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def _tf(value: Any) -> str:
    return "T" if value else "F"


def _custom(tenant: Tenant, stream: str, row: dict[str, Any]) -> dict[str, Any]:
    return {
        cf.name: (_tf(row.get(cf.name)) if cf.type == "boolean" else row.get(cf.name))
        for cf in tenant.custom(stream)
    }


def _created(row: dict[str, Any]) -> int | None:
    text = row.get("CreatedOn")
    if text is None:
        return None
    delta = datetime.datetime.fromisoformat(text) - datetime.datetime(
        1970, 1, 1, tzinfo=datetime.UTC
    )
    return delta // datetime.timedelta(seconds=1) * 1_000_000  # NetSuite keeps seconds


def _transactions(tenant: Tenant, b: Batch) -> list[dict[str, Any]]:
    out = []
    for i, r in enumerate(b.rows):
        code, _ = STATUS[r["DocStatus"]]
        h = _hash(tenant.name, "order", r["DocEntry"])
        out.append(
            {
                "id": r["DocEntry"],
                "tranid": r["DocNum"],
                "type": "SalesOrd",
                "entity": r["CustomerKey"],
                "trandate": r["DocDate"],
                "shipdate": r["DocDueDate"],
                "status": code,
                "currency": _currency_id(r["DocCurrency"]),
                "subtotal": r["SubTotal"],
                "taxtotal": r["TaxTotal"],
                "foreigntotal": r["DocTotal"],
                "memo": r["Comments"],
                "createddate": _created(r),
                "lastmodifieddate": b.modified[i],
                "custbody_channel": CHANNELS[h % len(CHANNELS)],
                "custbody_customer_po": None if h % 5 == 0 else f"PO-{h % 1_000_000:06d}",
                "_df_currency": r["DocCurrency"],
                "_df_status": STATUS[r["DocStatus"]][1],
                "_df_entity": f"C{r['CustomerKey']:05d}",
            }
        )
    return out


def _lines(tenant: Tenant, b: Batch) -> list[dict[str, Any]]:
    return [
        {
            "uniquekey": r["LineKey"],
            "id": r["LineNum"] + 1,
            "transaction": r["DocEntry"],
            "linesequencenumber": r["LineNum"] + 1,
            "item": r["ItemKey"],
            "memo": r["ItemDescription"],
            "quantity": r["Quantity"],
            "units": r["UoMCode"],
            "rate": r["UnitPrice"],
            "discountamount": r["DiscountAmount"],
            "netamount": r["LineTotal"],
            "location": warehouse_index(r["WhsCode"]) + 1,
            "linelastmodifieddate": b.modified[i],
            "_df_item": r["ItemCode"],
            "_df_location": r["WhsCode"],
        }
        for i, r in enumerate(b.rows)
    ]


def _customers(tenant: Tenant, b: Batch) -> list[dict[str, Any]]:
    return [
        {
            "id": r["CustomerKey"],
            "entityid": r["CardCode"],
            "companyname": r["CardName"],
            "email": r["EmailAddress"],
            "phone": r["Phone1"],
            "billcity": r["BillTo"]["City"],
            "billcountry": r["BillTo"]["CountryCode"],
            "terms": r["PaymentTermsCode"],
            "creditlimit": r["CreditLimit"],
            "isinactive": _tf(not r["Active"]),
            "datecreated": _created(r),
            "lastmodifieddate": b.modified[i],
            **_custom(tenant, "customers", r),
        }
        for i, r in enumerate(b.rows)
    ]


def _vendors(tenant: Tenant, b: Batch) -> list[dict[str, Any]]:
    return [
        {
            "id": r["VendorKey"],
            "entityid": r["VendorCode"],
            "companyname": r["VendorName"],
            "email": r["EmailAddress"],
            "phone": r["Phone1"],
            "billcountry": r["CountryCode"],
            "terms": r["PaymentTermsCode"],
            "isinactive": _tf(not r["Active"]),
            "datecreated": _created(r),
            "lastmodifieddate": b.modified[i],
        }
        for i, r in enumerate(b.rows)
    ]


def _items(tenant: Tenant, b: Batch) -> list[dict[str, Any]]:
    return [
        {
            "id": r["ItemKey"],
            "itemid": r["ItemCode"],
            "displayname": r["ItemName"],
            "itemtype": "InvtPart",
            "class": r["ItemGroup"],
            "stockunit": r["InventoryUoM"],
            "baseprice": r["ListPrice"],
            "cost": r["StandardCost"],
            "isinactive": _tf(not r["Active"]),
            "createddate": _created(r),
            "lastmodifieddate": b.modified[i],
            **_custom(tenant, "products", r),
        }
        for i, r in enumerate(b.rows)
    ]


def _balances(tenant: Tenant, b: Batch) -> list[dict[str, Any]]:
    return [
        {
            "item": r["ItemKey"],
            "location": warehouse_index(r["WhsCode"]) + 1,
            "quantityonhand": r["OnHand"],
            "committedqtyperlocation": r["Committed"],
            "quantityavailable": r["Available"],
            "_df_item": r["ItemCode"],
            "_df_location": r["WhsCode"],
        }
        for r in b.rows
    ]


STANDARD: dict[str, dict[str, str]] = {
    "transaction": {
        "id": "integer", "tranid": "string", "type": "string", "entity": "integer",
        "trandate": "date", "shipdate": "date", "status": "string", "currency": "integer",
        "subtotal": "number", "taxtotal": "number", "foreigntotal": "number",
        "memo": "string", "createddate": "datetime", "lastmodifieddate": "datetime",
        "custbody_channel": "string", "custbody_customer_po": "string",
    },
    "transactionline": {
        "uniquekey": "integer", "id": "integer", "transaction": "integer",
        "linesequencenumber": "integer", "item": "integer", "memo": "string",
        "quantity": "number", "units": "string", "rate": "number",
        "discountamount": "number", "netamount": "number", "location": "integer",
        "linelastmodifieddate": "datetime",
    },
    "customer": {
        "id": "integer", "entityid": "string", "companyname": "string", "email": "string",
        "phone": "string", "billcity": "string", "billcountry": "string", "terms": "string",
        "creditlimit": "number", "isinactive": "checkbox", "datecreated": "datetime",
        "lastmodifieddate": "datetime",
    },
    "vendor": {
        "id": "integer", "entityid": "string", "companyname": "string", "email": "string",
        "phone": "string", "billcountry": "string", "terms": "string",
        "isinactive": "checkbox", "datecreated": "datetime", "lastmodifieddate": "datetime",
    },
    "item": {
        "id": "integer", "itemid": "string", "displayname": "string", "itemtype": "string",
        "class": "string", "stockunit": "string", "baseprice": "number", "cost": "number",
        "isinactive": "checkbox", "createddate": "datetime", "lastmodifieddate": "datetime",
    },
    "inventorybalance": {
        "item": "integer", "location": "integer", "quantityonhand": "number",
        "committedqtyperlocation": "number", "quantityavailable": "number",
    },
}  # fmt: skip
CUSTOM_TYPES = {"string": "string", "integer": "integer", "decimal": "number"}
CUSTOM_TYPES |= {"boolean": "checkbox", "date": "date"}
#: table -> (store stream, metadata record, key, change timestamp, projection)
LAYOUT = {
    "transaction": ("sales_orders", "salesorder", ("id",), "lastmodifieddate", _transactions),
    "transactionline": ("sales_order_lines", None, ("uniquekey",), None, _lines),
    "customer": ("customers", "customer", ("id",), "lastmodifieddate", _customers),
    "vendor": ("vendors", "vendor", ("id",), "lastmodifieddate", _vendors),
    "item": ("products", "inventoryitem", ("id",), "lastmodifieddate", _items),
    "inventorybalance": ("inventory", None, ("item", "location"), None, _balances),
}


def tables(tenant: Tenant) -> dict[str, Table]:
    """The tenant's tables, its custom fields included."""
    out = {}
    for name, (stream, record, key, rk, _project) in LAYOUT.items():
        columns = dict(STANDARD[name])
        for cf in tenant.custom(stream):
            columns[cf.name] = CUSTOM_TYPES[cf.type]
        out[name] = Table(name, stream, record, columns, key, rk)
    return out


def _etag(_m: int, v: int) -> str:
    return str(v)


def entity_sets(tenant: Tenant) -> dict[str, EntitySet]:
    """The tables as entity sets over the store (listing order, filters, admin views)."""
    sets = {}
    for name, table in tables(tenant).items():
        project = LAYOUT[name][4]
        props = tuple(Prop(c, "Edm.String") for c in table.columns)
        source = Source(table.stream, partial(project, tenant), _etag)
        sets[name] = EntitySet(name, name, props, table.key[:1], table.replication_key, (source,))
    return sets


def services(tenant: Tenant) -> list[Service]:
    """One service holding every table (for the sandbox's admin views)."""
    return [Service("services/rest/query/v1", "netsuite", "netsuite", entity_sets(tenant))]
