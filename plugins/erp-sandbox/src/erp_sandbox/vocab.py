"""Small lookup tables the generator draws realistic values from."""

from __future__ import annotations

# (CountryCode, currency, VAT rate in per mille, phone prefix, postal code pattern, cities)
COUNTRIES: list[tuple[str, str, int, str, str, list[str]]] = [
    ("DE", "EUR", 190, "+49", "#####", ["Berlin", "Hamburg", "Munich", "Cologne", "Stuttgart"]),
    ("FR", "EUR", 200, "+33", "#####", ["Paris", "Lyon", "Marseille", "Toulouse", "Lille"]),
    ("NL", "EUR", 210, "+31", "#### AA", ["Amsterdam", "Rotterdam", "Utrecht", "Eindhoven"]),
    ("IT", "EUR", 220, "+39", "#####", ["Milan", "Turin", "Bologna", "Verona", "Rome"]),
    ("ES", "EUR", 210, "+34", "#####", ["Madrid", "Barcelona", "Valencia", "Bilbao"]),
    ("AT", "EUR", 200, "+43", "####", ["Vienna", "Graz", "Linz", "Salzburg"]),
    ("CH", "CHF", 81, "+41", "####", ["Zurich", "Basel", "Geneva", "Bern", "Lausanne"]),
    ("GB", "GBP", 200, "+44", "AA# #AA", ["London", "Manchester", "Leeds", "Bristol"]),
    ("SE", "SEK", 250, "+46", "### ##", ["Stockholm", "Gothenburg", "Malmo", "Uppsala"]),
    ("PL", "PLN", 230, "+48", "##-###", ["Warsaw", "Krakow", "Wroclaw", "Poznan", "Gdansk"]),
    ("US", "USD", 0, "+1", "#####", ["Chicago", "Houston", "Denver", "Atlanta", "Seattle"]),
    ("CA", "CAD", 50, "+1", "A#A #A#", ["Toronto", "Montreal", "Calgary", "Vancouver"]),
]

STREETS: list[str] = [
    "Main Street",
    "Industrial Road",
    "Harbour Way",
    "Station Road",
    "Mill Lane",
    "Church Street",
    "Park Avenue",
    "Market Square",
    "Bridge Street",
    "Commerce Drive",
    "Lindenweg",
    "Rue de la Gare",
    "Via Roma",
    "Calle Mayor",
    "Kungsgatan",
    "Ulica Dluga",
]

SURNAMES: list[str] = [
    "Lindqvist",
    "Moreau",
    "Bauer",
    "Rossi",
    "Garcia",
    "Novak",
    "Jansen",
    "Schneider",
    "Fischer",
    "Dubois",
    "Kowalski",
    "Bianchi",
    "Andersson",
    "Huber",
    "Meyer",
    "Walsh",
    "Brennan",
    "Okafor",
    "Tanaka",
    "Petrov",
    "Hughes",
    "Keller",
    "Vogel",
    "Marino",
    "Silva",
    "Nilsson",
    "Wagner",
    "Laurent",
    "Costa",
    "Berg",
]

COMPANY_WORDS: list[str] = [
    "Trading",
    "Industries",
    "Logistics",
    "Manufacturing",
    "Supply",
    "Engineering",
    "Components",
    "Systems",
    "Distribution",
    "Technik",
    "Tools",
    "Hydraulics",
]

COMPANY_SUFFIX: dict[str, str] = {
    "DE": "GmbH",
    "AT": "GmbH",
    "CH": "AG",
    "FR": "SARL",
    "NL": "B.V.",
    "IT": "S.r.l.",
    "ES": "S.L.",
    "GB": "Ltd",
    "SE": "AB",
    "PL": "Sp. z o.o.",
    "US": "Inc.",
    "CA": "Corp.",
}

FIRST_NAMES: list[str] = [
    "Anna",
    "Lukas",
    "Marie",
    "Jonas",
    "Sofia",
    "Mateo",
    "Emma",
    "Noah",
    "Olivia",
    "Liam",
    "Chloe",
    "Hugo",
    "Elena",
    "Pavel",
    "Ingrid",
    "Oliver",
]

PAYMENT_TERMS: list[str] = ["NET30", "NET30", "NET30", "NET15", "NET45", "NET60", "COD", "PREPAID"]

ORDER_STATUSES: list[str] = ["Open", "Released", "Shipped", "Invoiced", "Cancelled"]

ORDER_TAGS: list[str] = [
    "priority",
    "export",
    "dropship",
    "backorder",
    "b2b",
    "web",
    "edi",
    "rush",
    "sample",
]

ORDER_COMMENTS: list[str] = [
    "Deliver to loading dock B",
    "Call before delivery",
    "Partial shipment allowed",
    "Customer requested expedited shipping",
    "Invoice by email only",
    "Pallets must be shrink-wrapped",
    "Reference PO on all documents",
    "Hold until credit check clears",
    "Updated delivery address per customer",
    "Quantities confirmed by phone",
]

ITEM_GROUPS: list[tuple[str, list[str], list[str]]] = [
    (
        "Fasteners",
        ["Hex Bolt", "Lock Nut", "Washer", "Wood Screw", "Rivet", "Anchor"],
        ["EA", "BOX"],
    ),
    (
        "Electrical",
        ["Cable", "Relay", "Fuse", "Contactor", "Terminal Block", "Switch"],
        ["EA", "M"],
    ),
    ("Hydraulics", ["Hose", "Coupling", "Valve", "Pump Seal", "Cylinder", "Filter"], ["EA"]),
    ("Packaging", ["Carton", "Stretch Film", "Pallet", "Tape", "Label Roll"], ["EA", "PAL"]),
    ("Tools", ["Torque Wrench", "Drill Bit", "Saw Blade", "Socket Set", "Caliper"], ["EA"]),
    ("Safety", ["Glove", "Helmet", "Goggles", "Ear Plug", "Hi-Vis Vest"], ["EA", "BOX"]),
    (
        "Raw Materials",
        ["Steel Sheet", "Aluminium Bar", "Copper Wire", "Resin", "Granulate"],
        ["KG", "M"],
    ),
    ("Chemicals", ["Lubricant", "Degreaser", "Coolant", "Adhesive", "Paint"], ["L", "KG"]),
]

ITEM_ADJECTIVES: list[str] = [
    "Stainless",
    "Galvanized",
    "Heavy-Duty",
    "Compact",
    "Industrial",
    "Precision",
    "Coated",
    "Reinforced",
    "High-Temp",
    "Standard",
]

ITEM_SIZES: list[str] = ["M6", "M8", "M10", "M12", "10 mm", "25 mm", "50 mm", "1/2 in", "Type A"]

SEGMENTS: list[str] = ["Retail", "Wholesale", "OEM", "Distributor", "Public Sector"]
COLORS: list[str] = ["Black", "White", "Silver", "Red", "Blue", "Yellow", "Green", "Grey"]
MATERIALS: list[str] = ["Steel", "Aluminium", "Brass", "Polyamide", "PVC", "Copper", "Rubber"]
GRADES: list[str] = ["A", "A", "B", "B", "C", "Premium", "Economy"]
STORAGE_CLASSES: list[str] = ["2A", "3", "5.1", "8A", "10", "11", "12", "13"]
VOLTAGES: list[int] = [12, 24, 110, 230, 400]
WAREHOUSES: list[str] = ["WH01", "WH02", "WH03"]
