"""The business_central, sap_s4hana and sap_s4hana_v2 profiles through the tap's command
line against the sandbox's OData tenants (contoso: Business Central API v2.0, bestrun:
S/4HANA OData v4, bluepeak: S/4HANA OData v2):
discovery with the custom fields of `$metadata`, a full sync equal to the ERP's rows,
then exactly the changes, ties and rows changing while paging, faults, a bad request.

Every scenario runs on every tenant. The ERP's rows are read from the sandbox's admin
endpoint, entity set by entity set, with decimals as exact numbers on both sides.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from singer_sdk.exceptions import ConfigValidationError
from tap_erp.deletes import DELETED_PROPERTY
from tap_erp.paging import normalize_timestamp
from tap_erp.profiles import PROFILES_DIR, load_profile
from tap_erp.tap import build_runtime

testing = pytest.importorskip("erp_sandbox.testing")

STREAMS = ["customers", "inventory", "products", "sales_order_lines", "sales_orders", "vendors"]

Row = dict
Rows = dict[tuple, Row]


@dataclasses.dataclass(frozen=True)
class Tenant:
    """How a tenant's ERP serves each stream, and what the tap must make of it."""

    profile: str
    #: stream -> entity set whose rows it is, and a filter of those rows (a role)
    sets: dict[str, tuple[str, Callable[[Row], bool]]]
    keys: dict[str, tuple[str, ...]]
    #: incremental streams -> replication key (the others are snapshots)
    replication: dict[str, str]
    #: stream -> custom fields discovery adds, with their schemas
    custom: dict[str, dict[str, dict]]
    #: (answer of `advance`, the ERP's rows now) -> keys each incremental stream emits
    changed: Callable[[dict, Callable[[str], Rows]], dict[str, set]]
    #: faults of this tenant beyond the shared ones
    faults: dict
    #: fields lines take from their order (`documentId`), when read through their orders
    lines_inherit: dict[str, str] = dataclasses.field(default_factory=dict)
    #: the ERP's row as plain JSON values (OData v2: `/Date()/` values)
    plain: Callable[[Row], Row] = lambda row: row
    #: snapshots too are read while rows change (once per paging mechanism is enough)
    sweep_snapshots: bool = True


SAP_STOCK_KEY = (
    "Material",
    "Plant",
    "StorageLocation",
    "Batch",
    "Supplier",
    "Customer",
    "WBSElementInternalID",
    "SDDocument",
    "SDDocumentItem",
    "InventorySpecialStockType",
    "InventoryStockType",
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def everything(_row: Row) -> bool:
    return True


def text(nullable: bool = True) -> dict:
    return {"type": ["string", "null"] if nullable else ["string"]}


def _contoso_changes(answer: dict, now: Callable[[str], Rows]) -> dict[str, set]:
    """Changed orders bring every line along (an edited line stamps its order)."""
    sets = answer["changed_sets"]
    orders = set(sets["salesOrders"])
    lines = {k for k, row in now("sales_order_lines").items() if row["documentId"] in orders}
    return {
        "sales_orders": {(k,) for k in orders},
        "sales_order_lines": lines,
        "customers": {(k,) for k in sets["customers"]},
        "vendors": {(k,) for k in sets["vendors"]},
        "products": {(k,) for k in sets["items"]},
    }


def _bestrun_changes(answer: dict, now: Callable[[str], Rows]) -> dict[str, set]:
    """Business partners split by role; sales order items are a snapshot."""
    sets = answer["changed_sets"]
    partners = {(k,) for k in sets["A_BusinessPartner"]}
    return {
        "sales_orders": {(k,) for k in sets["SalesOrder"]},
        "customers": partners & set(now("customers")),
        "vendors": partners & set(now("vendors")),
        "products": {(k,) for k in sets["Product"]},
    }


def _bluepeak_changes(answer: dict, _now: Callable[[str], Rows]) -> dict[str, set]:
    """Only sales orders and products carry a change time in OData v2."""
    sets = answer["changed_sets"]
    return {
        "sales_orders": {(k,) for k in sets["A_SalesOrder"]},
        "products": {(k,) for k in sets["A_Product"]},
    }


V2_DATE = re.compile(r"/Date\((-?\d+)(\+0000)?\)/")


def v2_plain(row: Row) -> Row:
    """OData v2 JSON values as ISO text: `/Date(ms+0000)/` (Edm.DateTimeOffset) a UTC
    timestamp with microseconds, `/Date(ms)/` (Edm.DateTime, here always a date) a date."""
    out = dict(row)
    for name, value in row.items():
        match = V2_DATE.fullmatch(value) if isinstance(value, str) else None
        if match is not None:
            instant = EPOCH + timedelta(milliseconds=int(match.group(1)))
            shape = "%Y-%m-%dT%H:%M:%S.%fZ" if match.group(2) else "%Y-%m-%d"
            out[name] = instant.strftime(shape)
    return out


TENANTS = {
    "contoso": Tenant(
        profile="business_central",
        sets={
            "sales_orders": ("salesOrders", everything),
            "sales_order_lines": ("salesOrderLines", everything),
            "customers": ("customers", everything),
            "vendors": ("vendors", everything),
            "products": ("items", everything),
            "inventory": ("inventoryByLocation", everything),
        },
        keys=dict.fromkeys(STREAMS, ("id",)),
        replication={
            "sales_orders": "lastModifiedDateTime",
            "sales_order_lines": "orderLastModifiedDateTime",
            "customers": "lastModifiedDateTime",
            "vendors": "lastModifiedDateTime",
            "products": "lastModifiedDateTime",
        },
        custom={
            "customers": {
                "contosoSegment": text(),
                "contosoLoyaltyTier": {"type": ["integer", "null"]},
            },
            "products": {
                "contosoColor": text(),
                "contosoWeightKg": {"type": ["number", "null"], "multipleOf": 0.001},
            },
        },
        changed=_contoso_changes,
        faults={"token_ttl_seconds": 1},
        lines_inherit={"orderLastModifiedDateTime": "lastModifiedDateTime"},
    ),
    "bestrun": Tenant(
        profile="sap_s4hana",
        sets={
            "sales_orders": ("SalesOrder", everything),
            "sales_order_lines": ("SalesOrderItem", everything),
            "customers": ("A_BusinessPartner", lambda row: row["Customer"] != ""),
            "vendors": ("A_BusinessPartner", lambda row: row["Supplier"] != ""),
            "products": ("Product", everything),
            "inventory": ("A_MatlStkInAcctMod", everything),
        },
        keys={
            "sales_orders": ("SalesOrder",),
            "sales_order_lines": ("SalesOrder", "SalesOrderItem"),
            "customers": ("BusinessPartner",),
            "vendors": ("BusinessPartner",),
            "products": ("Product",),
            "inventory": SAP_STOCK_KEY,
        },
        replication={
            "sales_orders": "LastChangeDateTime",
            "customers": "LastChangeDateTime",
            "vendors": "LastChangeDateTime",
            "products": "LastChangeDateTime",
        },
        custom={
            "customers": {"YY1_AccountManager_bus": text()},
            "vendors": {"YY1_AccountManager_bus": text()},
            "products": {
                "YY1_Color_PRD": text(),
                "YY1_WeightKg_PRD": {"type": ["number", "null"], "multipleOf": 0.001},
                "YY1_Hazardous_PRD": {"type": ["boolean", "null"]},
            },
        },
        changed=_bestrun_changes,
        faults={},
    ),
    "bluepeak": Tenant(
        profile="sap_s4hana_v2",
        sets={
            "sales_orders": ("A_SalesOrder", everything),
            "sales_order_lines": ("A_SalesOrderItem", everything),
            "customers": ("A_Customer", everything),
            "vendors": ("A_Supplier", everything),
            "products": ("A_Product", everything),
            "inventory": ("A_MatlStkInAcctMod", everything),
        },
        keys={
            "sales_orders": ("SalesOrder",),
            "sales_order_lines": ("SalesOrder", "SalesOrderItem"),
            "customers": ("Customer",),
            "vendors": ("Supplier",),
            "products": ("Product",),
            "inventory": SAP_STOCK_KEY,
        },
        replication={"sales_orders": "LastChangeDateTime", "products": "LastChangeDateTime"},
        custom={
            # sap:label of $metadata: the description
            "customers": {"YY1_AccountManager_cus": {**text(), "description": "Account manager"}},
            "products": {
                "YY1_Color_PRD": {**text(), "description": "Color"},
                "YY1_WeightKg_PRD": {
                    "type": ["number", "null"],
                    "multipleOf": 0.001,
                    "description": "Weight (kg)",
                },
            },
        },
        changed=_bluepeak_changes,
        faults={},
        plain=v2_plain,
        sweep_snapshots=False,  # bestrun sweeps the same keyset paging of snapshots
    ),
}
NAMES = sorted(TENANTS)


@pytest.fixture(scope="module")
def sb():
    with testing.sandbox_server(orders=400, seed=11, tenants=NAMES) as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(request):
    if "sb" in request.fixturenames:
        request.getfixturevalue("sb").reset()


# The tap's command line


def config_for(sb, name: str, **extra) -> dict:
    """Settings of the tap for a tenant of the sandbox."""
    creds = testing.CREDENTIALS[name]
    if name == "contoso":
        company = sb.company_url(name).rsplit("(", 1)[1].rstrip(")")
        own = {
            "client_id": creds["client_id"],
            "client_secret": creds["client_secret"],
            "token_url": creds["token_path"],  # relative to base_url in the sandbox
            "company_id": company,
            "inventory_api": "contoso/erp/v1.0",
        }
    else:
        own = {"username": creds["username"], "password": creds["password"]}
    return {
        "profile": TENANTS[name].profile,
        "base_url": sb.tenant_url(name),
        **own,
        "backoff_base_seconds": 0.01,
        "backoff_max_seconds": 0.05,
        **extra,
    }


@dataclasses.dataclass
class Output:
    """What one run of the tap wrote: records by stream (exact decimals), states, log."""

    returncode: int
    records: dict[str, list[Row]]
    states: list[dict]
    catalog: dict | None
    stderr: str

    @property
    def state(self) -> dict:
        return self.states[-1]


def run_tap(tmp_path: Path, config: dict, *args: str, state=None, check=True) -> Output:
    """`tap-erp --config ...` in a subprocess, as an orchestrator runs it."""
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(config))
    exe = Path(sys.executable).with_name("tap-erp")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "tap_erp"]
    cmd += ["--config", str(cfg), *args]
    if state is not None:
        (tmp_path / "state.json").write_text(json.dumps(state))
        cmd += ["--state", str(tmp_path / "state.json")]
    proc = subprocess.run(cmd, capture_output=True, timeout=300, check=False)
    stderr = proc.stderr.decode()
    assert "Traceback" not in stderr, stderr[-3000:]
    if check:
        assert proc.returncode == 0, stderr[-3000:]
    records: dict[str, list[Row]] = {}
    states: list[dict] = []
    catalog = None
    if "--discover" in args:
        catalog = json.loads(proc.stdout)
    else:
        for line in proc.stdout.splitlines():
            message = json.loads(line, parse_float=Decimal)
            if message["type"] == "RECORD":
                records.setdefault(message["stream"], []).append(message["record"])
            elif message["type"] == "STATE":
                states.append(message["value"])
    return Output(proc.returncode, records, states, catalog, stderr)


def catalog_selecting(tmp_path: Path, config: dict, streams: set[str]) -> str:
    """Discover, select only `streams`; the catalog file's path."""
    catalog = run_tap(tmp_path, config, "--discover").catalog
    assert catalog is not None
    for entry in catalog["streams"]:
        for md in entry["metadata"]:
            if md["breadcrumb"] == []:
                md["metadata"]["selected"] = entry["tap_stream_id"] in streams
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog))
    return str(path)


# The ERP's rows


def admin_rows(sb, name: str, entity_set: str) -> list[Row]:
    """Every row of an entity set as the sandbox serves it, decimals exact."""
    resp = requests.get(f"{sb.url}/_admin/{name}/records/{entity_set}", timeout=300)
    resp.raise_for_status()
    return [json.loads(line, parse_float=Decimal) for line in resp.text.splitlines() if line]


def erp_rows(sb, name: str, stream: str) -> Rows:
    """The rows the tap must emit for a stream, by key: the entity set's rows of the
    stream (its role), lines with their order's change time, the profile's constants."""
    tenant = TENANTS[name]
    entity_set, keep = tenant.sets[stream]
    rows = [tenant.plain(row) for row in admin_rows(sb, name, entity_set) if keep(row)]
    if stream == "sales_order_lines" and tenant.lines_inherit:
        orders = {o["id"]: o for o in admin_rows(sb, name, tenant.sets["sales_orders"][0])}
        for row in rows:
            order = orders[row["documentId"]]
            row.update({field: order[source] for field, source in tenant.lines_inherit.items()})
    constants = dict(load_profile(tenant.profile).streams[stream].constants)
    return by_key(name, stream, [{**row, **constants} for row in rows])


def by_key(name: str, stream: str, rows: list[Row]) -> Rows:
    """Rows by key, the last one of each key winning, replication keys canonical."""
    keys = TENANTS[name].keys[stream]
    rk = TENANTS[name].replication.get(stream)
    out = {}
    for row in rows:
        canonical = row if rk is None else {**row, rk: normalize_timestamp(row[rk])[1]}
        if canonical.get("_sdc_deleted_at", "") is None:  # a row, not a delete
            canonical = {k: v for k, v in canonical.items() if k != "_sdc_deleted_at"}
        out[tuple(row[k] for k in keys)] = canonical
    return out


def assert_ordered_by_replication_key(name: str, stream: str, records: list[Row]) -> None:
    rk = TENANTS[name].replication[stream]
    values = [r[rk] for r in records]
    assert values == sorted(values), stream
    assert all(v.endswith("Z") for v in values), stream


# Discovery


@pytest.mark.parametrize("name", NAMES)
def test_discovery_finds_the_six_streams_with_the_custom_fields_of_metadata(sb, tmp_path, name):
    tenant = TENANTS[name]
    catalog = run_tap(tmp_path, config_for(sb, name), "--discover").catalog
    entries = {e["tap_stream_id"]: e for e in catalog["streams"]}
    assert sorted(entries) == STREAMS
    core = load_profile(tenant.profile)
    for stream, entry in entries.items():
        assert tuple(entry["key_properties"]) == tenant.keys[stream], stream
        assert entry.get("replication_key") == tenant.replication.get(stream), stream
        own = core.load_static_schema(stream)["properties"]
        deletes = core.streams[stream].deletes is not None
        added = {k: v for k, v in entry["schema"]["properties"].items() if k not in own}
        assert added.pop("_sdc_deleted_at", None) == (DELETED_PROPERTY if deletes else None)
        assert added == tenant.custom.get(stream, {}), stream


# Full sync, then exactly the changes


@pytest.mark.parametrize("name", NAMES)
def test_a_full_sync_equals_the_erp_rows_of_every_stream(sb, tmp_path, name):
    out = run_tap(tmp_path, config_for(sb, name, page_size=150))
    for stream in STREAMS:
        records = out.records[stream]
        expected = erp_rows(sb, name, stream)
        assert len(records) == len(expected), stream  # every row once
        assert by_key(name, stream, records) == expected, stream
    for stream in TENANTS[name].replication:
        assert_ordered_by_replication_key(name, stream, out.records[stream])
        bookmark = out.state["bookmarks"][stream]["replication_key_value"]
        assert bookmark == out.records[stream][-1][TENANTS[name].replication[stream]]


def test_sap_v2_client_paging_with_top_skip_and_inlinecount_reads_every_row(sb, tmp_path):
    """`pagination_style: client`: `$top`/`$skip` pages that stop at `d.__count` (a string)."""
    config = config_for(sb, "bluepeak", pagination_style="client", page_size=150)
    out = run_tap(tmp_path, config)
    for stream in STREAMS:
        expected = erp_rows(sb, "bluepeak", stream)
        assert len(out.records[stream]) == len(expected), stream
        assert by_key("bluepeak", stream, out.records[stream]) == expected, stream


CHANGE = {
    "seconds": 3600,
    "new_orders": 5,
    "updated_orders": 7,
    "updated_lines": 9,
    "new_customers": 2,
    "updated_customers": 3,
    "new_vendors": 1,
    "updated_vendors": 2,
    "new_products": 2,
    "updated_products": 3,
    "updated_inventory": 4,
}


@pytest.mark.parametrize("name", NAMES)
def test_the_next_sync_emits_exactly_the_changed_and_new_rows(sb, tmp_path, name):
    tenant = TENANTS[name]
    config = config_for(sb, name, page_size=150)
    first = run_tap(tmp_path, config)
    answer = sb.advance(name, **CHANGE)
    second = run_tap(tmp_path, config, state=first.state)
    expected = tenant.changed(answer, lambda stream: erp_rows(sb, name, stream))
    for stream in tenant.replication:
        records = second.records.get(stream, [])
        now = erp_rows(sb, name, stream)
        assert expected[stream], stream  # the change touched every incremental stream
        assert sorted(by_key(name, stream, records)) == sorted(expected[stream]), stream
        assert len(records) == len(expected[stream]), stream
        assert by_key(name, stream, records) == {k: now[k] for k in expected[stream]}, stream
    for stream in set(STREAMS) - set(tenant.replication):  # snapshots: read whole each time
        assert by_key(name, stream, second.records[stream]) == erp_rows(sb, name, stream)
    third = run_tap(tmp_path, config, state=second.state)
    assert not any(third.records.get(stream) for stream in tenant.replication)


# Ties across pages, rows changing while paging


MUTATION = {"updated_orders": 60, "new_orders": 5, "updated_lines": 30, "updated_customers": 6}
#: stream -> the data requests after which rows change (pages of 10 rows: customers take
#: 4-5 requests, orders 40, lines through orders 40, sales order items 140)
SWEEPS = {
    "customers": (1, 2, 3),
    "sales_orders": (2, 9, 21, 37),
    "sales_order_lines": (2, 9, 21, 37),
}


SWEPT = [
    (name, stream)
    for name in NAMES
    for stream in sorted(SWEEPS)
    if stream in TENANTS[name].replication or TENANTS[name].sweep_snapshots
]


@pytest.mark.parametrize(("name", "stream"), SWEPT)
def test_ties_across_pages_and_rows_changing_while_paging_lose_nothing(sb, tmp_path, name, stream):
    """Pages of 10 rows split the tie groups; rows change after the n-th request, n
    sweeping through the paging. An incremental stream ends equal to the ERP; a snapshot
    (read in key order) has every key."""
    tenant = TENANTS[name]
    config = config_for(sb, name, page_size=10)
    catalog = catalog_selecting(tmp_path, config, {stream})
    rk = tenant.replication.get(stream)
    if rk is not None:
        assert max_tie_group(erp_rows(sb, name, stream), rk) > 10  # ties span pages
    seen_twice = 0
    for after in SWEEPS[stream]:
        sb.reset()
        sb.set_faults(name, {"mutate_after_requests": {"after": after, "change": MUTATION}})
        records = run_tap(tmp_path, config, "--catalog", catalog).records[stream]
        now = erp_rows(sb, name, stream)
        got = by_key(name, stream, records)
        seen_twice += len(records) - len(got)
        if rk is None:
            assert set(got) == set(now), after
            continue
        assert got == now, after
        assert_ordered_by_replication_key(name, stream, records)
    if rk is not None:
        assert seen_twice > 0  # rows did change while paging: read again, later


def max_tie_group(rows: Rows, rk: str) -> int:
    sizes: dict[str, int] = {}
    for row in rows.values():
        sizes[row[rk]] = sizes.get(row[rk], 0) + 1
    return max(sizes.values())


# Faults


FAULTS = {
    "rate_limit": {"every": 13, "retry_after": 1},
    "errors": {"every": 5, "burst": 2, "statuses": [500, 502, 503]},
    "drop": {"every": 7},
    "malformed": {"every": 11},
}

#: Faults act on the transport, the same for OData v2 and v4: bluepeak adds nothing here.
FAULTED = [name for name in NAMES if name != "bluepeak"]


@pytest.mark.parametrize("name", FAULTED)
def test_faults_give_identical_output(sb, tmp_path, name):
    """429 with Retry-After (waited as asked), 5xx bursts, bodies cut short or not JSON,
    and for Business Central tokens that expire within a second."""
    config = config_for(sb, name, page_size=100, max_retries=10)
    clean = run_tap(tmp_path, config)
    sb.reset()
    sb.set_faults(name, {**FAULTS, **TENANTS[name].faults})
    faulty = run_tap(tmp_path, config)
    assert faulty.records == clean.records
    assert faulty.state == clean.state
    retries = [line for line in faulty.stderr.splitlines() if "; retry " in line]
    assert any("HTTP 429" in line and line.endswith("in 1.00s") for line in retries)
    assert any("HTTP 50" in line for line in retries)
    assert any("cut short" in line or "malformed JSON" in line for line in retries)


# A bad request


BROKEN_FILTERS = {
    "contoso": ("lastModifiedDateTime ge {since", "lastModifiedDate ge {since", "lastModifiedDate"),
    "bestrun": ("LastChangeDateTime ge {since}", "LastChangedAt ge {since}", "LastChangedAt"),
    "bluepeak": (
        "LastChangeDateTime ge {since:odata_v2}",
        "LastChangedAt ge {since:odata_v2}",
        "LastChangedAt",
    ),
}


@pytest.mark.parametrize("name", NAMES)
def test_a_bad_request_is_not_retried_and_names_the_erp_message(sb, tmp_path, name):
    good, broken, unknown = BROKEN_FILTERS[name]
    config = config_for(sb, name, start_date="2024-01-01")
    catalog = catalog_selecting(tmp_path, config, {"sales_orders"})
    source = (PROFILES_DIR / f"{TENANTS[name].profile}.yaml").read_text()
    assert good in source
    copy = tmp_path / "broken.yaml"
    copy.write_text(source.replace(good, broken))
    before = sb.stats(name)["requests"]["data"]
    out = run_tap(tmp_path, {**config, "profile": str(copy)}, "--catalog", catalog, check=False)
    assert out.returncode == 1
    assert "HTTP 400 from GET" in out.stderr
    assert f"could not find a property named '{unknown}'" in out.stderr
    assert "retry" not in out.stderr
    assert sb.stats(name)["requests"]["data"] - before == 1


# Settings of the Business Central profile


BC_BASE = "https://api.businesscentral.dynamics.com/v2.0/tenant-id/production"
ENTRA = "https://login.microsoftonline.com"
NAMES_THE_SETTING = "(or set entra_tenant, which the profile's token URL reads)"
TOKEN_URLS = [
    # (settings, the token URL, or the error)
    ({"entra_tenant": "contoso.example"}, f"{ENTRA}/contoso.example/oauth2/v2.0/token"),
    ({"entra_tenant": "x", "token_url": "https://login.example/t"}, "https://login.example/t"),
    ({"token_url": "oauth2/v2.0/token"}, f"{BC_BASE}/oauth2/v2.0/token"),
    ({}, f"required when auth_method is 'oauth2' {NAMES_THE_SETTING}"),
    ({"entra_tenant": ""}, NAMES_THE_SETTING),  # an empty environment variable
]


@pytest.mark.parametrize(("settings", "expected"), TOKEN_URLS)
def test_the_business_central_token_url_follows_the_entra_tenant(settings, expected):
    config = {
        "profile": "business_central",
        "base_url": BC_BASE,
        "client_id": "app",
        "client_secret": "secret",
        "company_id": "00000000-0000-0000-0000-000000000001",
        "inventory_api": "contoso/erp/v1.0",
        **settings,
    }
    if expected.startswith("https://"):
        assert build_runtime(config).http.authenticator.token_url == expected
    else:
        with pytest.raises(ConfigValidationError, match=r"setting 'token_url': .*") as info:
            build_runtime(config)
        assert expected in str(info.value)
