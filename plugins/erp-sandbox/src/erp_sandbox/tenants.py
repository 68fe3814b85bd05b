"""Tenant configuration as data: auth, paging style, time zone, custom fields."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: Paging styles a tenant can serve.
OFFSET = "offset"
CURSOR = "cursor"
PAGE = "page"
#: Tenants in OData v4 mode page the OData way (server-driven, `$skiptoken`).
ODATA = "odata"


@dataclass(frozen=True)
class CustomField:
    """A tenant-specific `U_` field on one entity."""

    name: str
    type: str  # string | integer | decimal | boolean | date
    label: str
    scale: int | None = None
    # Which value source the generator uses (see generator.custom_values).
    source: str = ""


@dataclass(frozen=True)
class Tenant:
    """One client company's ERP as the sandbox serves it."""

    name: str
    paging: str
    utc_offset_minutes: int
    api_keys: tuple[str, ...] = ()
    bearer_tokens: tuple[str, ...] = ()
    basic: tuple[tuple[str, str], ...] = ()
    oauth_clients: tuple[tuple[str, str], ...] = ()
    custom_fields: dict[str, tuple[CustomField, ...]] = field(default_factory=dict)
    #: OData v4 wire dialect (see `erp_sandbox.dialects`); None: the sandbox's REST API.
    dialect: str | None = None
    #: Timestamp granularity per stream in microseconds (1 when absent).
    time_quantum_us: dict[str, int] = field(default_factory=dict)
    #: Editing a sales order line also re-stamps its order's ModifiedOn.
    line_edits_touch_order: bool = False
    #: IANA zone of naive local timestamps (ERPNext sites); None: UTC offsets only.
    timezone: str | None = None
    #: Credentials of the RPC-style dialects: (login or API key, password or secret).
    logins: tuple[tuple[str, str], ...] = ()

    def quantum(self, stream: str) -> int:
        """Timestamp granularity of a stream in microseconds."""
        return self.time_quantum_us.get(stream, 1)

    @property
    def offset_suffix(self) -> str:
        """The `+HH:MM` suffix of this tenant's timestamps."""
        m = self.utc_offset_minutes
        sign = "+" if m >= 0 else "-"
        m = abs(m)
        return f"{sign}{m // 60:02d}:{m % 60:02d}"

    @property
    def auth_kinds(self) -> list[str]:
        """Names of the authentication kinds this tenant accepts."""
        kinds = []
        if self.api_keys:
            kinds.append("api_key")
        if self.bearer_tokens:
            kinds.append("bearer")
        if self.basic:
            kinds.append("basic")
        if self.oauth_clients:
            kinds.append("oauth2_client_credentials")
        return kinds

    def custom(self, entity: str) -> tuple[CustomField, ...]:
        """Custom fields of an entity (stream name)."""
        return self.custom_fields.get(entity, ())


TENANTS: dict[str, Tenant] = {
    "acme": Tenant(
        name="acme",
        paging=OFFSET,
        utc_offset_minutes=120,
        api_keys=("acme-key-123",),
        bearer_tokens=("acme-pat-123",),
        custom_fields={
            "customers": (
                CustomField("U_Segment", "string", "Segment", source="segment"),
                CustomField("U_LoyaltyTier", "integer", "Loyalty tier", source="tier"),
            ),
            "products": (
                CustomField("U_Color", "string", "Color", source="color"),
                CustomField("U_WeightKg", "decimal", "Weight (kg)", scale=3, source="weight"),
                CustomField("U_Voltage", "integer", "Voltage", source="voltage"),
            ),
            "inventory": (
                CustomField("U_BinLocation", "string", "Bin location", source="bin"),
                CustomField("U_ShelfLifeDays", "integer", "Shelf life (days)", source="shelf"),
            ),
        },
    ),
    "globex": Tenant(
        name="globex",
        paging=CURSOR,
        utc_offset_minutes=-300,
        oauth_clients=(("globex-client", "globex-secret"),),
        custom_fields={
            "customers": (
                CustomField("U_AccountManager", "string", "Account manager", source="manager"),
            ),
            "products": (
                CustomField("U_Material", "string", "Material", source="material"),
                CustomField("U_LengthMm", "decimal", "Length (mm)", scale=1, source="length"),
                CustomField("U_Hazardous", "boolean", "Hazardous", source="hazardous"),
                CustomField("U_CertifiedOn", "date", "Certified on", source="certified"),
            ),
            "inventory": (
                CustomField("U_StorageClass", "string", "Storage class", source="storage"),
            ),
        },
    ),
    "initech": Tenant(
        name="initech",
        paging=PAGE,
        utc_offset_minutes=0,
        basic=(("initech", "initech-pass"),),
        custom_fields={
            "products": (CustomField("U_Grade", "string", "Grade", source="grade"),),
        },
    ),
    "contoso": Tenant(
        name="contoso",
        paging=ODATA,
        utc_offset_minutes=0,
        oauth_clients=(("contoso-client", "contoso-secret"),),
        dialect="business_central",
        # Business Central stores datetimes with millisecond precision.
        time_quantum_us=dict.fromkeys(("sales_orders", "customers", "vendors", "products"), 1000),
        line_edits_touch_order=True,
        custom_fields={
            "customers": (
                CustomField("contosoSegment", "string", "Segment", source="segment"),
                CustomField("contosoLoyaltyTier", "integer", "Loyalty tier", source="tier"),
            ),
            "products": (
                CustomField("contosoColor", "string", "Color", source="color"),
                CustomField("contosoWeightKg", "decimal", "Weight (kg)", scale=3, source="weight"),
            ),
        },
    ),
    "bestrun": Tenant(
        name="bestrun",
        paging=ODATA,
        utc_offset_minutes=0,
        basic=(("BESTRUN_COMM", "bestrun-pass"),),
        dialect="s4hana",
        # Business partners carry a change timestamp with whole seconds only.
        time_quantum_us={"customers": 1_000_000, "vendors": 1_000_000},
        custom_fields={
            "customers": (
                CustomField(
                    "YY1_AccountManager_bus", "string", "Account manager", source="manager"
                ),
            ),
            "products": (
                CustomField("YY1_Color_PRD", "string", "Color", source="color"),
                CustomField("YY1_WeightKg_PRD", "decimal", "Weight (kg)", scale=3, source="weight"),
                CustomField("YY1_Hazardous_PRD", "boolean", "Hazardous", source="hazardous"),
            ),
        },
    ),
    "kestrel": Tenant(
        name="kestrel",
        paging=OFFSET,
        utc_offset_minutes=60,
        dialect="erpnext",
        # A site in Europe/Berlin: naive timestamps in local time, summer time included.
        timezone="Europe/Berlin",
        logins=(("kestrel-api-key", "kestrel-api-secret"),),
        # Saving a sales order (a line edited) saves its items with the order's time.
        line_edits_touch_order=True,
        custom_fields={
            "customers": (CustomField("custom_segment", "string", "Segment", source="segment"),),
            "products": (
                CustomField("custom_color", "string", "Color", source="color"),
                CustomField("custom_weight_kg", "decimal", "Weight (kg)", scale=3, source="weight"),
            ),
        },
    ),
    "pelican": Tenant(
        name="pelican",
        paging=OFFSET,
        utc_offset_minutes=0,
        dialect="odoo",
        logins=(("api-reader@pelican.example", "pelican-api-key"),),
        # Odoo's ORM reads datetimes to the second.
        time_quantum_us=dict.fromkeys(
            ("sales_orders", "sales_order_lines", "customers", "vendors", "products"), 1_000_000
        ),
        custom_fields={
            "customers": (
                CustomField("x_account_manager", "string", "Account manager", source="manager"),
            ),
            "products": (
                CustomField("x_color", "string", "Color", source="color"),
                CustomField("x_weight_kg", "decimal", "Weight (kg)", scale=3, source="weight"),
                CustomField("x_hazardous", "boolean", "Hazardous", source="hazardous"),
            ),
        },
    ),
    "bluepeak": Tenant(
        name="bluepeak",
        paging=ODATA,
        utc_offset_minutes=0,
        basic=(("BLUEPEAK_COMM", "bluepeak-pass"),),
        dialect="s4hana_v2",
        # OData v2 JSON carries milliseconds (/Date(ms+0000)/).
        time_quantum_us={"sales_orders": 1000, "products": 1000},
        custom_fields={
            "customers": (
                CustomField(
                    "YY1_AccountManager_cus", "string", "Account manager", source="manager"
                ),
            ),
            "products": (
                CustomField("YY1_Color_PRD", "string", "Color", source="color"),
                CustomField("YY1_WeightKg_PRD", "decimal", "Weight (kg)", scale=3, source="weight"),
            ),
        },
    ),
    "heron": Tenant(
        name="heron",
        paging=OFFSET,
        utc_offset_minutes=-480,
        dialect="netsuite",
        # The account's time zone (user preferences): Pacific time, summer time included.
        timezone="America/Los_Angeles",
        # NetSuite keeps change times to the second; saving an order saves its lines.
        time_quantum_us=dict.fromkeys(
            ("sales_orders", "sales_order_lines", "customers", "vendors", "products"), 1_000_000
        ),
        line_edits_touch_order=True,
        custom_fields={
            "customers": (
                CustomField("custentity_segment", "string", "Segment", source="segment"),
            ),
            "products": (
                CustomField("custitem_color", "string", "Color", source="color"),
                CustomField(
                    "custitem_weight_kg", "decimal", "Weight (kg)", scale=3, source="weight"
                ),
                CustomField("custitem_hazardous", "boolean", "Hazardous", source="hazardous"),
            ),
        },
    ),
}


#: Numbered tenants (`--tenants 20`: tenant001 … tenant020): acme's REST API and
#: paging without custom fields, API key `<name>-key`, each with data of its own.
NUMBERED = re.compile(r"^tenant(\d{3})$")
MAX_NUMBERED = 999


def numbered_tenant(name: str) -> Tenant:
    """One of the numbered tenants, e.g. tenant007 (API key tenant007-key)."""
    return Tenant(name=name, paging=OFFSET, utc_offset_minutes=0, api_keys=(f"{name}-key",))


def tenant_names(spec: str) -> list[str]:
    """`--tenants`: comma-separated names, or a count of numbered tenants."""
    spec = spec.strip()
    if spec.isdigit():
        count = int(spec)
        if not 1 <= count <= MAX_NUMBERED:
            raise ValueError(f"--tenants: a count must be 1 to {MAX_NUMBERED}, got {count}")
        return [f"tenant{i:03d}" for i in range(1, count + 1)]
    return [t.strip() for t in spec.split(",") if t.strip()]


def resolve_tenants(names: list[str]) -> list[Tenant]:
    """Look up tenants by name; raises ValueError for an unknown one."""
    out = []
    for name in names:
        if name in TENANTS:
            out.append(TENANTS[name])
        elif NUMBERED.match(name) and name != "tenant000":
            out.append(numbered_tenant(name))
        else:
            raise ValueError(
                f"unknown tenant {name!r}; known: {', '.join(TENANTS)}, tenant001…tenant999"
            )
    return out
