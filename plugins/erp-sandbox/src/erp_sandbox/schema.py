"""Entities, their fields and the `$metadata` document."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from erp_sandbox.tenants import Tenant


@dataclass(frozen=True)
class Entity:
    """One listable entity."""

    stream: str  # admin/stream name, e.g. sales_orders
    path: str  # URL path segment, e.g. sales-orders
    primary_key: tuple[str, ...]
    replication_key: str | None


ENTITIES: dict[str, Entity] = {
    e.stream: e
    for e in (
        Entity("sales_orders", "sales-orders", ("DocEntry",), "ModifiedOn"),
        Entity("sales_order_lines", "sales-order-lines", ("LineKey",), "ModifiedOn"),
        Entity("customers", "customers", ("CustomerKey",), "ModifiedOn"),
        Entity("vendors", "vendors", ("VendorKey",), "ModifiedOn"),
        Entity("products", "products", ("ItemKey",), "ModifiedOn"),
        Entity("inventory", "inventory", ("ItemKey", "WhsCode"), None),
    )
}
BY_PATH: dict[str, Entity] = {e.path: e for e in ENTITIES.values()}


def _f(name: str, type_: str, nullable: bool = False, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "type": type_}
    if type_ == "decimal":
        out["precision"] = 18
    out.update(extra)
    out["nullable"] = nullable
    out["custom"] = False
    return out


def _address(name: str) -> dict[str, Any]:
    fields = [
        {"name": n, "type": "string", "nullable": False, "custom": False}
        for n in ("Street", "City", "PostalCode", "CountryCode")
    ]
    return _f(name, "object", fields=fields)


STANDARD_FIELDS: dict[str, list[dict[str, Any]]] = {
    "sales_orders": [
        _f("DocEntry", "integer"),
        _f("DocNum", "string"),
        _f("CustomerKey", "integer"),
        _f("DocDate", "date"),
        _f("DocDueDate", "date", nullable=True),
        _f("DocStatus", "string"),
        _f("DocCurrency", "string"),
        _f("SubTotal", "decimal", scale=2),
        _f("TaxTotal", "decimal", scale=2),
        _f("DocTotal", "decimal", scale=2),
        _f("Comments", "string", nullable=True),
        _address("ShipTo"),
        _f("Tags", "array", items={"type": "string", "nullable": False, "custom": False}),
        _f("CreatedOn", "datetime"),
        _f("ModifiedOn", "datetime"),
    ],
    "sales_order_lines": [
        _f("LineKey", "integer"),
        _f("DocEntry", "integer"),
        _f("LineNum", "integer"),
        _f("ItemKey", "integer"),
        _f("ItemCode", "string"),
        _f("ItemDescription", "string"),
        _f("Quantity", "decimal", scale=3),
        _f("UoMCode", "string"),
        _f("UnitPrice", "decimal", scale=4),
        _f("DiscountAmount", "decimal", scale=2),
        _f("LineTotal", "decimal", scale=2),
        _f("WhsCode", "string"),
        _f("ModifiedOn", "datetime"),
    ],
    "customers": [
        _f("CustomerKey", "integer"),
        _f("CardCode", "string"),
        _f("CardName", "string"),
        _f("EmailAddress", "string", nullable=True),
        _f("Phone1", "string", nullable=True),
        _address("BillTo"),
        _f("PaymentTermsCode", "string"),
        _f("CreditLimit", "decimal", scale=2),
        _f("Active", "boolean"),
        _f("CreatedOn", "datetime"),
        _f("ModifiedOn", "datetime"),
    ],
    "vendors": [
        _f("VendorKey", "integer"),
        _f("VendorCode", "string"),
        _f("VendorName", "string"),
        _f("EmailAddress", "string", nullable=True),
        _f("Phone1", "string", nullable=True),
        _f("CountryCode", "string"),
        _f("PaymentTermsCode", "string"),
        _f("Active", "boolean"),
        _f("CreatedOn", "datetime"),
        _f("ModifiedOn", "datetime"),
    ],
    "products": [
        _f("ItemKey", "integer"),
        _f("ItemCode", "string"),
        _f("ItemName", "string"),
        _f("ItemGroup", "string"),
        _f("InventoryUoM", "string"),
        _f("ListPrice", "decimal", scale=4),
        _f("StandardCost", "decimal", scale=4),
        _f("Active", "boolean"),
        _f("CreatedOn", "datetime"),
        _f("ModifiedOn", "datetime"),
    ],
    "inventory": [
        _f("ItemKey", "integer"),
        _f("ItemCode", "string"),
        _f("WhsCode", "string"),
        _f("OnHand", "decimal", scale=3),
        _f("Committed", "decimal", scale=3),
        _f("Available", "decimal", scale=3),
        _f("ModifiedOn", "datetime"),
    ],
}


def field_names(tenant: Tenant, stream: str) -> list[str]:
    """Wire field names of an entity for a tenant, in output order."""
    names = [f["name"] for f in STANDARD_FIELDS[stream]]
    names.extend(cf.name for cf in tenant.custom(stream))
    return names


def metadata(tenant: Tenant) -> dict[str, Any]:
    """The `$metadata` document of a tenant."""
    entities: dict[str, Any] = {}
    for stream, ent in ENTITIES.items():
        fields = [dict(f) for f in STANDARD_FIELDS[stream]]
        for cf in tenant.custom(stream):
            entry: dict[str, Any] = {"name": cf.name, "type": cf.type}
            if cf.type == "decimal":
                entry["precision"] = 18
                entry["scale"] = cf.scale
            entry.update({"nullable": True, "custom": True, "label": cf.label})
            fields.append(entry)
        entities[stream] = {
            "path": ent.path,
            "primary_key": list(ent.primary_key),
            "replication_key": ent.replication_key,
            "fields": fields,
        }
    return {"tenant": tenant.name, "entities": entities}
