"""`meltano run tap-erp target-postgres` into a real PostgreSQL server, upsert mode.

The same tap as the lake's, MeltanoLabs' target-postgres as declared in meltano.yml
(`load_method: upsert`, `hard_delete: true`, `add_record_metadata: true`), a
PostgreSQL cluster of the test's own. After each run of the table below, every table
holds exactly the ERP's rows: the same keys, every standard column, decimals exact.
Rows the ERP deleted count as gone when `_sdc_deleted_at` is set (target-postgres
marks them; it removes rows only for ACTIVATE_VERSION messages).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import psycopg
from erp_testing.expected import standard_rows
from erp_testing.project import STREAMS
from erp_testing.standard_model import KEYS

RUN = ("--environment=demo", "run", "tap-erp", "target-postgres")
SCHEMA = "acme"  # default_target_schema: the client id

# What the ERP does before each run, in order; every run must leave PostgreSQL equal
# to the ERP (deleted rows included).
RUNS = [
    ("full", None),
    (
        "incremental",
        {"seconds": 3600, "new_orders": 5, "updated_orders": 7, "updated_lines": 9,
         "new_customers": 2, "updated_customers": 4, "updated_vendors": 2,
         "updated_products": 3},
    ),
    ("deletes", {"seconds": 3600, "deleted_customers": 4, "deleted_orders": 4}),
]  # fmt: skip


def landed_rows(postgres, stream: str) -> list[dict[str, Any]]:
    """The live rows of a table (not marked deleted), as psycopg types them."""
    with psycopg.connect(postgres.dsn) as conn, conn.cursor() as cur:
        cur.execute(f'SELECT * FROM "{SCHEMA}"."{stream}" WHERE _sdc_deleted_at IS NULL')
        names = [c.name for c in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def same(expected: Any, landed: Any) -> bool:
    """An ERP value (as JSON gives it) and the value PostgreSQL holds are the same."""
    if expected is None or landed is None:
        return expected is None and landed is None
    if isinstance(expected, float):  # money and quantities: exact decimals only
        return isinstance(landed, Decimal) and Decimal(str(expected)) == landed
    if isinstance(landed, Decimal):
        return Decimal(str(expected)) == landed
    if isinstance(landed, datetime):
        instant = datetime.fromisoformat(expected)
        if landed.tzinfo is None:  # TIMESTAMP without time zone holds UTC
            instant = instant.astimezone(UTC).replace(tzinfo=None)
        return instant == landed
    if isinstance(landed, date):
        return landed.isoformat() == expected
    return expected == landed


def assert_tables_equal_erp(postgres, erp) -> None:
    for stream in STREAMS:
        key = KEYS[stream][1]
        expected = {
            tuple(r[k] for k in key): r
            for r in standard_rows(erp.records("acme", stream), stream, "acme")
        }
        assert expected, stream
        landed = {tuple(r[k] for k in key): r for r in landed_rows(postgres, stream)}
        assert landed.keys() == expected.keys(), f"{stream}: keys differ"
        for k, want in expected.items():
            have = landed[k]
            wrong = [c for c, v in want.items() if not same(v, have.get(c, "<no column>"))]
            assert not wrong, f"{stream} {k}: {[(c, want[c], have.get(c)) for c in wrong]}"


def test_full_incremental_and_delete_runs_leave_postgres_equal_to_the_erp(project, erp, postgres):
    project.env.update(postgres.loader_env())
    for name, change in RUNS:
        if change:
            erp.advance("acme", **change)
        result = project.run(*RUN)
        assert "RECORD line(s) handed to target-postgres" in result.stderr, name
        assert_tables_equal_erp(postgres, erp)
