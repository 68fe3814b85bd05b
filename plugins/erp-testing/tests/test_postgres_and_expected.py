"""The PostgreSQL server helper and the ERP's rows in standard columns."""

from __future__ import annotations

import psycopg
import pytest
from erp_testing.expected import standard_rows
from erp_testing.postgres import postgres_server


def test_a_server_of_its_own_answers_and_is_gone_afterwards():
    with postgres_server() as pg, psycopg.connect(pg.dsn) as conn:
        row = conn.execute("SELECT current_database(), current_setting('port')").fetchone()
        assert row == (pg.database, str(pg.port))
        assert pg.loader_env()["TARGET_POSTGRES_PORT"] == str(pg.port)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg.dsn, connect_timeout=2)


NATIVE = {
    "CustomerKey": 7,
    "CardName": "Acme",
    "BillTo": {"City": "Lyon", "CountryCode": "FR"},
    "U_Segment": "retail",
    "Internal": "dropped",
}

# column, value in the standard row (renames, object keys, client fields, absences)
COLUMNS = [
    ("customer_id", 7),
    ("customer_name", "Acme"),
    ("billing_city", "Lyon"),
    ("billing_country", "FR"),
    ("billing_street", None),
    ("custom_segment", "retail"),
    ("email", None),
]


@pytest.mark.parametrize(("column", "value"), COLUMNS)
def test_native_rows_get_the_maps_columns(column, value):
    (row,) = standard_rows([NATIVE], "customers", "acme")
    assert row[column] == value
    assert "Internal" not in row and "CardName" not in row
