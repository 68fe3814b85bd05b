"""Nothing passes silently: schema drift, nulls and out-of-range instants end to end.

Each scenario is real `meltano run tap-erp target-s3` against the sandbox ERP (told to
drift through its admin API) and the local S3 server, read back with DuckDB: the exit
code, the one line the loader says, the rows landed and the rows quarantined.
"""

from __future__ import annotations

import json

import pytest
from target_s3.fault_proxy import fault_proxy

RUN = ("--environment=demo", "run", "tap-erp", "target-s3")
ONLY_PRODUCTS = {"TAP_ERP__SELECT": '["products.*"]'}
QUARANTINE = {"TARGET_S3_ON_SCHEMA_VIOLATION": "quarantine"}
BY_CREATED = {"TARGET_S3_STREAM_PARTITION_FIELDS": '{"products": "created_at"}'}
WEIGHT_AS_TEXT = {"products": {"types": {"U_WeightKg": "string"}}}
WEIGHT_NOT_A_NUMBER = {
    "products": {"types": {"U_WeightKg": "string"}, "set": {"U_WeightKg": "n/a"}}
}
UPDATED = 5  # products changed between a clean first run and the drifting one

#: name, drift the ERP shows, loader settings, clean run first, exit code, words of the
#: one line, rows landed (negative: every product but that many), rows quarantined
SCENARIOS = [
    (
        "never-null price arrives null, an instant in year 10000: quarantined",
        {
            "products": {
                "set": {"ListPrice": None, "CreatedOn": "9999-12-31T23:59:59.999999-05:00"},
                "keys": [1, 2],
            }
        },
        {**BY_CREATED, **QUARANTINE},
        False,
        0,
        [],
        -2,
        2,
    ),
    (
        "custom decimal becomes text: the stream fails",
        WEIGHT_AS_TEXT,
        {},
        True,
        1,
        ["stream 'products'", "column 'spec_weight_kg'", "decimal128(38, 3)", "to string"],
        0,
        0,
    ),
]


def loader_line(stderr: str) -> str:
    """The one line target-s3 failed with (no traceback anywhere)."""
    assert "Traceback" not in stderr, stderr[-4000:]
    lines = [line for line in stderr.splitlines() if "target-s3 failed:" in line]
    assert len(lines) == 1, stderr[-4000:]
    return lines[0]


def counts(lake, folder: str) -> int:
    if not any(key.endswith(".parquet") for key in lake.keys(f"{folder}/")):
        return 0
    glob = f"s3://{lake.config.bucket}/{lake.config.root}/{folder}/**/*.parquet"
    return lake.query(f"SELECT count(*) FROM read_parquet('{glob}', union_by_name = true)")[0][0]


@pytest.mark.parametrize(
    ("drift", "settings", "clean_first", "code", "words", "landed", "quarantined"),
    [s[1:] for s in SCENARIOS],
    ids=[s[0] for s in SCENARIOS],
)
def test_schema_contract(
    project, erp, drift, settings, clean_first, code, words, landed, quarantined
):
    project.env.update(ONLY_PRODUCTS)
    products = len(erp.records("acme", "products"))
    if clean_first:
        project.run(*RUN)
        erp.advance("acme", seconds=60, updated_products=UPDATED)
    erp.set_drift("acme", drift)
    project.env.update(settings)
    result = project.run(*RUN, check=False)
    assert result.returncode == code, result.stderr[-4000:]
    if code:
        line = loader_line(result.stderr)
        for word in words:
            assert word in line, line
    lake = project.lake()
    expected = landed + products if landed < 0 else landed
    if clean_first:
        expected = products  # the clean run's rows, nothing of the drifting one
    assert counts(lake, "products") == expected
    assert counts(lake, "_rejected/products") == quarantined
    if quarantined:
        (reason, record) = lake.query(
            f"SELECT reason, record FROM read_parquet('s3://{lake.config.bucket}/"
            f"{lake.config.root}/_rejected/products/**/*.parquet') LIMIT 1"
        )[0]
        assert reason and json.loads(record)


def test_audit_refused_after_the_data_committed(project, erp, s3):
    """Exit 1 with one line: the audit failed, the data is safe; a re-run duplicates nothing."""
    project.env.update(ONLY_PRODUCTS)
    products = len(erp.records("acme", "products"))

    def deny_audit(method, path, headers, n):
        return (403, "AccessDenied") if method == "PUT" and "/_audit/" in path else None

    with fault_proxy(s3.port, deny_audit) as proxy:
        project.env["TARGET_S3_ENDPOINT_URL"] = proxy.url
        result = project.run(*RUN, check=False)
    assert result.returncode != 0
    line = loader_line(result.stderr)
    for word in (
        "audit could not be written",
        "_audit/",
        "committed and safe",
        "STATE was emitted",
    ):
        assert word in line, line
    lake = project.lake()
    assert counts(lake, "products") == products
    project.env["TARGET_S3_ENDPOINT_URL"] = s3.endpoint_url
    project.run(*RUN)
    assert counts(lake, "products") == products  # the STATE went out: nothing twice
