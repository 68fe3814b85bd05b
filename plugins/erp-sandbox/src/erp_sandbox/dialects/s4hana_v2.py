"""SAP S/4HANA, OData v2 A2X services (SAP Gateway, Basic authentication, GETs without CSRF).

The services and entity sets of SAP's API documentation: `API_SALES_ORDER_SRV`
(`A_SalesOrder`, `A_SalesOrderItem`), `API_BUSINESS_PARTNER` (`A_Customer`,
`A_Supplier`), `API_PRODUCT_SRV` (`A_Product`), `API_MATERIAL_STOCK_SRV`
(`A_MatlStkInAcctMod`), below `/sap/opu/odata/sap/`. Only sales orders and products
carry a change timestamp (`LastChangeDateTime`, Edm.DateTimeOffset); items, customers,
suppliers and stock have none. Dates are Edm.DateTime at midnight UTC
(`sap:display-format="Date"`). The wire format is `erp_sandbox.odata.v2`.
"""

from __future__ import annotations

import datetime
from functools import partial
from typing import Any

import numpy as np

from erp_sandbox.dialects.common import dto, warehouse_index
from erp_sandbox.dialects.s4hana import (
    CUSTOMER_BASE,
    DELIVERY,
    PLANTS,
    PROCESS,
    STOCK_PROPS,
    SUPPLIER_BASE,
    UNITS,
)
from erp_sandbox.odata import v2
from erp_sandbox.odata.handler import Dialect
from erp_sandbox.odata.model import Batch, EntitySet, Prop, Service, Source
from erp_sandbox.tenants import Tenant

ROOT = "sap/opu/odata/sap"
_EPOCH = datetime.date(1970, 1, 1)
DAY_MS = 86_400_000


def _s(name: str, length: int, **kw: Any) -> Prop:
    return Prop(name, "Edm.String", max_length=length, **kw)


def _key(name: str, length: int, alpha: bool = False) -> Prop:
    return Prop(name, "Edm.String", nullable=False, max_length=length, alpha=alpha)


def _date(name: str) -> Prop:
    return Prop(name, "Edm.DateTime", precision=0)


def _amount(name: str) -> Prop:
    return Prop(name, "Edm.Decimal", precision=16, scale=3, digits=2)


def _qty(name: str) -> Prop:
    return Prop(name, "Edm.Decimal", precision=15, scale=3, digits=3)


CHANGED = Prop("LastChangeDateTime", "Edm.DateTimeOffset", precision=7)


def day(text: str | None) -> str | None:
    """`YYYY-MM-DD` -> Edm.DateTime at midnight UTC in JSON, `/Date(<ms>)/`."""
    if not text:
        return None
    days = (datetime.date.fromisoformat(text[:10]) - _EPOCH).days
    return v2.date_ms(days * DAY_MS, offset=False)


def changed(us: int) -> str:
    """Epoch microseconds -> Edm.DateTimeOffset in JSON (milliseconds, UTC)."""
    return v2.date_ms(us // 1000, offset=True)


def _etag(mod: int, _ver: int) -> str:
    return f"W/\"datetimeoffset'{dto([mod], 7)[0]}'\""


# -- projections -------------------------------------------------------------------


def _orders(b: Batch) -> list[dict[str, Any]]:
    return [
        {
            "SalesOrder": str(r["DocEntry"]),
            "SalesOrderType": "OR",
            "SalesOrganization": "1010",
            "DistributionChannel": "10",
            "OrganizationDivision": "00",
            "SoldToParty": str(CUSTOMER_BASE + r["CustomerKey"]),
            "CreationDate": day(r["DocDate"]),
            "LastChangeDate": v2.date_ms(us // 1000 // DAY_MS * DAY_MS, offset=False),
            "LastChangeDateTime": changed(us),
            "PurchaseOrderByCustomer": f"PO-{r['DocEntry']:07d}",
            "SalesOrderDate": day(r["DocDate"]),
            "RequestedDeliveryDate": day(r["DocDueDate"]),
            "TotalNetAmount": r["SubTotal"],
            "TransactionCurrency": r["DocCurrency"],
            "OverallSDProcessStatus": PROCESS[r["DocStatus"]],
            "OverallTotalDeliveryStatus": DELIVERY[r["DocStatus"]],
            "OverallSDDocumentRejectionSts": "C" if r["DocStatus"] == "Cancelled" else "A",
        }
        for r, us in zip(b.rows, b.modified, strict=True)
    ]


def _items(b: Batch) -> list[dict[str, Any]]:
    orders = np.array([r["DocEntry"] - 1 for r in b.rows], dtype=np.int64)
    currencies = b.store.gen.order_currencies(orders)
    out = []
    for r, cur in zip(b.rows, currencies, strict=True):
        sap_unit, iso_unit = UNITS.get(r["UoMCode"], (r["UoMCode"], r["UoMCode"]))
        out.append(
            {
                "SalesOrder": str(r["DocEntry"]),
                "SalesOrderItem": str((r["LineNum"] + 1) * 10),
                "HigherLevelItem": "0",
                "SalesOrderItemCategory": "TAN",
                "SalesOrderItemText": r["ItemDescription"][:40],
                "Material": r["ItemCode"],
                "RequestedQuantity": r["Quantity"],
                "RequestedQuantityUnit": sap_unit,
                "RequestedQuantityISOUnit": iso_unit,
                "NetAmount": r["LineTotal"],
                "TransactionCurrency": cur,
                "ProductionPlant": PLANTS[warehouse_index(r["WhsCode"])],
                "StorageLocation": "0001",
            }
        )
    return out


def _customers(tenant: Tenant, b: Batch) -> list[dict[str, Any]]:
    cfs = tenant.custom("customers")
    out = []
    for r in b.rows:
        row = {
            "Customer": str(CUSTOMER_BASE + r["CustomerKey"]),
            "CustomerName": r["CardName"][:80],
            "CustomerFullName": r["CardName"],
            "CustomerAccountGroup": "CUST",
            "CreationDate": day(r["CreatedOn"]),
            "OrderIsBlockedForCustomer": "" if r["Active"] else "01",
            "DeletionIndicator": False,
            "Supplier": "",
        }
        row.update({cf.name: r.get(cf.name) for cf in cfs})
        out.append(row)
    return out


def _suppliers(b: Batch) -> list[dict[str, Any]]:
    return [
        {
            "Supplier": str(SUPPLIER_BASE + r["VendorKey"]),
            "SupplierName": r["VendorName"][:80],
            "SupplierFullName": r["VendorName"],
            "SupplierAccountGroup": "SUPL",
            "CreationDate": day(r["CreatedOn"]),
            "PostingIsBlocked": not r["Active"],
            "DeletionIndicator": False,
            "Customer": "",
        }
        for r in b.rows
    ]


def _products(tenant: Tenant, b: Batch) -> list[dict[str, Any]]:
    cfs = tenant.custom("products")
    out = []
    for r, us in zip(b.rows, b.modified, strict=True):
        unit, _iso = UNITS.get(r["InventoryUoM"], (r["InventoryUoM"], r["InventoryUoM"]))
        row = {
            "Product": r["ItemCode"],
            "ProductType": "HAWA",
            "CreationDate": day(r["CreatedOn"]),
            "LastChangeDate": v2.date_ms(us // 1000 // DAY_MS * DAY_MS, offset=False),
            "LastChangeDateTime": changed(us),
            "IsMarkedForDeletion": not r["Active"],
            "ProductGroup": r["ItemGroup"].upper().replace(" ", "")[:9],
            "BaseUnit": unit,
        }
        row.update({cf.name: r.get(cf.name) for cf in cfs})
        out.append(row)
    return out


def _stock(b: Batch) -> list[dict[str, Any]]:
    products = [r["ItemKey"] - 1 for r in b.rows]
    attrs = b.store.gen.product_attrs(np.array(products, dtype=np.int64))
    units = b.store.gen.uom_codes(attrs["group"], attrs["uom_k"])
    blank = ("Batch", "Supplier", "Customer", "WBSElementInternalID", "SDDocument")
    return [
        {
            "Material": r["ItemCode"],
            "Plant": PLANTS[warehouse_index(r["WhsCode"])],
            "StorageLocation": "0001",
            **dict.fromkeys(blank, ""),
            "SDDocumentItem": "",
            "InventorySpecialStockType": "",
            "InventoryStockType": "01",
            "MaterialBaseUnit": UNITS.get(unit, (unit, unit))[0],
            "MatlWrhsStkQtyInMatlBaseUnit": r["OnHand"],
        }
        for r, unit in zip(b.rows, units, strict=True)
    ]


# -- entity sets --------------------------------------------------------------------

ORDER_PROPS = (
    _key("SalesOrder", 10, alpha=True),
    _s("SalesOrderType", 4),
    _s("SalesOrganization", 4),
    _s("DistributionChannel", 2),
    _s("OrganizationDivision", 2),
    _s("SoldToParty", 10, alpha=True),
    _date("CreationDate"),
    _date("LastChangeDate"),
    CHANGED,
    _s("PurchaseOrderByCustomer", 35),
    _date("SalesOrderDate"),
    _date("RequestedDeliveryDate"),
    _amount("TotalNetAmount"),
    _s("TransactionCurrency", 5),
    _s("OverallSDProcessStatus", 1),
    _s("OverallTotalDeliveryStatus", 1),
    _s("OverallSDDocumentRejectionSts", 1),
)
ITEM_PROPS = (
    _key("SalesOrder", 10, alpha=True),
    _key("SalesOrderItem", 6, alpha=True),
    _s("HigherLevelItem", 6, alpha=True),
    _s("SalesOrderItemCategory", 4),
    _s("SalesOrderItemText", 40),
    _s("Material", 40),
    _qty("RequestedQuantity"),
    _s("RequestedQuantityUnit", 3),
    _s("RequestedQuantityISOUnit", 3),
    _amount("NetAmount"),
    _s("TransactionCurrency", 5),
    _s("ProductionPlant", 4),
    _s("StorageLocation", 4),
)
CUSTOMER_PROPS = (
    _key("Customer", 10, alpha=True),
    _s("CustomerName", 80),
    _s("CustomerFullName", 220),
    _s("CustomerAccountGroup", 4),
    _date("CreationDate"),
    _s("OrderIsBlockedForCustomer", 2),
    Prop("DeletionIndicator", "Edm.Boolean"),
    _s("Supplier", 10, alpha=True),
)
SUPPLIER_PROPS = (
    _key("Supplier", 10, alpha=True),
    _s("SupplierName", 80),
    _s("SupplierFullName", 220),
    _s("SupplierAccountGroup", 4),
    _date("CreationDate"),
    Prop("PostingIsBlocked", "Edm.Boolean"),
    Prop("DeletionIndicator", "Edm.Boolean"),
    _s("Customer", 10, alpha=True),
)
PRODUCT_PROPS = (
    _key("Product", 40),
    _s("ProductType", 4),
    _date("CreationDate"),
    _date("LastChangeDate"),
    CHANGED,
    Prop("IsMarkedForDeletion", "Edm.Boolean"),
    _s("ProductGroup", 9),
    _s("BaseUnit", 3),
)


def _custom_props(tenant: Tenant, stream: str) -> tuple[Prop, ...]:
    out = []
    for cf in tenant.custom(stream):
        if cf.type == "decimal":
            kw: dict[str, Any] = {"precision": 13, "scale": cf.scale, "digits": cf.scale}
            out.append(Prop(cf.name, "Edm.Decimal", custom=True, label=cf.label, **kw))
        elif cf.type == "boolean":
            out.append(Prop(cf.name, "Edm.Boolean", custom=True, label=cf.label))
        else:
            out.append(Prop(cf.name, "Edm.String", max_length=40, custom=True, label=cf.label))
    return tuple(out)


def _set(name: str, props: tuple[Prop, ...], key: tuple[str, ...], *sources: Source) -> EntitySet:
    rk = "LastChangeDateTime" if any(p.name == "LastChangeDateTime" for p in props) else None
    return EntitySet(name, f"{name}Type", props, key, rk, sources=sources)


def _service(name: str, sets: list[EntitySet]) -> Service:
    return Service(f"{ROOT}/{name}", name, f"{name}_Entities", {s.name: s for s in sets})


def services(tenant: Tenant) -> list[Service]:
    """The four v2 services of SAP's API documentation."""
    keys = tuple(p.name for p in STOCK_PROPS if not p.nullable)
    customers = CUSTOMER_PROPS + _custom_props(tenant, "customers")
    products = PRODUCT_PROPS + _custom_props(tenant, "products")
    return [
        _service(
            "API_SALES_ORDER_SRV",
            [
                _set(
                    "A_SalesOrder",
                    ORDER_PROPS,
                    ("SalesOrder",),
                    Source("sales_orders", _orders, _etag),
                ),
                _set(
                    "A_SalesOrderItem",
                    ITEM_PROPS,
                    ("SalesOrder", "SalesOrderItem"),
                    Source("sales_order_lines", _items, _etag),
                ),
            ],
        ),
        _service(
            "API_BUSINESS_PARTNER",
            [
                _set(
                    "A_Customer",
                    customers,
                    ("Customer",),
                    Source("customers", partial(_customers, tenant), _etag),
                ),
                _set(
                    "A_Supplier",
                    SUPPLIER_PROPS,
                    ("Supplier",),
                    Source("vendors", _suppliers, _etag),
                ),
            ],
        ),
        _service(
            "API_PRODUCT_SRV",
            [
                _set(
                    "A_Product",
                    products,
                    ("Product",),
                    Source("products", partial(_products, tenant), _etag),
                )
            ],
        ),
        _service(
            "API_MATERIAL_STOCK_SRV",
            [_set("A_MatlStkInAcctMod", STOCK_PROPS, keys, Source("inventory", _stock, _etag))],
        ),
    ]


DIALECT = Dialect(
    name="s4hana_v2",
    services=services,
    error_codes={},
    absolute_links=True,
    default_page_size=1_000,
    max_page_size=5_000,
    respond=v2.respond,
    error=v2.error,
)
