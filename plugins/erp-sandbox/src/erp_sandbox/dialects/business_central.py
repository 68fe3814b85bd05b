"""Microsoft Dynamics 365 Business Central, API v2.0 (plus one custom API page).

Entity sets live under `api/v2.0/companies({id})/`; on-hand stock per item and
location, which API v2.0 does not offer, is a custom API page
`api/{tenant}/erp/v1.0/companies({id})/inventoryByLocation`. Tokens come from an
Entra-style endpoint `oauth2/v2.0/token`. Datetimes have millisecond precision
and are sent with trailing zeros trimmed; empty texts are "" and empty dates
0001-01-01, as Business Central sends them.
"""

from __future__ import annotations

import base64
from functools import partial
from typing import Any

import numpy as np

from erp_sandbox import vocab
from erp_sandbox.dialects import entra
from erp_sandbox.dialects.common import (
    CURRENCY_OF_COUNTRY,
    ZERO_GUID,
    dto,
    guid,
    guids,
    inventory_on_hand,
    warehouse_index,
)
from erp_sandbox.odata.handler import Dialect
from erp_sandbox.odata.model import Batch, EntitySet, Nav, Prop, Service, Source
from erp_sandbox.store import TenantStore
from erp_sandbox.tenants import CustomField, Tenant

SCOPE = "https://api.businesscentral.dynamics.com/.default"
TOKEN_TTL = 3599
NS = "Microsoft.NAV"
STATUS = {
    "Open": "Draft",
    "Released": "Open",
    "Shipped": "Open",
    "Invoiced": "Open",
    "Cancelled": "Draft",
}
LOCATION_NAMES = {"WH01": "Main Warehouse", "WH02": "North Warehouse", "WH03": "South Warehouse"}
EMPTY_DATE = "0001-01-01"


def _p(name: str, edm: str = "Edm.String", **kw: Any) -> Prop:
    return Prop(name, edm, **kw)


def _money(name: str) -> Prop:
    return Prop(name, "Edm.Decimal", scale="Variable", digits=2)


def _dec(name: str, digits: int) -> Prop:
    return Prop(name, "Edm.Decimal", scale="Variable", digits=digits)


def _id(name: str = "id") -> Prop:
    return Prop(name, "Edm.Guid", nullable=name != "id")


MODIFIED = Prop("lastModifiedDateTime", "Edm.DateTimeOffset")


def _etag(mod: int, ver: int) -> str:
    raw = f"'{mod // 1000};{ver + 1};00;'".encode()
    return f'W/"{base64.b64encode(raw).decode()}"'


def _ts(batch: Batch) -> list[str]:
    return dto(batch.modified, 3, trim=True)


def _custom_props(tenant: Tenant, stream: str) -> tuple[Prop, ...]:
    edm = {"string": "Edm.String", "integer": "Edm.Int32", "boolean": "Edm.Boolean"}
    out = []
    for cf in tenant.custom(stream):
        if cf.type == "decimal":
            kw: dict[str, Any] = {"precision": 18, "scale": cf.scale, "digits": cf.scale}
            out.append(Prop(cf.name, "Edm.Decimal", custom=True, label=cf.label, **kw))
        else:
            out.append(Prop(cf.name, edm.get(cf.type, "Edm.String"), custom=True, label=cf.label))
    return tuple(out)


def _custom_values(cfs: tuple[CustomField, ...], row: dict[str, Any]) -> dict[str, Any]:
    """Extension fields are never null in Business Central: blank text, zero numbers."""
    empty = {"string": "", "integer": 0, "decimal": 0.0, "boolean": False}
    out = {}
    for cf in cfs:
        value = row.get(cf.name)
        out[cf.name] = empty.get(cf.type, "") if value is None else value
    return out


# -- projections -------------------------------------------------------------------


def _orders(tenant: Tenant, b: Batch) -> list[dict[str, Any]]:
    name = tenant.name
    cust = [r["CustomerKey"] - 1 for r in b.rows]
    names = b.store.gen.party_names("customers", np.array(cust, dtype=np.int64))
    out = []
    for r, oid, cid, cname, ts in zip(
        b.rows,
        guids(name, "salesOrders", b.idx),
        guids(name, "customers", cust),
        names,
        _ts(b),
        strict=True,
    ):
        ship = r["ShipTo"]
        out.append(
            {
                "id": oid,
                "number": f"S-ORD{100000 + r['DocEntry']}",
                "externalDocumentNumber": "",
                "orderDate": r["DocDate"],
                "postingDate": r["DocDate"],
                "customerId": cid,
                "customerNumber": f"C{r['CustomerKey']:05d}",
                "customerName": cname,
                "shipToAddressLine1": ship["Street"],
                "shipToCity": ship["City"],
                "shipToCountry": ship["CountryCode"],
                "shipToPostCode": ship["PostalCode"],
                "currencyCode": r["DocCurrency"],
                "requestedDeliveryDate": r["DocDueDate"] or EMPTY_DATE,
                "discountAmount": 0.0,
                "totalAmountExcludingTax": r["SubTotal"],
                "totalTaxAmount": r["TaxTotal"],
                "totalAmountIncludingTax": r["DocTotal"],
                "fullyShipped": r["DocStatus"] in ("Shipped", "Invoiced"),
                "status": STATUS[r["DocStatus"]],
                "lastModifiedDateTime": ts,
            }
        )
    return out


def _lines(tenant: Tenant, b: Batch) -> list[dict[str, Any]]:
    name = tenant.name
    orders = guids(name, "salesOrders", [r["DocEntry"] - 1 for r in b.rows])
    items = guids(name, "items", [r["ItemKey"] - 1 for r in b.rows])
    locs = guids(name, "locations", [warehouse_index(r["WhsCode"]) for r in b.rows])
    out = []
    for r, lid, oid, iid, loc in zip(
        b.rows, guids(name, "salesOrderLines", b.idx), orders, items, locs, strict=True
    ):
        out.append(
            {
                "id": lid,
                "documentId": oid,
                "sequence": (r["LineNum"] + 1) * 10000,
                "itemId": iid,
                "accountId": ZERO_GUID,
                "lineType": "Item",
                "lineObjectNumber": r["ItemCode"],
                "description": r["ItemDescription"],
                "unitOfMeasureCode": r["UoMCode"],
                "quantity": r["Quantity"],
                "unitPrice": r["UnitPrice"],
                "discountAmount": r["DiscountAmount"],
                "amountExcludingTax": r["LineTotal"],
                "netAmount": r["LineTotal"],
                "locationId": loc,
            }
        )
    return out


def _customers(tenant: Tenant, b: Batch) -> list[dict[str, Any]]:
    cfs = tenant.custom("customers")
    out = []
    for r, cid, ts in zip(b.rows, guids(tenant.name, "customers", b.idx), _ts(b), strict=True):
        bill = r["BillTo"]
        out.append(
            {
                "id": cid,
                "number": r["CardCode"],
                "displayName": r["CardName"],
                "type": "Company",
                "addressLine1": bill["Street"],
                "addressLine2": "",
                "city": bill["City"],
                "state": "",
                "country": bill["CountryCode"],
                "postalCode": bill["PostalCode"],
                "phoneNumber": r["Phone1"] or "",
                "email": r["EmailAddress"] or "",
                "website": "",
                "creditLimit": r["CreditLimit"],
                "currencyCode": CURRENCY_OF_COUNTRY[bill["CountryCode"]],
                "blocked": " " if r["Active"] else "All",
                "lastModifiedDateTime": ts,
                **_custom_values(cfs, r),
            }
        )
    return out


def _vendors(tenant: Tenant, b: Batch) -> list[dict[str, Any]]:
    out = []
    for r, vid, ts in zip(b.rows, guids(tenant.name, "vendors", b.idx), _ts(b), strict=True):
        out.append(
            {
                "id": vid,
                "number": r["VendorCode"],
                "displayName": r["VendorName"],
                "addressLine1": "",
                "city": "",
                "country": r["CountryCode"],
                "phoneNumber": r["Phone1"] or "",
                "email": r["EmailAddress"] or "",
                "currencyCode": CURRENCY_OF_COUNTRY[r["CountryCode"]],
                "blocked": " " if r["Active"] else "All",
                "lastModifiedDateTime": ts,
            }
        )
    return out


def _items(tenant: Tenant, b: Batch) -> list[dict[str, Any]]:
    cfs = tenant.custom("products")
    stock = inventory_on_hand(b.store, b.idx.tolist())
    out = []
    for r, iid, ts, qty in zip(
        b.rows, guids(tenant.name, "items", b.idx), _ts(b), stock, strict=True
    ):
        out.append(
            {
                "id": iid,
                "number": r["ItemCode"],
                "displayName": r["ItemName"],
                "type": "Inventory",
                "itemCategoryCode": r["ItemGroup"].upper().replace(" ", "")[:20],
                "blocked": not r["Active"],
                "gtin": "",
                "inventory": qty,
                "unitPrice": r["ListPrice"],
                "priceIncludesTax": False,
                "unitCost": r["StandardCost"],
                "baseUnitOfMeasureCode": r["InventoryUoM"],
                "lastModifiedDateTime": ts,
                **_custom_values(cfs, r),
            }
        )
    return out


def _stock(tenant: Tenant, b: Batch) -> list[dict[str, Any]]:
    name = tenant.name
    items = guids(name, "items", [r["ItemKey"] - 1 for r in b.rows])
    locs = guids(name, "locations", [warehouse_index(r["WhsCode"]) for r in b.rows])
    return [
        {
            "id": sid,
            "itemId": iid,
            "itemNumber": r["ItemCode"],
            "locationId": loc,
            "locationCode": r["WhsCode"],
            "quantityOnHand": r["OnHand"],
            "quantityOnSalesOrders": r["Committed"],
            "quantityAvailable": r["Available"],
        }
        for r, sid, iid, loc in zip(
            b.rows, guids(name, "inventoryByLocation", b.idx), items, locs, strict=True
        )
    ]


def _companies(tenant: Tenant, _store: TenantStore) -> list[dict[str, Any]]:
    return [
        {
            "id": company_id(tenant),
            "systemVersion": "24.0.16410.18040",
            "name": tenant.name.upper(),
            "displayName": f"{tenant.name.capitalize()} Ltd.",
            "businessProfileId": "",
            "systemCreatedAt": "2022-05-02T08:00:00Z",
            "systemCreatedBy": ZERO_GUID,
            "systemModifiedAt": "2022-05-02T08:00:00Z",
            "systemModifiedBy": ZERO_GUID,
        }
    ]


def _locations(tenant: Tenant, _store: TenantStore) -> list[dict[str, Any]]:
    return [
        {
            "id": guid(tenant.name, "locations", w),
            "code": code,
            "displayName": LOCATION_NAMES.get(code, code),
            "contact": "",
            "addressLine1": "",
            "addressLine2": "",
            "city": "",
            "state": "",
            "country": "",
            "postalCode": "",
            "phoneNumber": "",
            "email": "",
            "website": "",
        }
        for w, code in enumerate(vocab.WAREHOUSES)
    ]


def company_id(tenant: Tenant) -> str:
    """The GUID of the tenant's one company."""
    return guid(tenant.name, "companies", 0)


# -- entity sets --------------------------------------------------------------------

COMPANY_PROPS = (
    _id(),
    _p("systemVersion"),
    _p("name"),
    _p("displayName"),
    _p("businessProfileId"),
    _p("systemCreatedAt", "Edm.DateTimeOffset"),
    _id("systemCreatedBy"),
    _p("systemModifiedAt", "Edm.DateTimeOffset"),
    _id("systemModifiedBy"),
)
ORDER_PROPS = (
    _id(),
    _p("number"),
    _p("externalDocumentNumber"),
    _p("orderDate", "Edm.Date"),
    _p("postingDate", "Edm.Date"),
    _id("customerId"),
    _p("customerNumber"),
    _p("customerName"),
    _p("shipToAddressLine1"),
    _p("shipToCity"),
    _p("shipToCountry"),
    _p("shipToPostCode"),
    _p("currencyCode"),
    _p("requestedDeliveryDate", "Edm.Date"),
    _money("discountAmount"),
    _money("totalAmountExcludingTax"),
    _money("totalTaxAmount"),
    _money("totalAmountIncludingTax"),
    _p("fullyShipped", "Edm.Boolean"),
    _p("status"),
    MODIFIED,
)
LINE_PROPS = (
    _id(),
    _id("documentId"),
    _p("sequence", "Edm.Int32"),
    _id("itemId"),
    _id("accountId"),
    _p("lineType"),
    _p("lineObjectNumber"),
    _p("description"),
    _p("unitOfMeasureCode"),
    _dec("quantity", 3),
    _dec("unitPrice", 4),
    _money("discountAmount"),
    _money("amountExcludingTax"),
    _money("netAmount"),
    _id("locationId"),
)
CUSTOMER_PROPS = (
    _id(),
    _p("number"),
    _p("displayName"),
    _p("type"),
    _p("addressLine1"),
    _p("addressLine2"),
    _p("city"),
    _p("state"),
    _p("country"),
    _p("postalCode"),
    _p("phoneNumber"),
    _p("email"),
    _p("website"),
    _money("creditLimit"),
    _p("currencyCode"),
    _p("blocked"),
    MODIFIED,
)
VENDOR_PROPS = (
    _id(),
    _p("number"),
    _p("displayName"),
    _p("addressLine1"),
    _p("city"),
    _p("country"),
    _p("phoneNumber"),
    _p("email"),
    _p("currencyCode"),
    _p("blocked"),
    MODIFIED,
)
ITEM_PROPS = (
    _id(),
    _p("number"),
    _p("displayName"),
    _p("type"),
    _p("itemCategoryCode"),
    _p("blocked", "Edm.Boolean"),
    _p("gtin"),
    _dec("inventory", 3),
    _dec("unitPrice", 4),
    _p("priceIncludesTax", "Edm.Boolean"),
    _dec("unitCost", 4),
    _p("baseUnitOfMeasureCode"),
    MODIFIED,
)
LOCATION_PROPS = (
    _id(),
    _p("code"),
    _p("displayName"),
    _p("contact"),
    _p("addressLine1"),
    _p("addressLine2"),
    _p("city"),
    _p("state"),
    _p("country"),
    _p("postalCode"),
    _p("phoneNumber"),
    _p("email"),
    _p("website"),
)
STOCK_PROPS = (
    _id(),
    _id("itemId"),
    _p("itemNumber"),
    _id("locationId"),
    _p("locationCode"),
    _dec("quantityOnHand", 3),
    _dec("quantityOnSalesOrders", 3),
    _dec("quantityAvailable", 3),
)


def _set(
    tenant: Tenant,
    name: str,
    type_name: str,
    props: tuple[Prop, ...],
    *,
    stream: str,
    project: Any,
    replication_key: str | None = None,
    navs: tuple[Nav, ...] = (),
) -> EntitySet:
    source = Source(stream, partial(project, tenant), _etag)
    return EntitySet(
        name,
        type_name,
        props,
        ("id",),
        replication_key,
        sources=(source,),
        parent="companies",
        navs=navs,
    )


def _companies_set(tenant: Tenant) -> EntitySet:
    return EntitySet(
        "companies", "company", COMPANY_PROPS, ("id",), static=partial(_companies, tenant)
    )


def services(tenant: Tenant) -> list[Service]:
    """The standard API v2.0 and the tenant's custom API page for stock by location."""
    lines_nav = Nav("salesOrderLines", "salesOrderLines", TenantStore.order_lines)
    rk = "lastModifiedDateTime"
    customer_props = CUSTOMER_PROPS + _custom_props(tenant, "customers")
    item_props = ITEM_PROPS + _custom_props(tenant, "products")
    sets = [
        _companies_set(tenant),
        _set(
            tenant,
            "salesOrders",
            "salesOrder",
            ORDER_PROPS,
            stream="sales_orders",
            project=_orders,
            replication_key=rk,
            navs=(lines_nav,),
        ),
        _set(
            tenant,
            "salesOrderLines",
            "salesOrderLine",
            LINE_PROPS,
            stream="sales_order_lines",
            project=_lines,
        ),
        _set(
            tenant,
            "customers",
            "customer",
            customer_props,
            stream="customers",
            project=_customers,
            replication_key=rk,
        ),
        _set(
            tenant,
            "vendors",
            "vendor",
            VENDOR_PROPS,
            stream="vendors",
            project=_vendors,
            replication_key=rk,
        ),
        _set(
            tenant,
            "items",
            "item",
            item_props,
            stream="products",
            project=_items,
            replication_key=rk,
        ),
        EntitySet(
            "locations",
            "location",
            LOCATION_PROPS,
            ("id",),
            static=partial(_locations, tenant),
            parent="companies",
        ),
    ]
    custom = [
        _companies_set(tenant),
        _set(
            tenant,
            "inventoryByLocation",
            "inventoryByLocation",
            STOCK_PROPS,
            stream="inventory",
            project=_stock,
        ),
    ]
    return [
        Service("api/v2.0", NS, "NAV", {s.name: s for s in sets}),
        Service(f"api/{tenant.name}/erp/v1.0", NS, "NAV", {s.name: s for s in custom}),
    ]


DIALECT = Dialect(
    name="business_central",
    services=services,
    error_codes={
        "bad_request": "BadRequest",
        "not_found": "BadRequest_NotFound",
        "method_not_allowed": "BadRequest_MethodNotAllowed",
        "unauthorized": "Authentication_InvalidCredentials",
        "rate_limited": "Application_TooManyRequests",
        "internal_error": "Internal_ServerError",
        "bad_gateway": "BadGateway",
        "service_unavailable": "Unavailable",
        "gateway_timeout": "GatewayTimeout",
    },
    absolute_links=True,
    default_page_size=20_000,
    max_page_size=20_000,
    special=partial(entra.token, scope=SCOPE, default_ttl=TOKEN_TTL),
)
