"""Naive site-local times where summer time ends (Europe/Berlin, 25 October 2026: at
01:00 UTC the clocks go back from 03:00 to 02:00): how the tap reads them and where an
incremental read starts after a bookmark in that hour."""

from __future__ import annotations

import datetime as dt

import pytest
from tap_erp.dialect import decoders, timestamps

UTC = dt.UTC


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def berlin():
    timestamps.set_site_timezone("Europe/Berlin")
    yield
    timestamps.set_site_timezone("UTC")


@pytest.mark.parametrize(
    ("bookmark", "reads_from"),
    [
        ("2026-10-24 23:59:59", "2026-10-24 23:59:59"),  # 01:59:59 CEST: no repeat
        ("2026-10-25 00:00:00", "2026-10-25 00:00:00"),  # 02:00 CEST: the hour's start
        ("2026-10-25 00:50:00", "2026-10-25 00:00:00"),  # 02:50 CEST: 02:00 comes again
        ("2026-10-25 00:59:59.999999", "2026-10-25 00:00:00"),
        ("2026-10-25 01:00:00", "2026-10-25 01:00:00"),  # 02:00 CET: the second reading
        ("2026-10-25 01:20:00", "2026-10-25 01:20:00"),
        ("2026-03-29 01:30:00", "2026-03-29 01:30:00"),  # spring: an hour skipped, none repeated
        ("2026-07-01 12:00:00", "2026-07-01 12:00:00"),
    ],
)
def test_a_bookmark_in_the_first_reading_reads_from_the_start_of_the_hour(
    berlin, bookmark, reads_from
):
    assert timestamps.before_repeated_wall_times(utc(bookmark)) == utc(reads_from)


def test_a_utc_site_repeats_nothing():
    assert timestamps.before_repeated_wall_times(utc("2026-10-25 00:50:00")) == utc(
        "2026-10-25 00:50:00"
    )


@pytest.mark.parametrize(
    ("sent", "read_as"),
    [
        ("2026-10-25 01:59:59.000001", "2026-10-24T23:59:59.000001Z"),  # CEST
        ("2026-10-25 02:20:00", "2026-10-25T00:20:00.000000Z"),  # twice: the earlier
        ("2026-10-25 02:50:00", "2026-10-25T00:50:00.000000Z"),
        ("2026-10-25 03:00:00", "2026-10-25T02:00:00.000000Z"),  # CET
    ],
)
def test_a_naive_local_time_is_read_as_its_earlier_instant(berlin, sent, read_as):
    """The earlier reading keeps the ERP's order: wall times sort like these instants."""
    schema = {"properties": {"modified": {"type": ["string"], "format": "date-time"}}}
    (row,) = decoders.naive_timestamps(schema)([{"modified": sent}])
    assert row["modified"] == read_as
