"""The ERP entities. Each class only names its entry in the profile."""

from __future__ import annotations

from tap_erp.client import ERPStream


class SalesOrdersStream(ERPStream):
    """Sales order headers."""

    name = "sales_orders"
    entity = "sales_orders"


class SalesOrderLinesStream(ERPStream):
    """Sales order lines (own bulk endpoint and own change timestamp)."""

    name = "sales_order_lines"
    entity = "sales_order_lines"


class CustomersStream(ERPStream):
    """Customers (business partners), with the tenant's custom fields."""

    name = "customers"
    entity = "customers"


class VendorsStream(ERPStream):
    """Vendors (suppliers)."""

    name = "vendors"
    entity = "vendors"


class ProductsStream(ERPStream):
    """Products (items), with the tenant's spec fields."""

    name = "products"
    entity = "products"


class InventoryStream(ERPStream):
    """On-hand stock per product and warehouse: a snapshot, full table."""

    name = "inventory"
    entity = "inventory"


STREAM_TYPES: tuple[type[ERPStream], ...] = (
    SalesOrdersStream,
    SalesOrderLinesStream,
    CustomersStream,
    VendorsStream,
    ProductsStream,
    InventoryStream,
)
