"""Create the deterministic demo data of the template database.

Run with the Python of the Tryton install (not the project's), as a script::

    python demo_data.py <trytond.conf> <database> <summary.json>

It uses only the standard library and trytond's own API (Pool and Transaction)
and writes a JSON summary (ids, REST key, counts) to <summary.json>.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

SEED = 20260201
CURRENCY = "USD"
COMPANY_NAME = "Northwind Supply Co."

CUSTOMER_NAMES = [
    "Acme Hardware",
    "Blue Ridge Builders",
    "Cedar Point Retail",
    "Delta Office Group",
    "Evergreen Facilities",
    "Falcon Logistics",
    "Granite State Contractors",
    "Harbor Marine Supply",
    "Ironwood Homes",
    "Juniper Schools District",
    "Keystone Property Mgmt",
    "Lakeside Hospital",
    "Maple Leaf Cafe",
    "Northstar Electric",
    "Oakridge University",
    "Pinecrest Hotels",
    "Quarry Road Garage",
    "Redwood Dental",
    "Summit Outdoor",
    "Tidewater Plumbing",
    "Union Street Bakery",
    "Valley Farm Coop",
    "Westfield Mall",
    "Yellowstone Rentals",
]
SUPPLIER_NAMES = [
    "Allied Fasteners Inc.",
    "Bright Lamps Ltd.",
    "Consolidated Paper",
    "Dynamo Tools GmbH",
    "Eastern Cable Works",
    "Fortune Plastics",
    "Global Steel Trading",
    "Hilltop Chemicals",
    "Imperial Packaging",
    "Jetstream Freight",
    "Kingsway Paints",
    "Lumen Optics",
    "Meridian Timber",
]
BOTH_NAMES = ["Omega Wholesale", "Pacific Traders", "Zenith Distribution"]
CITIES = [
    ("Springfield", "62701"),
    ("Riverton", "82501"),
    ("Fairview", "37062"),
    ("Georgetown", "78626"),
    ("Madison", "53703"),
    ("Clinton", "61727"),
]
PRODUCT_CATEGORIES = ["Fasteners", "Tools", "Electrical", "Office", "Paint"]
PRODUCTS = [
    ("FST-001", "Hex bolt M8x40 (box of 100)", "Fasteners"),
    ("FST-002", "Wood screw 4x50 (box of 200)", "Fasteners"),
    ("FST-003", "Wall anchor 8mm (box of 50)", "Fasteners"),
    ("FST-004", "Threaded rod M10 1m", "Fasteners"),
    ("FST-005", "Washer M8 (box of 500)", "Fasteners"),
    ("FST-006", "Rivet 4.8mm (box of 250)", "Fasteners"),
    ("TL-001", "Cordless drill 18V", "Tools"),
    ("TL-002", "Claw hammer 16oz", "Tools"),
    ("TL-003", "Tape measure 8m", "Tools"),
    ("TL-004", "Spirit level 600mm", "Tools"),
    ("TL-005", "Utility knife", "Tools"),
    ("TL-006", "Socket set 40 pcs", "Tools"),
    ("TL-007", "Angle grinder 125mm", "Tools"),
    ("EL-001", "LED bulb E27 9W", "Electrical"),
    ("EL-002", "Extension cord 10m", "Electrical"),
    ("EL-003", "Cable 3G1.5 (100m roll)", "Electrical"),
    ("EL-004", "Circuit breaker 16A", "Electrical"),
    ("EL-005", "Junction box IP65", "Electrical"),
    ("EL-006", "Work light 30W", "Electrical"),
    ("OF-001", "Copy paper A4 (ream)", "Office"),
    ("OF-002", "Ballpoint pens (box of 50)", "Office"),
    ("OF-003", "Stapler heavy duty", "Office"),
    ("OF-004", "Lever arch file", "Office"),
    ("OF-005", "Whiteboard 120x90", "Office"),
    ("OF-006", "Desk organizer", "Office"),
    ("PT-001", "Interior paint white 10L", "Paint"),
    ("PT-002", "Primer 5L", "Paint"),
    ("PT-003", "Paint roller 230mm", "Paint"),
    ("PT-004", "Masking tape 48mm", "Paint"),
    ("PT-005", "Brush set 5 pcs", "Paint"),
]
SALES = 25
DRAFT_SALES = 4
QUOTATION_SALES = 8
FOUR_PLACES = Decimal("0.0001")


def money(rng: random.Random, low: int, high: int) -> Decimal:
    """A price between low and high with four decimal places."""
    cents = rng.randint(low * 10000, high * 10000)
    return (Decimal(cents) / 10000).quantize(FOUR_PLACES)


def main(conf: str, database: str, summary_path: str) -> None:
    """Create the demo data in database and write the summary."""
    from trytond import config

    config.update_etc(conf)
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    from trytond.worker import run_task

    pool = Pool(database)
    pool.init()
    summary: dict[str, Any] = {}
    with Transaction().start(database, 0) as transaction:
        summary.update(create_company())
        transaction.commit()
    context = {"company": summary["company_id"], "employee": summary["employee_id"]}
    with Transaction().start(database, 0, context=context) as transaction:
        summary.update(create_data(summary))
        transaction.commit()
        tasks = list(transaction.tasks)
    for task_id in tasks:
        run_task(pool, task_id)
    with Transaction().start(database, 0, context=context) as transaction:
        summary["counts"] = count_data(summary)
    Path(summary_path).write_text(json.dumps(summary, indent=2, sort_keys=True))


def create_company() -> dict[str, Any]:
    """The currency, the company, its employee, and the admin user set up for it."""
    from trytond.pool import Pool

    pool = Pool()
    currency_model = pool.get("currency.currency")
    party_model = pool.get("party.party")
    company_model = pool.get("company.company")
    employee_model = pool.get("company.employee")
    user_model = pool.get("res.user")
    application_model = pool.get("res.user.application")

    (currency,) = currency_model.create(
        [
            {
                "name": "U.S. Dollar",
                "code": CURRENCY,
                "symbol": "$",
                "rounding": Decimal("0.01"),
                "digits": 2,
            }
        ]
    )
    company_party, staff_party = party_model.create(
        [
            {
                "name": COMPANY_NAME,
                "addresses": [("create", [{"street": "1 Harbor Way", "city": "Springfield"}])],
            },
            {"name": "Dana Whitfield", "addresses": [("create", [{"city": "Springfield"}])]},
        ]
    )
    (company,) = company_model.create(
        [{"party": company_party.id, "currency": currency.id, "timezone": "UTC"}]
    )
    (employee,) = employee_model.create([{"party": staff_party.id, "company": company.id}])
    (admin,) = user_model.search([("login", "=", "admin")])
    user_model.write(
        [admin],
        {
            "companies": [("add", [company.id])],
            "company": company.id,
            "employees": [("add", [employee.id])],
            "employee": employee.id,
        },
    )
    (application,) = application_model.create(
        [{"user": admin.id, "application": "rest", "state": "validated"}]
    )
    return {
        "company_id": company.id,
        "company_party_id": company_party.id,
        "currency_id": currency.id,
        "employee_id": employee.id,
        "admin_user_id": admin.id,
        "api_key": application.key,
    }


def create_data(summary: dict[str, Any]) -> dict[str, Any]:
    """Parties, products, warehouses, stock and sales."""
    from trytond.pool import Pool

    rng = random.Random(SEED)
    pool = Pool()
    parties = create_parties(pool)
    products = create_products(pool, rng)
    warehouses = create_warehouses(pool)
    receive_stock(pool, rng, products, warehouses, summary)
    sales = create_sales(pool, rng, parties["customers"], products, warehouses)
    return {
        "customer_ids": parties["customers"],
        "supplier_ids": parties["suppliers"],
        "customer_category_id": parties["customer_category"],
        "supplier_category_id": parties["supplier_category"],
        "product_ids": [p for p, _ in products],
        "warehouse_ids": [w["warehouse"] for w in warehouses],
        "storage_location_ids": [w["storage"] for w in warehouses],
        "sale_ids": sales,
    }


def create_parties(pool: Any) -> dict[str, Any]:
    """Customers, suppliers and a few parties that are both, tagged by category."""
    category_model = pool.get("party.category")
    party_model = pool.get("party.party")
    customer, supplier = category_model.create([{"name": "Customer"}, {"name": "Supplier"}])
    names = (
        [(n, [customer.id]) for n in CUSTOMER_NAMES]
        + [(n, [supplier.id]) for n in SUPPLIER_NAMES]
        + [(n, [customer.id, supplier.id]) for n in BOTH_NAMES]
    )
    values = []
    for i, (name, categories) in enumerate(names):
        city, postal_code = CITIES[i % len(CITIES)]
        values.append(
            {
                "name": name,
                "code": f"P{i + 1:04d}",
                "categories": [("add", categories)],
                "addresses": [
                    (
                        "create",
                        [
                            {
                                "street": f"{100 + i * 7} Main Street",
                                "city": city,
                                "postal_code": postal_code,
                            }
                        ],
                    )
                ],
                "contact_mechanisms": [
                    (
                        "create",
                        [{"type": "email", "value": f"orders{i + 1}@example.com"}],
                    )
                ],
            }
        )
    created = party_model.create(values)
    customers = [p.id for p in created if customer in p.categories]
    suppliers = [p.id for p in created if supplier in p.categories]
    return {
        "customers": customers,
        "suppliers": suppliers,
        "customer_category": customer.id,
        "supplier_category": supplier.id,
    }


def create_products(pool: Any, rng: random.Random) -> list[tuple[int, int]]:
    """Product templates and their variants; returns (product id, uom id) pairs."""
    model_data = pool.get("ir.model.data")
    category_model = pool.get("product.category")
    template_model = pool.get("product.template")
    unit = model_data.get_id("product", "uom_unit")
    categories = {
        c.name: c.id for c in category_model.create([{"name": n} for n in PRODUCT_CATEGORIES])
    }
    values = []
    for code, name, category in PRODUCTS:
        cost = money(rng, 2, 180)
        margin = Decimal(rng.choice(["1.25", "1.35", "1.5", "1.8"]))
        values.append(
            {
                "name": name,
                "code": code,
                "type": "goods",
                "default_uom": unit,
                "sale_uom": unit,
                "purchase_uom": unit,
                "salable": True,
                "purchasable": True,
                "list_price": (cost * margin).quantize(FOUR_PLACES),
                "categories": [("add", [categories[category]])],
                "products": [("create", [{"cost_price": cost}])],
            }
        )
    templates = template_model.create(values)
    return [(t.products[0].id, unit) for t in templates]


def create_warehouses(pool: Any) -> list[dict[str, int]]:
    """The default warehouse WH and a second warehouse WH2 with its own zones."""
    model_data = pool.get("ir.model.data")
    location_model = pool.get("stock.location")
    wh1 = location_model(model_data.get_id("stock", "location_warehouse"))
    wh1.name = "Main Warehouse"
    wh1.save()
    zones = location_model.create(
        [
            {"name": "East Input", "code": "IN2", "type": "storage"},
            {"name": "East Output", "code": "OUT2", "type": "storage"},
            {"name": "East Storage", "code": "STO2", "type": "storage"},
        ]
    )
    (wh2,) = location_model.create(
        [
            {
                "name": "East Warehouse",
                "code": "WH2",
                "type": "warehouse",
                "input_location": zones[0].id,
                "output_location": zones[1].id,
                "storage_location": zones[2].id,
                "lost_found_location": wh1.lost_found_location.id,
            }
        ]
    )
    return [
        {"warehouse": w.id, "storage": w.storage_location.id, "input": w.input_location.id}
        for w in (wh1, wh2)
    ]


def receive_stock(
    pool: Any,
    rng: random.Random,
    products: list[tuple[int, int]],
    warehouses: list[dict[str, int]],
    summary: dict[str, Any],
) -> None:
    """Done moves from the supplier location into each warehouse's storage."""
    model_data = pool.get("ir.model.data")
    move_model = pool.get("stock.move")
    product_model = pool.get("product.product")
    supplier_location = model_data.get_id("stock", "location_supplier")
    values = []
    for index, (product_id, unit) in enumerate(products):
        product = product_model(product_id)
        for w_index, warehouse in enumerate(warehouses):
            # Every fifth product is kept in the main warehouse only.
            if w_index == 1 and index % 5 == 4:
                continue
            quantity = rng.randint(5, 400)
            values.append(
                {
                    "product": product_id,
                    "unit": unit,
                    "quantity": float(quantity),
                    "from_location": supplier_location,
                    "to_location": warehouse["storage"],
                    "planned_date": dt.date(2025, 1, 2),
                    "effective_date": dt.date(2025, 1, 2),
                    "unit_price": product.cost_price,
                    "currency": summary["currency_id"],
                    "company": summary["company_id"],
                }
            )
    moves = move_model.create(values)
    move_model.do(moves)


def create_sales(
    pool: Any,
    rng: random.Random,
    customers: list[int],
    products: list[tuple[int, int]],
    warehouses: list[dict[str, int]],
) -> list[int]:
    """Sales with 1-4 lines: drafts, quotations, and confirmed ones being processed."""
    party_model = pool.get("party.party")
    product_model = pool.get("product.product")
    sale_model = pool.get("sale.sale")
    sales = []
    for index in range(SALES):
        party = party_model(customers[index % len(customers)])
        warehouse = warehouses[index % len(warehouses)]["warehouse"]
        lines = []
        for sequence, (product_id, unit) in enumerate(
            rng.sample(products, rng.randint(1, 4)), start=1
        ):
            product = product_model(product_id)
            discount = Decimal(rng.choice(["1", "1", "0.95", "0.9"]))
            lines.append(
                {
                    "sequence": sequence,
                    "type": "line",
                    "product": product_id,
                    "unit": unit,
                    "quantity": float(rng.randint(1, 12)),
                    "unit_price": (product.list_price_used * discount).quantize(FOUR_PLACES),
                }
            )
        sales.append(
            {
                "party": party.id,
                "invoice_address": party.addresses[0].id,
                "shipment_address": party.addresses[0].id,
                "warehouse": warehouse,
                "invoice_method": "manual",
                "shipment_method": "order",
                "reference": f"PO-{4100 + index * 3}",
                "description": f"Order {index + 1} for {party.name}",
                "sale_date": dt.date(2025, 1, 6) + dt.timedelta(days=index * 9),
                "lines": [("create", lines)],
            }
        )
    created = sale_model.create(sales)
    to_quote = created[DRAFT_SALES:]
    sale_model.quote(to_quote)
    sale_model.confirm(to_quote[QUOTATION_SALES:])
    return [s.id for s in created]


def count_data(summary: dict[str, Any]) -> dict[str, int]:
    """Row counts of what was created, read back through the ORM."""
    from trytond.pool import Pool

    pool = Pool()
    return {
        "sales": pool.get("sale.sale").search([], count=True),
        "sale_lines": pool.get("sale.line").search([], count=True),
        "customers": len(summary["customer_ids"]),
        "vendors": len(summary["supplier_ids"]),
        "products": pool.get("product.product").search([], count=True),
    }


if __name__ == "__main__":
    main(*sys.argv[1:4])
