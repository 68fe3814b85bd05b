"""Standard model v1: the columns every landed table has at least."""

STANDARD_COLUMNS = {
    "sales_orders": [
        "order_id", "order_number", "customer_id", "order_date", "status", "currency_code",
        "subtotal_amount", "tax_amount", "total_amount", "created_at", "updated_at",
    ],
    "sales_order_lines": [
        "order_line_id", "order_id", "line_number", "product_id", "sku", "description",
        "quantity", "unit_of_measure", "unit_price", "discount_amount", "line_amount",
        "warehouse_id", "updated_at",
    ],
    "customers": [
        "customer_id", "customer_code", "customer_name", "email", "phone", "billing_city",
        "billing_country", "payment_terms", "credit_limit", "is_active", "created_at",
        "updated_at",
    ],
    "vendors": [
        "vendor_id", "vendor_code", "vendor_name", "email", "phone", "country",
        "payment_terms", "is_active", "created_at", "updated_at",
    ],
    "products": [
        "product_id", "sku", "product_name", "category", "unit_of_measure", "list_price",
        "standard_cost", "is_active", "created_at", "updated_at",
    ],
    "inventory": [
        "product_id", "sku", "warehouse_id", "quantity_on_hand", "quantity_reserved",
        "quantity_available", "updated_at",
    ],
}  # fmt: skip

LINEAGE_COLUMNS = ["_client_id", "_source_system", "_extracted_at", "_run_id"]

SPEC_COLUMNS = {
    "acme": {
        "products": ["spec_color", "spec_weight_kg", "spec_voltage"],
        "inventory": ["spec_bin_location", "spec_shelf_life_days"],
    },
    "globex": {
        "products": ["spec_material", "spec_length_mm", "spec_hazardous", "spec_certified_on"],
        "inventory": ["spec_storage_class"],
    },
}

# Native key of each stream in the sandbox, and its standard-model name.
KEYS = {
    "sales_orders": (["DocEntry"], ["order_id"]),
    "sales_order_lines": (["LineKey"], ["order_line_id"]),
    "customers": (["CustomerKey"], ["customer_id"]),
    "vendors": (["VendorKey"], ["vendor_id"]),
    "products": (["ItemKey"], ["product_id"]),
    "inventory": (["ItemKey", "WhsCode"], ["product_id", "warehouse_id"]),
}
