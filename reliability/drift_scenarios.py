"""The fault matrix's drift rows: the ERP's schema drifts under a run (new custom field,
type change, nulls, out-of-range instants) or the batch-file folder cannot be made."""

from __future__ import annotations

from pathlib import Path

from erp_testing.drift import batch_root_under_a_file, map_files

from reliability.expect import Expect, Scenario
from reliability.faults import UPDATED_PRODUCTS, Drift

QUARANTINE = {"TARGET_S3_ON_SCHEMA_VIOLATION": "quarantine"}
WEIGHT_AS_TEXT = {"products": {"types": {"U_WeightKg": "string"}}}
#: Text that converts back to the contract's decimal lands; this does not.
WEIGHT_NOT_A_NUMBER = {
    "products": {"types": {"U_WeightKg": "string"}, "set": {"U_WeightKg": "n/a"}}
}
NULL_PRICE = {"products": {"set": {"ListPrice": None}, "keys": [1, 2]}}
OUT_OF_RANGE = {
    "products": {"set": {"CreatedOn": "9999-12-31T23:59:59.999999-05:00"}, "keys": [1]},
    "customers": {"set": {"CreatedOn": "0001-01-01T00:00:00+02:00"}, "keys": [1]},
}
BOTH = {
    "products": {
        "set": {"ListPrice": None, "CreatedOn": "9999-12-31T23:59:59.999999-05:00"},
        "keys": [1, 2],
    },
    "customers": OUT_OF_RANGE["customers"],
}
TYPE_CHANGE = (
    r"(?=.*stream 'products')(?=.*column 'spec_weight_kg')(?=.*decimal128\(38, 3\))"
    r"(?=.*to string)"
)
OUT_OF_RANGE_LINE = (
    r"(?=.*stream '(products|customers)')(?=.*column 'created_at')"
    r"(?=.*(9999-12-31T23:59:59.999999-05:00|0001-01-01T00:00:00\+02:00))"
)
DROPPED = r"'products': custom field 'U_Voltage' is dropped by the stream maps"
PASSED = r"'products': custom field 'U_Voltage' is not in the stream maps; landed as column"


def without_voltage(folder: Path) -> dict[str, str]:
    return {"TAP_ERP_STREAM_MAP_FILES": map_files(folder, voltage=False)}


def batch_folder_under_a_file(folder: Path) -> dict[str, str]:
    return {"TAP_ERP_BATCH_CONFIG": batch_root_under_a_file(folder)}


def drift_fails(line: str) -> Expect:
    """The drifting stream fails with one line; the others may land (state checked)."""
    return Expect(first="fails", line=line)


DRIFT = [
    Scenario(
        "drift: new custom field, dropped by the maps",
        Drift(run_env=without_voltage),
        Expect(first="ok", says=DROPPED, rerun=False),
        soak_trials=1,
    ),
    Scenario(
        "drift: new custom field, unmapped_custom_fields: pass",
        Drift(run_env=without_voltage, settings={"TAP_ERP_UNMAPPED_CUSTOM_FIELDS": "pass"}),
        Expect(first="ok", says=PASSED, rerun=False),
        soak_trials=1,
    ),
    Scenario(
        "drift: custom decimal becomes text",
        Drift(drift=WEIGHT_AS_TEXT, clean_first=True),
        drift_fails(TYPE_CHANGE),
        soak_trials=1,
    ),
    Scenario(
        "drift: custom decimal becomes text ('n/a'), quarantine",
        Drift(drift=WEIGHT_NOT_A_NUMBER, clean_first=True, settings=QUARANTINE),
        Expect(first="ok", quarantined=UPDATED_PRODUCTS, rerun=False),
        soak_trials=1,
    ),
    Scenario(
        "drift: null in never-null ListPrice",
        Drift(drift=NULL_PRICE),
        drift_fails(r"(?=.*stream 'products')(?=.*column 'list_price')(?=.*null)"),
        soak_trials=1,
    ),
    Scenario(
        "drift: instants in 0001 (+02:00) and 9999-12-31 (-05:00)",
        Drift(drift=OUT_OF_RANGE),
        drift_fails(OUT_OF_RANGE_LINE),
        soak_trials=1,
    ),
    Scenario(
        "drift: null price + out-of-range instant, quarantine",
        Drift(drift=BOTH, settings=QUARANTINE),
        Expect(first="ok", quarantined=3, rerun=False),
        soak_trials=1,
    ),
    Scenario(
        "batch folder not writable (ENOTDIR: folder under a file)",
        Drift(run_env=batch_folder_under_a_file),
        drift_fails(r"(?=.*cannot create folder .*not-a-folder)(?=.*batch_config\.storage\.root)"),
        soak_trials=1,
    ),
]
