"""Integration tests: the real tap CLI against the real sandbox ERP server."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest
from tap_erp.paging import normalize_timestamp
from tap_erp.profiles import load_profile

testing = pytest.importorskip("erp_sandbox.testing")

STREAMS = ["customers", "inventory", "products", "sales_order_lines", "sales_orders", "vendors"]
INCREMENTAL = [s for s in STREAMS if s != "inventory"]
KEYS = {
    "customers": ("CustomerKey",),
    "inventory": ("ItemKey", "WhsCode"),
    "products": ("ItemKey",),
    "sales_order_lines": ("LineKey",),
    "sales_orders": ("DocEntry",),
    "vendors": ("VendorKey",),
}
TENANTS = {
    "acme": {"auth_method": "api_key", "pagination_style": "offset"},
    "globex": {"auth_method": "oauth2", "pagination_style": "cursor"},
    "initech": {"auth_method": "basic", "pagination_style": "page"},
}


@pytest.fixture(scope="module")
def sb():
    with testing.sandbox_server(orders=800, seed=11) as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(sb):
    sb.reset()
    yield


def tap_exe() -> list[str]:
    exe = Path(sys.executable).with_name("tap-erp")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "tap_erp"]


def config_for(sb, tenant, **extra):
    creds = dict(testing.CREDENTIALS[tenant])
    creds.pop("bearer_token", None)
    return {
        "base_url": sb.tenant_url(tenant),
        **creds,
        **TENANTS[tenant],
        "backoff_base_seconds": 0.01,
        "backoff_max_seconds": 0.05,
        **extra,
    }


class Output:
    def __init__(self, stdout: bytes, stderr: str):
        self.stderr = stderr
        self.records: dict[str, list[dict]] = {}
        self.states: list[dict] = []
        self.schemas: dict[str, dict] = {}
        for line in stdout.splitlines():
            msg = orjson.loads(line)
            if msg["type"] == "RECORD":
                self.records.setdefault(msg["stream"], []).append(msg["record"])
            elif msg["type"] == "STATE":
                self.states.append(msg["value"])
            elif msg["type"] == "SCHEMA":
                self.schemas[msg["stream"]] = msg["schema"]

    @property
    def state(self) -> dict:
        return self.states[-1]


def run_tap(tmp_path, config, state=None, args=()) -> Output:
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(config))
    cmd = [*tap_exe(), "--config", str(cfg), *args]
    if state is not None:
        st = tmp_path / "state.json"
        st.write_text(json.dumps(state))
        cmd += ["--state", str(st)]
    proc = subprocess.run(cmd, capture_output=True, timeout=300, check=False)
    stderr = proc.stderr.decode()
    assert proc.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    return Output(proc.stdout, stderr)


def key_of(stream, row):
    return tuple(row[k] for k in KEYS[stream])


def canonical(row):
    out = dict(row)
    if out.get("_sdc_deleted_at", "") is None:
        del out["_sdc_deleted_at"]  # a row, not a delete
    if "ModifiedOn" in out:
        out["ModifiedOn"] = normalize_timestamp(out["ModifiedOn"])[1]
    return out


def latest_by_key(stream, records):
    return {key_of(stream, r): canonical(r) for r in records}


def server_rows(sb, tenant, stream):
    return {key_of(stream, r): canonical(r) for r in sb.records(tenant, stream)}


def test_discover_six_streams_with_tenant_custom_fields(sb, tmp_path):
    catalogs = {}
    for tenant in ("acme", "globex"):
        cfg = tmp_path / f"{tenant}.json"
        cfg.write_text(json.dumps(config_for(sb, tenant)))
        proc = subprocess.run(
            [*tap_exe(), "--config", str(cfg), "--discover"],
            capture_output=True,
            timeout=120,
            check=True,
        )
        catalog = json.loads(proc.stdout)
        catalogs[tenant] = {s["tap_stream_id"]: s for s in catalog["streams"]}
    assert sorted(catalogs["acme"]) == STREAMS

    def custom(tenant, stream):
        props = catalogs[tenant][stream]["schema"]["properties"]
        return {k: v for k, v in props.items() if k.startswith("U_")}

    acme_products, globex_products = custom("acme", "products"), custom("globex", "products")
    assert set(acme_products) == {"U_Color", "U_WeightKg", "U_Voltage"}
    assert acme_products["U_WeightKg"]["multipleOf"] == 0.001
    assert acme_products["U_Voltage"]["type"][0] == "integer"
    assert set(globex_products) == {"U_Material", "U_LengthMm", "U_Hazardous", "U_CertifiedOn"}
    assert globex_products["U_CertifiedOn"]["format"] == "date"
    assert set(custom("acme", "customers")) == {"U_Segment", "U_LoyaltyTier"}
    assert set(custom("globex", "customers")) == {"U_AccountManager"}
    orders = catalogs["acme"]["sales_orders"]
    assert orders["key_properties"] == ["DocEntry"]
    assert orders["replication_key"] == "ModifiedOn"
    assert catalogs["acme"]["inventory"]["key_properties"] == ["ItemKey", "WhsCode"]


@pytest.mark.parametrize("tenant", list(TENANTS))
def test_full_then_incremental_sync(sb, tmp_path, tenant):
    first = run_tap(tmp_path, config_for(sb, tenant, page_size=400))
    counts = sb.stats(tenant)["counts"]
    for stream in STREAMS:
        records = first.records[stream]
        keys = [key_of(stream, r) for r in records]
        assert len(keys) == len(set(keys)) == counts[stream], stream
        assert latest_by_key(stream, records) == server_rows(sb, tenant, stream), stream
    for stream in INCREMENTAL:
        values = [r["ModifiedOn"] for r in first.records[stream]]
        assert values == sorted(values)
        assert all(v.endswith("Z") for v in values)
        bookmark = first.state["bookmarks"][stream]
        assert bookmark["replication_key_value"] == values[-1]

    changed = sb.advance(
        tenant,
        seconds=3600,
        new_orders=7,
        updated_orders=11,
        updated_lines=13,
        new_customers=2,
        updated_customers=3,
        new_vendors=1,
        updated_vendors=2,
        new_products=2,
        updated_products=4,
    )["changed"]
    second = run_tap(tmp_path, config_for(sb, tenant, page_size=400), state=first.state)
    for stream in INCREMENTAL:
        got = sorted(key_of(stream, r) for r in second.records.get(stream, []))
        expected = sorted(
            tuple(k) if isinstance(k, list) else (k,) for k in changed.get(stream, [])
        )
        assert got == expected, stream
        assert latest_by_key(stream, second.records.get(stream, [])) == {
            k: v for k, v in server_rows(sb, tenant, stream).items() if k in set(expected)
        }

    before = sb.stats(tenant)
    third = run_tap(tmp_path, config_for(sb, tenant, page_size=400), state=second.state)
    assert all(not third.records.get(stream) for stream in INCREMENTAL)
    # Nothing changed: one request per incremental stream, one of tombstones per stream
    # with deletes, the inventory snapshot's pages and the metadata document
    # (discovery), nothing more.
    sent = sb.stats(tenant)["requests"]["data"] - before["requests"]["data"]
    snapshot_pages = math.ceil(before["counts"]["inventory"] / 400)
    tombstones = sum(s.deletes is not None for s in load_profile("erp_sandbox").streams.values())
    assert sent <= len(INCREMENTAL) + tombstones + snapshot_pages + 1, sent


def catalog_selecting(tmp_path, config, streams) -> Path:
    cfg = tmp_path / "discover.json"
    cfg.write_text(json.dumps(config))
    proc = subprocess.run(
        [*tap_exe(), "--config", str(cfg), "--discover"],
        capture_output=True,
        timeout=120,
        check=True,
    )
    catalog = json.loads(proc.stdout)
    for entry in catalog["streams"]:
        for md in entry["metadata"]:
            if md["breadcrumb"] == []:
                md["metadata"]["selected"] = entry["tap_stream_id"] in streams
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog))
    return path


@pytest.mark.parametrize("tenant", list(TENANTS))
def test_rows_changing_while_paging(sb, tmp_path, tenant):
    """Rows change after the n-th request, n sweeping through the big tie group."""
    config = config_for(sb, tenant, page_size=100)
    catalog = catalog_selecting(tmp_path, config, {"sales_order_lines"})
    regrouped = 0
    for after in (3, 6, 9, 12, 15, 18):
        sb.reset()
        sb.set_faults(
            tenant,
            {
                "mutate_after_requests": {
                    "after": after,
                    "change": {"updated_lines": 400, "new_orders": 5},
                }
            },
        )
        out = run_tap(tmp_path, config, args=["--catalog", str(catalog)])
        records = out.records["sales_order_lines"]
        assert latest_by_key("sales_order_lines", records) == server_rows(
            sb, tenant, "sales_order_lines"
        ), after
        values = [r["ModifiedOn"] for r in records]
        assert values == sorted(values)
        regrouped += "re-reading that group" in out.stderr
    if tenant != "globex":
        assert regrouped > 0  # the anchor check did catch shifted positions


FAULTS = {
    "rate_limit": {"every": 9, "retry_after": 0},
    "errors": {"every": 5, "burst": 2, "statuses": [500, 502, 503]},
    "drop": {"every": 7},
    "malformed": {"every": 11},
}


@pytest.mark.parametrize("tenant", list(TENANTS))
def test_faults_do_not_change_the_output(sb, tmp_path, tenant):
    config = config_for(sb, tenant, page_size=500, max_retries=10)
    clean = run_tap(tmp_path, config)
    sb.reset()
    faults = dict(FAULTS)
    if tenant == "globex":
        faults["token_ttl_seconds"] = 1
    sb.set_faults(tenant, faults)
    faulty = run_tap(tmp_path, config)
    assert faulty.records == clean.records
    assert faulty.state == clean.state
    assert "retry" in faulty.stderr


def test_revoked_tokens_are_replaced(sb, tmp_path, monkeypatch):
    from tap_erp import http as http_mod

    from .conftest import select_only

    config = config_for(sb, "globex", page_size=500)
    clean = run_tap(tmp_path, config)
    sb.reset()
    original = http_mod.HttpClient.send
    calls = []

    def revoking_send(self, method, url, **kwargs):
        if kwargs.get("authenticated", True):
            calls.append(url)
            if len(calls) in {3, 8, 9}:
                sb.revoke_tokens("globex")
        return original(self, method, url, **kwargs)

    monkeypatch.setattr(http_mod.HttpClient, "send", revoking_send)
    run = select_only(config, None, set(STREAMS))
    for stream in STREAMS:
        assert run.records(stream) == clean.records[stream]
    assert sb.stats("globex")["requests"]["token"] >= 4


def test_bad_credentials_one_clear_line(sb, tmp_path):
    config = config_for(sb, "acme", api_key="wrong-key-987")
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(config))
    proc = subprocess.run(
        [*tap_exe(), "--config", str(cfg)], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert f"authentication failed for {sb.tenant_url('acme')}: HTTP 401" in proc.stderr
    assert "wrong-key-987" not in proc.stderr
    config = config_for(sb, "globex", client_secret="bad-secret-555")
    cfg.write_text(json.dumps(config))
    proc = subprocess.run(
        [*tap_exe(), "--config", str(cfg), "--discover"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert "authentication failed" in proc.stderr
    assert "bad-secret-555" not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_backfill_windows_and_resume_from_mid_sync_state(sb, tmp_path):
    config = config_for(
        sb, "initech", page_size=300, start_date="2023-01-01", backfill_window="month"
    )
    full = run_tap(tmp_path, config)
    for stream in INCREMENTAL:
        assert latest_by_key(stream, full.records[stream]) == server_rows(sb, "initech", stream)
    # Resume inside the largest tie group, as after an interrupted sync.
    lines = full.records["sales_order_lines"]
    sizes: dict[str, int] = {}
    for r in lines:
        sizes[r["ModifiedOn"]] = sizes.get(r["ModifiedOn"], 0) + 1
    biggest = max(sizes, key=sizes.get)
    assert sizes[biggest] > 300  # larger than a page
    first = next(i for i, r in enumerate(lines) if r["ModifiedOn"] == biggest)
    cut = first + sizes[biggest] // 2
    bookmark = {
        "replication_key": "ModifiedOn",
        "replication_key_value": biggest,
        "bookmark_keys": [r["LineKey"] for r in lines[first : cut + 1]],
    }
    resumed = run_tap(
        tmp_path,
        config_for(sb, "initech", page_size=300),
        state={"bookmarks": {"sales_order_lines": bookmark}},
    )
    got = [r["LineKey"] for r in resumed.records["sales_order_lines"]]
    assert got == [r["LineKey"] for r in lines[cut + 1 :]]


def test_fields_missing_from_the_catalog_are_named_in_a_warning(sb, tmp_path):
    """A custom field added in the ERP after discovery is not silently lost from view."""
    config = config_for(sb, "acme")
    path = catalog_selecting(tmp_path, config, {"products"})
    catalog = json.loads(path.read_text())
    (products,) = [e for e in catalog["streams"] if e["tap_stream_id"] == "products"]
    del products["schema"]["properties"]["U_Color"]
    products["metadata"] = [
        md for md in products["metadata"] if md["breadcrumb"] != ["properties", "U_Color"]
    ]
    path.write_text(json.dumps(catalog))
    out = run_tap(tmp_path, config, args=("--catalog", str(path)))
    assert len(out.records["products"]) == sb.stats("acme")["counts"]["products"]
    assert all("U_Color" not in r for r in out.records["products"])
    warnings = [line for line in out.stderr.splitlines() if "catalog does not have" in line]
    assert len(warnings) == 1
    assert "U_Color" in warnings[0]


def test_bad_stream_map_expression_is_one_line_naming_it(sb, tmp_path):
    config = config_for(sb, "acme", stream_maps={"sales_orders": {"total": "DocTotal +"}})
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(config))
    proc = subprocess.run(
        [*tap_exe(), "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "stream map 'sales_orders.total'" in proc.stderr
    assert "'DocTotal +'" in proc.stderr


def batch_config_in(folder: Path) -> dict:
    return {
        "encoding": {"format": "jsonl", "compression": "none"},
        "storage": {"root": folder.as_uri()},
        "batch_size": 333,
    }


def test_batches_carry_every_record_and_state_waits_for_the_loader(sb, tmp_path):
    """A stand-in loader takes (reads and deletes) each file as it appears."""
    folder = tmp_path / "batches"
    folder.mkdir()
    taken: list[bytes] = []
    stop = threading.Event()

    def loader():
        while not stop.is_set():
            for path in sorted(folder.glob("*.jsonl")):
                time.sleep(0.05)  # a file is complete once its BATCH message is out
                taken.append(path.read_bytes())
                path.unlink()
            time.sleep(0.01)

    thread = threading.Thread(target=loader, daemon=True)
    thread.start()
    try:
        config = config_for(sb, "acme", page_size=400, batch_config=batch_config_in(folder))
        cfg = tmp_path / "config.json"
        cfg.write_text(json.dumps(config))
        proc = subprocess.run(
            [*tap_exe(), "--config", str(cfg)], capture_output=True, timeout=300, check=False
        )
    finally:
        stop.set()
        thread.join(timeout=5)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    messages = [orjson.loads(line) for line in proc.stdout.splitlines()]
    batches = [m for m in messages if m["type"] == "BATCH"]
    assert {m["stream"] for m in batches} >= {"sales_order_lines", "sales_orders"}
    lines = [orjson.loads(x) for blob in taken for x in blob.splitlines()]
    assert (
        len([r for r in lines if "LineKey" in r]) == sb.stats("acme")["counts"]["sales_order_lines"]
    )
    # every BATCH is followed, later, by a STATE; the last message is a STATE, with
    # the same bookmarks (tie keys included) as a sync sending RECORD messages
    assert messages[-1]["type"] == "STATE"
    records_mode = run_tap(tmp_path, config_for(sb, "acme", page_size=400))
    assert messages[-1]["value"]["bookmarks"] == records_mode.state["bookmarks"]
    # a STATE covers every record sent before it: no stream's BATCH follows another
    # of its BATCH messages before that one's STATE
    for stream in {m["stream"] for m in batches}:
        kinds = [
            m["type"]
            for m in messages
            if m["type"] == "STATE" or (m["type"] == "BATCH" and m["stream"] == stream)
        ]
        assert all(a != "BATCH" or b != "BATCH" for a, b in itertools.pairwise(kinds)), stream
    last_batch = max(i for i, m in enumerate(messages) if m["type"] == "BATCH")
    assert any(m["type"] == "STATE" for m in messages[last_batch + 1 :])


def test_a_loader_that_never_takes_the_files_gets_no_state_for_them(sb, tmp_path):
    folder = tmp_path / "batches"
    config = config_for(
        sb, "acme", page_size=400, batch_config=batch_config_in(folder), batch_wait_seconds=1
    )
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(config))
    proc = subprocess.run(
        [*tap_exe(), "--config", str(cfg)], capture_output=True, timeout=300, check=False
    )
    assert proc.returncode == 1
    stderr = proc.stderr.decode()
    assert "may not support BATCH messages" in stderr
    assert "Traceback" not in stderr
    assert list(folder.iterdir()) == [], "the failed run leaves no file with client data"
    assert "Removed 1 batch file(s) the loader did not take" in stderr
    messages = [orjson.loads(line) for line in proc.stdout.splitlines()]
    first_batch = next(i for i, m in enumerate(messages) if m["type"] == "BATCH")
    stream = messages[first_batch]["stream"]
    for m in messages[first_batch:]:
        if m["type"] == "STATE":
            assert not m["value"]["bookmarks"].get(stream), m
