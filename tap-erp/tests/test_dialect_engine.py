"""The dialect engine on other ERPs' wire conventions (fake HTTP): every scenario the
sandbox dialect is held to — full sync, exactly the changes, ties across pages, rows
changing while paging, random live changes — on OData-style next links, JSON-RPC
bodies with naive whole-second filters, Link headers and cursor tokens."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from tap_erp.profiles import SCHEMAS_DIR
from tap_erp.tap import TapERP

from .conftest import BASE_TS
from .test_incremental import assert_sorted_and_utc, expected, latest_by_key, seed
from .wire_dialects import PROFILES, profile_text

DIALECTS = sorted(PROFILES)


@pytest.fixture
def dialect_run(fake, run_tap, tmp_path):
    """Run the tap with the profile of wire dialect `name` against the fake."""

    def run(name, **settings):
        fake.style = name
        path = tmp_path / f"{name}.yaml"
        path.write_text(profile_text(name, str(SCHEMAS_DIR / "erp_sandbox")))
        return run_tap(profile=str(path), **settings)

    return run


@pytest.mark.parametrize("name", DIALECTS)
def test_full_sync_emits_every_row_once(fake, dialect_run, name):
    seed(fake)
    records = dialect_run(name).records("customers")
    assert sorted(r["CustomerKey"] for r in records) == list(range(1, 96))
    assert_sorted_and_utc(records)
    assert all("@odata.etag" not in r for r in records)


@pytest.mark.parametrize("name", DIALECTS)
def test_second_sync_emits_exactly_the_changes(fake, dialect_run, name):
    seed(fake)
    first = dialect_run(name)
    again = dialect_run(name, state=first.final_state)
    assert again.records("customers") == []
    later = BASE_TS + dt.timedelta(days=40, microseconds=250_000)
    for key in (3, 30, 31):
        fake.touch("customers", key, later, CardName=f"v2-{key}")
    fake.add("customers", 96, later, CardName="new")
    third = dialect_run(name, state=again.final_state)
    assert sorted(r["CustomerKey"] for r in third.records("customers")) == [3, 30, 31, 96]
    fourth = dialect_run(name, state=third.final_state)
    assert fourth.records("customers") == []


@pytest.mark.parametrize("name", DIALECTS)
@pytest.mark.parametrize("after", [1, 2, 4, 7])
def test_rows_changing_mid_paging_are_never_skipped(fake, dialect_run, name, after):
    seed(fake)
    later = BASE_TS + dt.timedelta(days=30)

    def mutate(erp, n):
        if n == after:
            for step, key in enumerate((1, 5, 20, 21, 28, 29, 30, 40, 56, 60)):
                erp.touch(
                    "customers",
                    key,
                    later + dt.timedelta(microseconds=step),
                    CardName=f"changed{key}",
                )
            erp.add("customers", 500, later, CardName="new500")

    fake.hooks.append(mutate)
    records = dialect_run(name).records("customers")
    got = {k: r["CardName"] for k, r in latest_by_key(records).items()}
    assert got == expected(fake)
    assert_sorted_and_utc(records)


@pytest.mark.parametrize("name", DIALECTS)
@pytest.mark.parametrize("seed_value", range(4))
def test_random_live_changes_never_lose_a_row(fake, dialect_run, name, seed_value):
    rng = random.Random(seed_value)
    seed(fake, n=120, group=(10, 80))
    clock = [BASE_TS + dt.timedelta(days=10)]
    change_at = set(rng.sample(range(2, 30), 4))

    def mutate(erp, n):
        if n in change_at:
            for key in rng.sample(sorted(k[0] for k in erp.tables["customers"]), 6):
                # Sub-second steps: several exact timestamps inside one second.
                clock[0] += dt.timedelta(microseconds=rng.choice([1, 1000, 250_000]))
                erp.touch("customers", key, clock[0], CardName=f"changed{key}-{n}")

    fake.hooks.append(mutate)
    run = dialect_run(name, page_size=rng.choice([2, 3, 7, 10]))
    records = run.records("customers")
    got = {k: r["CardName"] for k, r in latest_by_key(records).items()}
    assert got == expected(fake)
    assert_sorted_and_utc(records)


def test_whole_second_filters_skip_nothing_and_repeat_nothing(fake, dialect_run):
    """The JSON-RPC dialect filters in whole seconds: rows from earlier in the
    bookmark's second come back and are dropped, not emitted again."""
    seed(fake, n=20, group=(30, 30))
    second = BASE_TS + dt.timedelta(days=5)
    for key in range(1, 6):
        fake.touch("customers", key, second + dt.timedelta(microseconds=key * 100_000))
    first = dialect_run("rpc")
    assert sorted(r["CustomerKey"] for r in first.records("customers")) == list(range(1, 21))
    fake.touch("customers", 7, second + dt.timedelta(microseconds=999_999), CardName="late")
    again = dialect_run("rpc", state=first.final_state)
    assert [r["CustomerKey"] for r in again.records("customers")] == [7]
    body = fake.bodies[-1]["params"]["domain"]
    assert body == [["ModifiedOn", ">=", "2025-01-06 00:00:00"]]


def test_false_means_null_where_the_field_is_not_boolean(fake, dialect_run):
    seed(fake, n=3)
    records = dialect_run("rpc").records("customers")
    assert {r["EmailAddress"] for r in records} == {None}


def test_a_client_error_is_not_retried_and_names_the_erp_message(fake, tmp_path, capsys):
    seed(fake, n=3)
    fake.style = "rpc"
    profile = profile_text("rpc", str(SCHEMAS_DIR / "erp_sandbox")).replace(
        "{since:naive_utc_seconds}", "{since:iso}"
    )
    path = tmp_path / "rpc.yaml"
    path.write_text(profile)
    config = {
        "base_url": fake.BASE,
        "api_key": "secret-key-1",
        "profile": str(path),
        "start_date": "2024-01-01",
    }
    with pytest.raises(Exception, match=r"HTTP 400 from POST .*bad datetime") as info:
        TapERP(config=config).sync_all()
    assert "Traceback" not in str(info.value)
    assert fake.data_requests == 1


def test_a_selector_that_matches_nothing_is_one_clear_line(fake, tmp_path):
    seed(fake, n=3)
    fake.style = "token"
    path = tmp_path / "token.yaml"
    path.write_text(
        profile_text("token", str(SCHEMAS_DIR / "erp_sandbox")).replace(
            "records: data", "records: rows"
        )
    )
    config = {"base_url": fake.BASE, "api_key": "secret-key-1", "profile": str(path)}
    with pytest.raises(
        Exception, match="selector 'rows' matched nothing; the response has keys: data, meta"
    ):
        TapERP(config=config).sync_all()
