"""`offset_ceiling`: an ERP that serves at most N rows (offset + limit) of one result set
(NetSuite: 100,000). Incremental reads start a new result set at the last change time
read (a time window) before reaching it, so reads of any size lose and repeat nothing;
what no time window can split fails with one clear line."""

from __future__ import annotations

import datetime
import types

import pytest
from tap_erp.dialect import spec
from tap_erp.paging import (
    IncrementalReader,
    KeysetPosition,
    OffsetCeilingError,
    PositionalPager,
    full_table_pages,
)

UTC = datetime.UTC
START = datetime.datetime(2024, 1, 1, tzinfo=UTC)


class MemoryPager(PositionalPager):
    """Offset paging over rows held in memory, in (ts, id) order, refusing the ceiling."""

    def __init__(self, rows: list[dict], *, size: int, ceiling: int) -> None:
        self.paginator = spec.OffsetPaginator(offset_ceiling=ceiling)
        self.size = size
        self.rows = rows
        self.request = types.SimpleNamespace(uses=lambda _name: False)
        self.offsets: list[int] = []

    def fetch(self, filters, position):
        self.check_ceiling(position + self.size)
        self.offsets.append(position)
        since = filters.get("since")
        matching = [r for r in self.rows if since is None or self.instant(r) >= since]
        page = matching[position : position + self.size]
        return [dict(r) for r in page], position + len(page) < len(matching)

    @staticmethod
    def instant(row: dict) -> datetime.datetime:
        return datetime.datetime.fromisoformat(row["ts"])


def rows_at(seconds: list[int]) -> list[dict]:
    """Rows with these change times (seconds after START), in (ts, id) order."""
    stamps = sorted(seconds)
    return [
        {"id": i, "ts": (START + datetime.timedelta(seconds=s)).isoformat()}
        for i, s in enumerate(stamps)
    ]


def read_all(pager: MemoryPager) -> list[dict]:
    reader = IncrementalReader(
        pager=pager, replication_key="ts", primary_keys=["id"], position=KeysetPosition()
    )
    return [row for part in reader.read_pages(None) for row in part]


#: change times -> (page size, ceiling): reads far larger than the ceiling.
SCENARIOS = {
    "distinct times": (list(range(5_000)), 50, 200),
    "ties across pages": ([s // 30 for s in range(5_000)], 50, 200),
    "ties as large as the ceiling allows": ([s // 150 for s in range(3_000)], 50, 200),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_an_incremental_read_past_the_ceiling_reads_each_row_once(name):
    seconds, size, ceiling = SCENARIOS[name]
    pager = MemoryPager(rows_at(seconds), size=size, ceiling=ceiling)
    read = read_all(pager)
    assert [r["id"] for r in read] == list(range(len(seconds)))  # no loss, no repeat
    assert max(pager.offsets) + size <= ceiling


def test_one_change_time_with_more_rows_than_the_ceiling_is_one_clear_line():
    pager = MemoryPager(rows_at([7] * 300), size=50, ceiling=200)
    with pytest.raises(OffsetCeilingError) as raised:
        read_all(pager)
    assert str(raised.value) == (
        "the ERP serves at most 200 rows of one result set (offset_ceiling) and this read "
        "needs rows up to 246: more rows share the change time 2024-01-01T00:00:07.000000Z "
        "than that, and no time window can split them"
    )


def test_a_snapshot_larger_than_the_ceiling_is_one_clear_line():
    pager = MemoryPager(rows_at(list(range(300))), size=50, ceiling=200)
    pager.pages = PositionalPager.pages.__get__(pager)
    with pytest.raises(OffsetCeilingError, match="at most 200 rows"):
        list(full_table_pages(pager, ["id"]))
