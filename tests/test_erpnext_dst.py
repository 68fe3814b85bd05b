"""An ERPNext site where summer time ends, end to end (`meltano --environment=kestrel
run tap-erp target-s3` against a sandbox whose clock stands at the change): rows edited
in the first and in the second reading of the repeated hour both land, the first at its
exact instant, the second as the earlier reading of its naive time (tap-erp/README.md,
"Naive site times"), and no order is lost."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from test_erpnext_odoo_clients import CLIENTS, client_env, erp_change_times

# Europe/Berlin, 25 October 2026: at 01:00 UTC the clocks go from 03:00 back to 02:00,
# so the naive local times 02:00-02:59 name two instants each. The tap reads such a
# time as the earlier one and, after a bookmark in the first reading of that hour,
# asks for changes from its start (02:00), since Frappe compares naive local text.
DST_CLOCK = "2026-10-24T23:30:00Z"  # 01:30 CEST


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


#: (advance seconds, the edited order's instant, the instant the lake holds for it)
DST_EDITS = [
    # 02:50 CEST, the first reading of the repeated hour: exact.
    (4800, at("2026-10-25T00:50:00+00:00"), at("2026-10-25T00:50:00+00:00")),
    # 02:20 CET, the second reading: Frappe keeps "02:20:00", read as the earlier one.
    (1800, at("2026-10-25T01:20:00+00:00"), at("2026-10-25T00:20:00+00:00")),
]


@pytest.fixture(scope="module")
def dst_erp():
    """A sandbox whose clock stands just before summer time ends in Berlin."""
    from erp_sandbox.testing import sandbox_server

    with sandbox_server(orders=60, tenants=["kestrel"], clock=DST_CLOCK) as server:
        yield server


def test_an_erpnext_row_edited_in_the_repeated_hour_is_landed_not_lost(project, dst_erp):
    client_env(project, dst_erp, "kestrel", TAP_ERP__SELECT=json.dumps(["sales_orders.*"]))
    run = ("--environment=kestrel", "run", "tap-erp", "target-s3")
    project.run(*run)
    for seconds, edited_at, landed_at in DST_EDITS:
        (order,) = dst_erp.advance("kestrel", seconds=seconds, updated_orders=1)["changed_sets"][
            "Sales Order"
        ]
        assert erp_change_times(dst_erp, CLIENTS["kestrel"])[order] == edited_at
        project.run(*run)
        lake = project.lake(client_id="kestrel", prefix="clients")
        last_run = dict(
            lake.query(
                f"SELECT order_id, updated_at FROM {lake.table('sales_orders')} WHERE _run_id = "
                f"(SELECT arg_max(_run_id, _loaded_at) FROM {lake.table('sales_orders')})"
            )
        )
        assert last_run.get(order) == landed_at, (order, last_run)
    total = lake.query(f"SELECT count(DISTINCT order_id) FROM {lake.table('sales_orders')}")
    assert total[0][0] == dst_erp.stats("kestrel")["counts"]["sales_orders"]
