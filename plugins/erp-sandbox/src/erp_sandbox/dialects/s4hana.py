"""SAP S/4HANA, OData v4 A2X services (Basic authentication).

Sales orders use the documented v4 service `api_salesorder/.../salesorder/0001`
and products `api_product/.../product/0002`. Business partners and material stock
have no OData v4 API in the documentation: the sandbox serves the OData v2 entity
sets `A_BusinessPartner` and `A_MatlStkInAcctMod` in v4 services of its own
(paths below). Document numbers are texts without leading zeros that compare and
sort by their numeric value (SAP's ALPHA conversion). Sales order items carry no
change timestamp: editing an item does not touch its order.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from erp_sandbox.dialects.common import dto, warehouse_index
from erp_sandbox.odata.handler import Dialect
from erp_sandbox.odata.model import Batch, EntitySet, Nav, Prop, Service, Source
from erp_sandbox.store import TenantStore
from erp_sandbox.tenants import Tenant

ROOT = "sap/opu/odata4/sap"
SALES = f"{ROOT}/api_salesorder/srvd_a2x/sap/salesorder/0001"
PRODUCT = f"{ROOT}/api_product/srvd_a2x/sap/product/0002"
PARTNER = f"{ROOT}/api_business_partner/srvd_a2x/sap/businesspartner/0001"
STOCK = f"{ROOT}/api_material_stock/srvd_a2x/sap/materialstock/0001"
NS = "com.sap.gateway.srvd_a2x.{}.v{}"
PLANTS = ("1010", "1020", "1030")
#: The sandbox's units -> (SAP unit, ISO unit).
UNITS = {
    "EA": ("PC", "PCE"),
    "BOX": ("BOX", "BX"),
    "PAL": ("PAL", "PF"),
    "KG": ("KG", "KGM"),
    "L": ("L", "LTR"),
    "M": ("M", "MTR"),
}
CUSTOMER_BASE = 1_000_000
SUPPLIER_BASE = 17_300_000
PROCESS = {"Open": "A", "Released": "B", "Shipped": "B", "Invoiced": "C", "Cancelled": "C"}
DELIVERY = {"Open": "A", "Released": "A", "Shipped": "C", "Invoiced": "C", "Cancelled": ""}


def _s(name: str, length: int, **kw: Any) -> Prop:
    return Prop(name, "Edm.String", max_length=length, **kw)


def _key(name: str, length: int, alpha: bool = False) -> Prop:
    return Prop(name, "Edm.String", nullable=False, max_length=length, alpha=alpha)


def _amount(name: str) -> Prop:
    return Prop(name, "Edm.Decimal", precision=15, scale="variable", digits=2)


def _qty(name: str, precision: int = 15, scale: int = 3) -> Prop:
    return Prop(name, "Edm.Decimal", precision=precision, scale=scale, digits=3)


def _changed(precision: int) -> Prop:
    return Prop("LastChangeDateTime", "Edm.DateTimeOffset", precision=precision)


def _compact(us: int) -> str:
    text = dto([us], 7)[0]
    return text[:19].replace("-", "").replace("T", "").replace(":", "") + text[19:-1]


def _etag(mod: int, ver: int) -> str:
    return f'W/"SADL-{_compact(mod)}C~{ver}"'


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
            "CreationDate": r["DocDate"],
            "LastChangeDateTime": ts,
            "PurchaseOrderByCustomer": f"PO-{r['DocEntry']:07d}",
            "SalesOrderDate": r["DocDate"],
            "RequestedDeliveryDate": r["DocDueDate"],
            "TotalNetAmount": r["SubTotal"],
            "TransactionCurrency": r["DocCurrency"],
            "OverallSDProcessStatus": PROCESS[r["DocStatus"]],
            "OverallDeliveryStatus": DELIVERY[r["DocStatus"]],
            "OverallSDDocumentRejectionSts": "C" if r["DocStatus"] == "Cancelled" else "A",
        }
        for r, ts in zip(b.rows, dto(b.modified, 7), strict=True)
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
                "Product": r["ItemCode"],
                "RequestedQuantity": r["Quantity"],
                "RequestedQuantitySAPUnit": sap_unit,
                "RequestedQuantityISOUnit": iso_unit,
                "NetAmount": r["LineTotal"],
                "TransactionCurrency": cur,
                "Plant": PLANTS[warehouse_index(r["WhsCode"])],
                "StorageLocation": "0001",
            }
        )
    return out


def _products(tenant: Tenant, b: Batch) -> list[dict[str, Any]]:
    cfs = tenant.custom("products")
    out = []
    for r, ts in zip(b.rows, dto(b.modified, 7), strict=True):
        unit, iso = UNITS.get(r["InventoryUoM"], (r["InventoryUoM"], r["InventoryUoM"]))
        row = {
            "Product": r["ItemCode"],
            "ProductType": "HAWA",
            "CreationDate": r["CreatedOn"][:10],
            "LastChangeDate": ts[:10],
            "LastChangeDateTime": ts,
            "IsMarkedForDeletion": not r["Active"],
            "ProductGroup": r["ItemGroup"].upper().replace(" ", "")[:9],
            "BaseUnit": unit,
            "BaseISOUnit": iso,
        }
        row.update({cf.name: r.get(cf.name) for cf in cfs})
        out.append(row)
    return out


def _descriptions(b: Batch) -> list[dict[str, Any]]:
    return [
        {"Product": r["ItemCode"], "Language": "EN", "ProductDescription": r["ItemName"][:40]}
        for r in b.rows
    ]


def _partners(tenant: Tenant, stream: str, b: Batch) -> list[dict[str, Any]]:
    customer = stream == "customers"
    key = "CustomerKey" if customer else "VendorKey"
    name = "CardName" if customer else "VendorName"
    code = "CardCode" if customer else "VendorCode"
    cfs = tenant.custom("customers")
    out = []
    for r, ts in zip(b.rows, dto(b.modified, 0), strict=True):
        bp = str((CUSTOMER_BASE if customer else SUPPLIER_BASE) + r[key])
        row = {
            "BusinessPartner": bp,
            "Customer": bp if customer else "",
            "Supplier": "" if customer else bp,
            "BusinessPartnerCategory": "2",
            "BusinessPartnerFullName": r[name],
            "BusinessPartnerName": r[name],
            "SearchTerm1": r[code],
            "BusinessPartnerIsBlocked": not r["Active"],
            "CreationDate": r["CreatedOn"][:10],
            "LastChangeDate": ts[:10],
            "LastChangeDateTime": ts,
        }
        row.update({cf.name: r.get(cf.name) if customer else None for cf in cfs})
        out.append(row)
    return out


def _stock(b: Batch) -> list[dict[str, Any]]:
    products = [r["ItemKey"] - 1 for r in b.rows]
    attrs = b.store.gen.product_attrs(np.array(products, dtype=np.int64))
    units = b.store.gen.uom_codes(attrs["group"], attrs["uom_k"])
    return [
        {
            "Material": r["ItemCode"],
            "Plant": PLANTS[warehouse_index(r["WhsCode"])],
            "StorageLocation": "0001",
            "Batch": "",
            "Supplier": "",
            "Customer": "",
            "WBSElementInternalID": "",
            "SDDocument": "",
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
    Prop("CreationDate", "Edm.Date"),
    _changed(7),
    _s("PurchaseOrderByCustomer", 35),
    Prop("SalesOrderDate", "Edm.Date"),
    Prop("RequestedDeliveryDate", "Edm.Date"),
    _amount("TotalNetAmount"),
    _s("TransactionCurrency", 3),
    _s("OverallSDProcessStatus", 1),
    _s("OverallDeliveryStatus", 1),
    _s("OverallSDDocumentRejectionSts", 1),
)
ITEM_PROPS = (
    _key("SalesOrder", 10, alpha=True),
    _key("SalesOrderItem", 6, alpha=True),
    _s("HigherLevelItem", 6, alpha=True),
    _s("SalesOrderItemCategory", 4),
    _s("SalesOrderItemText", 40),
    _s("Product", 18),
    _qty("RequestedQuantity"),
    _s("RequestedQuantitySAPUnit", 3),
    _s("RequestedQuantityISOUnit", 3),
    _amount("NetAmount"),
    _s("TransactionCurrency", 3),
    _s("Plant", 4),
    _s("StorageLocation", 4),
)
PRODUCT_PROPS = (
    _key("Product", 40),
    _s("ProductType", 4),
    Prop("CreationDate", "Edm.Date"),
    Prop("LastChangeDate", "Edm.Date"),
    _changed(7),
    Prop("IsMarkedForDeletion", "Edm.Boolean"),
    _s("ProductGroup", 9),
    _s("BaseUnit", 3),
    _s("BaseISOUnit", 3),
)
DESCRIPTION_PROPS = (
    _key("Product", 40),
    _key("Language", 2),
    _s("ProductDescription", 40),
)
PARTNER_PROPS = (
    _key("BusinessPartner", 10, alpha=True),
    _s("Customer", 10, alpha=True),
    _s("Supplier", 10, alpha=True),
    _s("BusinessPartnerCategory", 1),
    _s("BusinessPartnerFullName", 81),
    _s("BusinessPartnerName", 81),
    _s("SearchTerm1", 20),
    Prop("BusinessPartnerIsBlocked", "Edm.Boolean"),
    Prop("CreationDate", "Edm.Date"),
    Prop("LastChangeDate", "Edm.Date"),
    _changed(0),
)
STOCK_PROPS = (
    _key("Material", 40),
    _key("Plant", 4),
    _key("StorageLocation", 4),
    _key("Batch", 10),
    _key("Supplier", 10),
    _key("Customer", 10),
    _key("WBSElementInternalID", 24),
    _key("SDDocument", 10),
    _key("SDDocumentItem", 6),
    _key("InventorySpecialStockType", 1),
    _key("InventoryStockType", 2),
    _s("MaterialBaseUnit", 3),
    _qty("MatlWrhsStkQtyInMatlBaseUnit", 31, 14),
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


def _keys_of(props: tuple[Prop, ...]) -> tuple[str, ...]:
    return tuple(p.name for p in props if not p.nullable)


def _service(root: str, api: str, version: str, sets: list[EntitySet]) -> Service:
    return Service(root, NS.format(api, version), "Container", {s.name: s for s in sets})


def services(tenant: Tenant) -> list[Service]:
    """Sales orders and products (documented v4 APIs), partners and stock (v2 sets in v4)."""
    rk = "LastChangeDateTime"
    items = EntitySet(
        "SalesOrderItem",
        "SalesOrderItem_Type",
        ITEM_PROPS,
        _keys_of(ITEM_PROPS),
        sources=(Source("sales_order_lines", _items, _etag),),
    )
    orders = EntitySet(
        "SalesOrder",
        "SalesOrder_Type",
        ORDER_PROPS,
        ("SalesOrder",),
        rk,
        sources=(Source("sales_orders", _orders, _etag),),
        navs=(Nav("_Item", "SalesOrderItem", TenantStore.order_lines),),
    )
    product_props = PRODUCT_PROPS + _custom_props(tenant, "products")
    products = EntitySet(
        "Product",
        "Product_Type",
        product_props,
        ("Product",),
        rk,
        sources=(Source("products", partial(_products, tenant), _etag),),
    )
    descriptions = EntitySet(
        "ProductDescription",
        "ProductDescription_Type",
        DESCRIPTION_PROPS,
        ("Product", "Language"),
        sources=(Source("products", _descriptions, _etag),),
    )
    partner_props = PARTNER_PROPS + _custom_props(tenant, "customers")
    partners = EntitySet(
        "A_BusinessPartner",
        "A_BusinessPartnerType",
        partner_props,
        ("BusinessPartner",),
        rk,
        sources=(
            Source("customers", partial(_partners, tenant, "customers"), _etag, rank=0),
            Source("vendors", partial(_partners, tenant, "vendors"), _etag, rank=1),
        ),
    )
    stock = EntitySet(
        "A_MatlStkInAcctMod",
        "A_MatlStkInAcctModType",
        STOCK_PROPS,
        _keys_of(STOCK_PROPS),
        sources=(Source("inventory", _stock, _etag),),
    )
    return [
        _service(SALES, "api_salesorder", "0001", [orders, items]),
        _service(PRODUCT, "api_product", "0002", [products, descriptions]),
        _service(PARTNER, "api_business_partner", "0001", [partners]),
        _service(STOCK, "api_material_stock", "0001", [stock]),
    ]


DIALECT = Dialect(
    name="s4hana",
    services=services,
    error_codes={},
    absolute_links=False,
    default_page_size=5_000,
    max_page_size=5_000,
)
