"""Custom fields the stream maps would drop: one warning per field and run, or passed
through under a `custom_`/`spec_` column; a column new over landed rows is announced."""

from __future__ import annotations

import logging

import pytest
from tap_erp.unmapped import column_name

from .conftest import BASE_TS

# The fake ERP's customers have two custom fields: U_Segment and U_Weight.
STANDARD = {"__key_properties__": ["customer_id"], "customer_id": "CustomerKey"}
DROP_ALL = {**STANDARD, "__else__": "__NULL__"}


def customers_map(**columns: str) -> dict:
    return {"customers": {**DROP_ALL, **columns}}


@pytest.fixture
def customers(fake):
    for key in (1, 2):
        fake.add("customers", key, BASE_TS, CardName=f"c{key}", U_Segment="A", U_Weight="1.5")
    return fake


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def dropped(caplog) -> list[str]:
    """The custom fields named by a 'dropped by the stream maps' warning."""
    return sorted(
        m.split("custom field '")[1].split("'")[0]
        for m in warnings_of(caplog)
        if "is dropped by the stream maps" in m
    )


@pytest.mark.parametrize(
    ("maps", "reported"),
    [
        pytest.param(customers_map(), ["U_Segment", "U_Weight"], id="map names neither"),
        pytest.param(customers_map(custom_segment="U_Segment"), ["U_Weight"], id="one renamed"),
        pytest.param(
            customers_map(weight_text="str(U_Weight)"),
            ["U_Segment"],
            id="one read by an expression",
        ),
        pytest.param(customers_map(U_Weight="__NULL__"), ["U_Segment"], id="one dropped by name"),
        pytest.param({"customers": STANDARD}, [], id="no __else__: nothing dropped"),
        pytest.param({}, [], id="no map"),
    ],
)
def test_each_dropped_custom_field_is_one_warning(run_tap, customers, caplog, maps, reported):
    caplog.set_level(logging.WARNING)
    run_tap(stream_maps=maps)
    assert dropped(caplog) == reported


def test_the_warning_says_how_to_map_the_field(run_tap, customers, caplog):
    caplog.set_level(logging.WARNING)
    run_tap(stream_maps=customers_map(custom_segment="U_Segment"))
    (line,) = [m for m in warnings_of(caplog) if "U_Weight" in m]
    assert "'customers'" in line
    assert "`custom_weight: U_Weight` under `customers:`" in line
    assert "unmapped_custom_fields" in line


def test_pass_lands_unmapped_custom_fields_under_a_prefix(run_tap, customers, caplog):
    caplog.set_level(logging.WARNING)
    run = run_tap(stream_maps=customers_map(), unmapped_custom_fields="pass")
    records = run.records("customers")
    assert [r["custom_segment"] for r in records] == ["A", "A"]
    assert {str(r["custom_weight"]) for r in records} == {"1.5"}
    assert dropped(caplog) == []
    landed = [m for m in warnings_of(caplog) if "landed as column" in m]
    assert len(landed) == 2


def test_pass_never_overwrites_a_mapped_column(run_tap, customers, caplog):
    caplog.set_level(logging.WARNING)
    maps = customers_map(custom_segment="CardName")  # the name U_Segment would land as
    run = run_tap(stream_maps=maps, unmapped_custom_fields="pass")
    assert {r["custom_segment"] for r in run.records("customers")} == {"c1", "c2"}
    (line,) = [m for m in warnings_of(caplog) if "U_Segment" in m]
    assert "its column name 'custom_segment' is taken" in line


def test_a_column_mapped_later_warns_that_landed_rows_lack_it(run_tap, customers, caplog):
    caplog.set_level(logging.WARNING)
    first = run_tap(stream_maps=customers_map())
    assert "custom_segment" not in first.final_state["bookmarks"]["customers"]["columns"]
    caplog.clear()
    run_tap(stream_maps=customers_map(custom_segment="U_Segment"), state=first.final_state)
    (line,) = [m for m in warnings_of(caplog) if "is new since the last run" in m]
    assert "'customers': column 'custom_segment'" in line
    assert "scripts/backfill.py" in line and "--stream customers" in line


def test_no_history_warning_on_a_first_run(run_tap, customers, caplog):
    caplog.set_level(logging.WARNING)
    run_tap(stream_maps=customers_map(custom_segment="U_Segment"))
    assert not [m for m in warnings_of(caplog) if "is new since the last run" in m]


@pytest.mark.parametrize(
    ("stream", "field", "column"),
    [
        ("products", "U_WeightKg", "spec_weight_kg"),
        ("inventory", "U_BinLocation", "spec_bin_location"),
        ("products", "YY1_Color_PRD", "spec_color_prd"),
        ("customers", "contosoSegment", "custom_contoso_segment"),
        ("customers", "x_region", "custom_region"),
        ("vendors", "U_VATNumber", "custom_vat_number"),
    ],
)
def test_column_names(stream, field, column):
    assert column_name(stream, field) == column
