"""NetSuite client end to end: `meltano --environment=heron run tap-erp target-s3` with the
`netsuite` profile (SuiteQL over SuiteTalk REST, OAuth 2.0 client credentials with a
JWT assertion) against the sandbox's NetSuite tenant lands the six standard tables with
the sandbox's own counts, exact money, timestamps to the microsecond in UTC (NetSuite
writes them in the account user's zone, America/Los_Angeles here) and the client's
custom fields from the metadata catalog; after a change the next run lands exactly
those rows. Reads larger than the 100,000-row offset ceiling (2,000 rows here) and rows
changing while paging lose nothing; bad credentials and a query NetSuite rejects are
one line with NetSuite's message, and no row is sent. (Those run the tap on its own.)"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import jwt
import pytest
import requests
import yaml
from erp_sandbox.testing import CREDENTIALS
from erp_testing.project import BIN, ROOT, STREAMS
from erp_testing.standard_model import LINEAGE_COLUMNS, STANDARD_COLUMNS
from test_clients import CLIENT_VARIABLES

CLIENT = "heron"
#: Exact decimals in every table (money, prices, quantities).
DECIMAL_COLUMNS = {
    "sales_orders": ["subtotal_amount", "tax_amount", "total_amount"],
    "sales_order_lines": ["quantity", "unit_price", "discount_amount", "line_amount"],
    "customers": ["credit_limit"],
    "products": ["list_price", "standard_cost"],
    "inventory": ["quantity_on_hand", "quantity_reserved", "quantity_available"],
}
CUSTOM = {
    "sales_orders": ["custom_sales_channel", "custom_customer_po"],
    "customers": ["custom_segment"],
    "products": ["spec_color", "spec_weight_kg", "spec_hazardous"],
}
#: (table, column) -> (SuiteQL table, its key, the column landed there)
EXACT = {
    ("sales_orders", "total_amount"): ("transaction", "id", "foreigntotal"),
    ("sales_orders", "tax_amount"): ("transaction", "id", "taxtotal"),
    ("sales_orders", "custom_sales_channel"): ("transaction", "id", "custbody_channel"),
    ("sales_order_lines", "unit_price"): ("transactionline", "uniquekey", "rate"),
    ("sales_order_lines", "quantity"): ("transactionline", "uniquekey", "quantity"),
    ("customers", "credit_limit"): ("customer", "id", "creditlimit"),
    ("customers", "custom_segment"): ("customer", "id", "custentity_segment"),
    ("products", "spec_color"): ("item", "id", "custitem_color"),
}
KEY_COLUMN = {
    "sales_orders": "order_id",
    "sales_order_lines": "order_line_id",
    "customers": "customer_id",
    "vendors": "vendor_id",
    "products": "product_id",
    "inventory": "product_id",
}
CHANGE = {"seconds": 3600, "updated_orders": 1, "new_orders": 1, "updated_customers": 1}
RUN = ("--environment=" + CLIENT, "run", "tap-erp", "target-s3")
KEYS = ROOT / "plugins" / "erp-sandbox" / "src" / "erp_sandbox" / "keys"


def admin_rows(erp, table: str) -> list[dict]:
    """A SuiteQL table's rows as the sandbox holds them, decimals exact."""
    resp = requests.get(f"{erp.url}/_admin/{CLIENT}/records/{table}", timeout=300)
    resp.raise_for_status()
    return [json.loads(line, parse_float=Decimal) for line in resp.text.splitlines() if line]


def utc(us: int) -> datetime:
    """Epoch microseconds (how the sandbox keeps NetSuite's datetimes) as UTC."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def heron_env(project, erp, **overrides: str) -> None:
    """Only what heron's .env holds: its environment in clients/ does the rest."""
    ep = project.endpoints
    creds = CREDENTIALS[CLIENT]
    env = {k: v for k, v in project.env.items() if not k.startswith(CLIENT_VARIABLES)}
    env.update(
        {
            "HERON_ERP_BASE_URL": erp.tenant_url(CLIENT),
            "HERON_ERP_AUTH_METHOD": "oauth2_jwt",
            "HERON_NETSUITE_ACCOUNT_ID": creds["account_id"],
            "HERON_ERP_CLIENT_ID": creds["client_id"],
            "HERON_ERP_PRIVATE_KEY_FILE": creds["private_key_file"],
            "HERON_ERP_CERTIFICATE_ID": creds["certificate_id"],
            "HERON_ERP_CONSUMER_KEY": creds["consumer_key"],
            "HERON_ERP_CONSUMER_SECRET": creds["consumer_secret"],
            "HERON_ERP_TOKEN_ID": creds["token_id"],
            "HERON_ERP_TOKEN_SECRET": creds["token_secret"],
            "HERON_LAKE_BUCKET": ep.bucket,
            "HERON_LAKE_PREFIX": "clients",
            "HERON_S3_ENDPOINT_URL": ep.s3_endpoint_url,
            **overrides,
        }
    )
    project.env = env


def set_faults(erp, faults: dict) -> None:
    resp = requests.put(f"{erp.url}/_admin/{CLIENT}/faults", json=faults, timeout=30)
    resp.raise_for_status()


def landed_by_run(lake, stream: str) -> list[tuple[int, set]]:
    """Rows and keys each run landed in a table, oldest run first."""
    rows = lake.query(
        f"SELECT _run_id, min(_loaded_at) AS t, count(*), list({KEY_COLUMN[stream]}) "
        f"FROM {lake.table(stream)} GROUP BY _run_id ORDER BY t"
    )
    return [(count, set(keys)) for _, _, count, keys in rows]


def column_types(lake, stream: str) -> dict[str, str]:
    return {r[0]: r[1] for r in lake.query(f"DESCRIBE SELECT * FROM {lake.table(stream)}")}


def test_heron_lands_six_standard_tables_then_exactly_the_changes(project, erp):
    heron_env(project, erp)
    project.run(*RUN)
    lake = project.lake(client_id=CLIENT, prefix="clients")
    counts = erp.stats(CLIENT)["counts"]
    assert lake.streams() == sorted(STREAMS)
    for stream in STREAMS:
        types = column_types(lake, stream)
        wanted = STANDARD_COLUMNS[stream] + LINEAGE_COLUMNS + CUSTOM.get(stream, [])
        assert not set(wanted) - set(types), f"{stream} lacks {sorted(set(wanted) - set(types))}"
        assert all(types[c].startswith("DECIMAL") for c in DECIMAL_COLUMNS.get(stream, []))
        assert types["updated_at"] == "TIMESTAMP WITH TIME ZONE", stream
        total = lake.query(f"SELECT count(*) FROM {lake.table(stream)}")[0][0]
        assert total == counts[stream], stream  # the sandbox's own count
        source = lake.query(f"SELECT DISTINCT _source_system FROM {lake.table(stream)}")
        assert source == [("netsuite",)], stream

    # Values exactly as NetSuite holds them; custom fields from the metadata catalog.
    for (stream, column), (table, key, field) in EXACT.items():
        landed = dict(
            lake.query(f"SELECT {KEY_COLUMN[stream]}, {column} FROM {lake.table(stream)}")
        )
        assert landed == {r[key]: r.get(field) for r in admin_rows(erp, table)}, column
    hazardous = dict(lake.query(f"SELECT product_id, spec_hazardous FROM {lake.table('products')}"))
    checkbox = {"T": True, "F": False, None: None}
    assert hazardous == {
        r["id"]: checkbox[r.get("custitem_hazardous")] for r in admin_rows(erp, "item")
    }
    # Times: written in the account's zone (Pacific, summer time included), landed in UTC.
    for stream, table, key, field in (
        ("sales_orders", "transaction", "id", "lastmodifieddate"),
        ("customers", "customer", "id", "lastmodifieddate"),
        ("products", "item", "id", "createddate"),
    ):
        column = "created_at" if field == "createddate" else "updated_at"
        landed = dict(
            lake.query(f"SELECT {KEY_COLUMN[stream]}, {column} FROM {lake.table(stream)}")
        )
        assert landed == {r[key]: utc(r[field]) for r in admin_rows(erp, table)}, stream

    # A change: an edited order, a new order with lines, an edited customer.
    before = counts
    answer = erp.advance(CLIENT, **CHANGE)
    orders = set(answer["changed_sets"]["transaction"])
    assert len(orders) == 2
    changed = {
        "sales_orders": orders,
        "sales_order_lines": {
            r["uniquekey"] for r in admin_rows(erp, "transactionline") if r["transaction"] in orders
        },
        "customers": set(answer["changed_sets"]["customer"]),
    }
    project.run(*RUN)
    lake = project.lake(client_id=CLIENT, prefix="clients")
    counts = erp.stats(CLIENT)["counts"]
    for stream in STREAMS:
        runs = landed_by_run(lake, stream)
        if stream == "inventory":  # a snapshot: every row again
            assert [count for count, _ in runs] == [before[stream], counts[stream]]
        elif stream in changed:
            assert len(runs) == 2, stream
            assert runs[-1] == (len(changed[stream]), changed[stream]), stream
        else:
            assert len(runs) == 1, f"{stream} landed again"


def tap_config(erp, **extra: str | int) -> dict:
    """heron's settings for the tap run on its own (records on stdout, no loader)."""
    creds = CREDENTIALS[CLIENT]
    return {
        "profile": "netsuite",
        "base_url": erp.tenant_url(CLIENT),
        "site_timezone": "America/Los_Angeles",
        "batch_messages": False,
        "backoff_base_seconds": 0.01,
        "backoff_max_seconds": 0.05,
        **{k: v for k, v in creds.items() if k != "private_key_file"},
        "private_key_file": creds["private_key_file"],
        **extra,
    }


def run_tap(tmp_path, config: dict) -> tuple[int, dict[str, list[dict]], str]:
    """The tap alone: exit code, records by stream, stderr."""
    path = tmp_path / "tap-config.json"
    path.write_text(json.dumps(config))
    proc = subprocess.run(
        [str(BIN / "tap-erp"), "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    records: dict[str, list[dict]] = {}
    for line in proc.stdout.splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD":
            records.setdefault(message["stream"], []).append(message["record"])
    return proc.returncode, records, proc.stderr


def test_reads_past_the_offset_ceiling_with_rows_changing_while_paging_lose_nothing(erp, tmp_path):
    """The sandbox serves 2,000 rows (offset + limit) a query, as NetSuite serves 100,000;
    the tap pages 250 rows at a time while orders change under it (a tie group of 40
    orders and their lines spans pages): every row is read, and each order's newest
    version is NetSuite's."""
    erp.reset()
    erp.advance(CLIENT, seconds=60, new_orders=300)  # 1,000+ lines past the ceiling
    lines = admin_rows(erp, "transactionline")
    assert len(lines) > 2_000
    set_faults(
        erp,
        {
            "offset_ceiling": 2000,
            "mutate_after_requests": {"after": 6, "change": {"updated_orders": 40}},
        },
    )
    code, records, stderr = run_tap(tmp_path, tap_config(erp, page_size=250))
    assert code == 0, stderr[-3000:]
    for stream, table, key in (
        ("sales_orders", "transaction", "id"),
        ("sales_order_lines", "transactionline", "uniquekey"),
    ):
        versions = [(r[key], r["lastmodifieddate"]) for r in records[stream]]
        assert len(set(versions)) == len(versions), stream  # no version read twice
        keys = {k for k, _ in versions}
        assert keys == {r[key] for r in admin_rows(erp, table)}, stream  # no loss
    # The orders changed while their lines were paged: those lines were read again.
    assert len(records["sales_order_lines"]) > len(lines)
    latest: dict[int, datetime] = {}
    for r in records["sales_orders"]:
        at = datetime.fromisoformat(r["lastmodifieddate"])
        latest[r["id"]] = max(at, latest.get(r["id"], at))
    assert latest == {r["id"]: utc(r["lastmodifieddate"]) for r in admin_rows(erp, "transaction")}
    # Plain offset paging would have met NetSuite's documented error.
    refused = suiteql(erp, "SELECT uniquekey FROM transactionline", limit=250, offset=2000)
    assert refused.status_code == 400
    assert "must not exceed 2,000" in refused.json()["o:errorDetails"][0]["detail"]


def suiteql(erp, query: str, *, limit: int, offset: int) -> requests.Response:
    """One SuiteQL request with a token from the client credentials flow."""
    creds = CREDENTIALS[CLIENT]
    base = erp.tenant_url(CLIENT)
    token_url = f"{base}/services/rest/auth/oauth2/v1/token"
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "iss": creds["client_id"],
        "scope": "rest_webservices",
        "aud": token_url,
        "iat": now,
        "exp": now + 300,
    }
    key = (KEYS / "heron-m2m.pem").read_text()
    assertion = jwt.encode(claims, key, "ES256", headers={"kid": creds["certificate_id"]})
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }
    token = requests.post(token_url, data=form, timeout=30).json()["access_token"]
    return requests.post(
        f"{base}/services/rest/query/v1/suiteql?limit={limit}&offset={offset}",
        json={"q": query},
        headers={"Prefer": "transient", "Authorization": f"Bearer {token}"},
        timeout=30,
    )


def bad_profile(tmp_path) -> str:
    """The shipped profile with a customers query naming a table NetSuite lacks."""
    profile = yaml.safe_load((ROOT / "tap-erp/tap_erp/profiles/netsuite.yaml").read_text())
    profile["schemas_dir"] = str(ROOT / "tap-erp/tap_erp/schemas/netsuite")
    parts = profile["streams"]["customers"]["request"]["body"]["q"]["$join"]
    parts[0] = parts[0].replace("FROM customer", "FROM customers")
    path = tmp_path / "netsuite-typo.yaml"
    path.write_text(yaml.safe_dump(profile))
    return str(path)


@dataclasses.dataclass(frozen=True)
class Bad:
    """A bad input: settings to change, sandbox faults, NetSuite's message in the error."""

    settings: dict[str, str]
    faults: dict
    message: str


BAD_INPUTS = {
    "wrong key": Bad(
        {"private_key_file": str(KEYS / "not-heron.pem")},
        {},
        "signature does not verify with the certificate",
    ),
    "expired token": Bad({}, {"token_ttl_seconds": 0}, "Invalid login attempt"),
    "wrong token secret": Bad(
        {"auth_method": "tba", "token_secret": "not-the-secret"}, {}, "Invalid login attempt"
    ),
    "query NetSuite rejects": Bad({"profile": "{typo}"}, {}, "Record 'customers' was not found"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_with_netsuites_message_and_nothing_is_sent(erp, tmp_path, case):
    bad = BAD_INPUTS[case]
    erp.reset()
    set_faults(erp, bad.faults)
    settings = {k: v.replace("{typo}", bad_profile(tmp_path)) for k, v in bad.settings.items()}
    code, records, stderr = run_tap(tmp_path, tap_config(erp, **settings))
    assert code != 0
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if bad.message in line]
    assert len(errors) == 1, stderr[-3000:]
    assert records == {}  # no row reaches a loader
    secrets = [CREDENTIALS[CLIENT][n] for n in ("consumer_secret", "token_secret")]
    secrets += ["not-the-secret", (KEYS / "heron-m2m.pem").read_text().splitlines()[1]]
    assert not [s for s in secrets if s in stderr]


def test_token_based_auth_signs_every_request(erp, tmp_path):
    """TBA (OAuth 1.0a, HMAC-SHA256, realm = account id): the sandbox checks each
    signature, of the metadata catalog's GETs and of the SuiteQL POSTs."""
    erp.reset()
    code, records, stderr = run_tap(tmp_path, tap_config(erp, auth_method="tba"))
    assert code == 0, stderr[-3000:]
    counts = erp.stats(CLIENT)["counts"]
    assert {s: len(rows) for s, rows in records.items()} == {s: counts[s] for s in STREAMS}
    assert "custitem_color" in records["products"][0]  # from the signed catalog request


def test_a_refused_login_through_meltano_lands_nothing(project, erp):
    heron_env(project, erp, HERON_ERP_PRIVATE_KEY_FILE=str(KEYS / "not-heron.pem"))
    result = project.run(*RUN, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output
    assert "signature does not verify with the certificate" in output
    listing = project.s3_client().list_objects_v2(
        Bucket=project.endpoints.bucket, Prefix=f"clients/{CLIENT}/"
    )
    assert [o["Key"] for o in listing.get("Contents", []) if o["Key"].endswith(".parquet")] == []
