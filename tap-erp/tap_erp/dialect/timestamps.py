"""How a timestamp placeholder (`{since:<format>}`) is written for an ERP.

Each format says how much of the instant it keeps (`digits`: fractional digits of
the second); a coarser format makes the ERP return rows from just before the bound,
which the incremental reader drops and counts into its page positions.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing as t
import zoneinfo

if t.TYPE_CHECKING:
    from collections.abc import Callable

UTC = datetime.UTC

#: The zone naive timestamps are in (the `site_timezone` setting or the profile's).
_SITE_ZONE: list[datetime.tzinfo] = [UTC]


def set_site_timezone(name: str) -> None:
    """Use `name` (IANA) for the `local*` formats and naive values."""
    _SITE_ZONE[0] = UTC if name in {"UTC", "Etc/UTC"} else zoneinfo.ZoneInfo(name)


def site_timezone() -> datetime.tzinfo:
    """The zone of naive timestamps."""
    return _SITE_ZONE[0]


@dataclasses.dataclass(frozen=True)
class TimestampFormat:
    """One way of writing an instant."""

    render: Callable[[datetime.datetime], t.Any]
    digits: int
    example: str


def _utc(value: datetime.datetime) -> datetime.datetime:
    return value.astimezone(UTC)


def _iso(value: datetime.datetime, spec: str) -> str:
    return _utc(value).replace(tzinfo=None).isoformat(sep="T", timespec=spec) + "Z"


def _naive(value: datetime.datetime, zone: datetime.tzinfo | None, spec: str) -> str:
    local = value.astimezone(zone or site_timezone()).replace(tzinfo=None)
    return local.isoformat(sep=" ", timespec=spec)


def _tryton(value: datetime.datetime) -> dict[str, t.Any]:
    v = _utc(value)
    return {
        "__class__": "datetime",
        "year": v.year,
        "month": v.month,
        "day": v.day,
        "hour": v.hour,
        "minute": v.minute,
        "second": v.second,
        "microsecond": v.microsecond,
    }


def _epoch(value: datetime.datetime, scale: int) -> int:
    delta = _utc(value) - datetime.datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * scale + delta.microseconds * scale // 1_000_000


FORMATS: dict[str, TimestampFormat] = {
    "iso": TimestampFormat(
        lambda v: _iso(v, "microseconds"), 6, "2024-03-05T09:10:11.123456Z (UTC)"
    ),
    "iso_millis": TimestampFormat(
        lambda v: _iso(v, "milliseconds"), 3, "2024-03-05T09:10:11.123Z (UTC)"
    ),
    "iso_seconds": TimestampFormat(lambda v: _iso(v, "seconds"), 0, "2024-03-05T09:10:11Z (UTC)"),
    "odata_v2": TimestampFormat(
        lambda v: f"datetimeoffset'{_iso(v, 'milliseconds')}'",
        3,
        "datetimeoffset'2024-03-05T09:10:11.123Z'",
    ),
    "local": TimestampFormat(
        lambda v: _naive(v, None, "microseconds"), 6, "2024-03-05 11:10:11.123456 (site zone)"
    ),
    "local_seconds": TimestampFormat(
        lambda v: _naive(v, None, "seconds"), 0, "2024-03-05 11:10:11 (site zone)"
    ),
    "naive_utc": TimestampFormat(
        lambda v: _naive(v, UTC, "microseconds"), 6, "2024-03-05 09:10:11.123456 (UTC)"
    ),
    "naive_utc_seconds": TimestampFormat(
        lambda v: _naive(v, UTC, "seconds"), 0, "2024-03-05 09:10:11 (UTC)"
    ),
    "tryton": TimestampFormat(
        _tryton, 6, '{"__class__": "datetime", "year": 2024, ...} (UTC, Tryton JSON)'
    ),
    "epoch": TimestampFormat(lambda v: _epoch(v, 1), 0, "1709629811 (seconds)"),
    "epoch_ms": TimestampFormat(lambda v: _epoch(v, 1000), 3, "1709629811123 (milliseconds)"),
    "date": TimestampFormat(lambda v: _utc(v).date().isoformat(), -1, "2024-03-05 (UTC date)"),
}


def before_repeated_wall_times(value: datetime.datetime) -> datetime.datetime:
    """An instant at or before `value` from which the site's wall-clock text is never
    lower again: `value`, unless its naive local time is in an hour that repeats later
    (the hour before summer time ends, read the first time). Then the start of that
    hour: after the change the clocks show those times again, and an ERP that compares
    naive local text finds a row saved then only from there."""
    zone = site_timezone()
    wall = value.astimezone(zone).replace(tzinfo=None)
    first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    gap = t.cast("datetime.timedelta", first.utcoffset()) - t.cast(
        "datetime.timedelta", second.utcoffset()
    )
    if gap <= datetime.timedelta(0) or value.astimezone(UTC) != first.astimezone(UTC):
        return value  # no repeat, or already the second reading
    # The clocks go back at an instant in (value, value + gap]: find it.
    lo, hi = value.astimezone(UTC), value.astimezone(UTC) + gap
    offset = first.utcoffset()
    while hi - lo > datetime.timedelta(microseconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(zone).utcoffset() == offset:
            lo = mid
        else:
            hi = mid
    repeated_from = hi.astimezone(zone).replace(tzinfo=None)  # the wall time right after
    return repeated_from.replace(tzinfo=zone, fold=0).astimezone(UTC)
