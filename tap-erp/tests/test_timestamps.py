"""canonical_timestamp: the same text as the full parse, for every input shape."""

from __future__ import annotations

import random

import pytest
from tap_erp import paging
from tap_erp.paging import TimestampRangeError, canonical_timestamp, normalize_timestamp


def full_parse(raw: object) -> str | type[BaseException]:
    try:
        return normalize_timestamp(raw)[1]  # type: ignore[arg-type]
    except (ValueError, TypeError, OverflowError) as exc:
        return type(exc)


def fast(raw: object) -> str | type[BaseException]:
    try:
        return canonical_timestamp(raw)
    except (ValueError, TypeError, OverflowError) as exc:
        return type(exc)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2023-01-01T02:00:41.656645+02:00", "2023-01-01T00:00:41.656645Z"),
        ("2023-01-01T00:30:00.5-05:00", "2023-01-01T05:30:00.500000Z"),
        ("2023-01-01T00:30:00+05:30", "2022-12-31T19:00:00.000000Z"),  # full parse
        ("2024-02-29T23:59:59Z", "2024-02-29T23:59:59.000000Z"),
        ("2023-12-31T23:00:00.1234567-01:00", "2024-01-01T00:00:00.123456Z"),
        ("2023-06-01T12:00:00", "2023-06-01T12:00:00.000000Z"),  # naive is UTC
    ],
)
def test_known_values(raw, expected):
    assert canonical_timestamp(raw) == expected == normalize_timestamp(raw)[1]


@pytest.mark.parametrize(
    "raw",
    ["2023-02-30T01:00:00Z", "2023-01-01T24:00:00Z", "2023-01-01T01:60:00Z", "x", "", None, 5],
)
def test_invalid_values_fail_like_the_full_parse(raw):
    assert fast(raw) == full_parse(raw)
    assert isinstance(fast(raw), type)


@pytest.mark.parametrize(
    "raw",
    ["0001-01-01T00:00:00+02:00", "9999-12-31T23:59:59.999999-05:00", "0001-01-01T01:30:00+05:30"],
)
def test_instants_outside_utc_years_1_to_9999_are_one_clear_error(raw):
    for normalize in (canonical_timestamp, lambda value: normalize_timestamp(value)[1]):
        with pytest.raises(TimestampRangeError, match=r"outside 0001-01-01\.\.9999-12-31 UTC"):
            normalize(raw)


def test_random_shapes_match_the_full_parse(monkeypatch):
    monkeypatch.setattr(paging, "HOUR_CACHE_SIZE", 50)  # the cache also gets cleared
    rnd = random.Random(20261123)
    for _ in range(30_000):
        year = rnd.choice(["2023", "1999", "0001", "9999", "2024"])
        month, day = rnd.randint(0, 13), rnd.randint(0, 32)
        hour, minute, second = rnd.randint(0, 25), rnd.randint(0, 61), rnd.randint(0, 61)
        digits = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(0, 9)))
        fraction = rnd.choice(["", "." + digits])
        zone = rnd.choice(["", "Z", "+02:00", "-05:00", "+05:30", "+23:00", "-24:00", "z", "+0200"])
        sep = rnd.choice("TTT t")
        clock = f"{hour:02d}:{minute:02d}:{second:02d}"
        raw = f"{year}-{month:02d}-{day:02d}{sep}{clock}{fraction}{zone}"
        assert fast(raw) == full_parse(raw), raw
