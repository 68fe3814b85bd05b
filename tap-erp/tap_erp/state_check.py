"""The incoming state, checked before any stream reads from it.

A state is what Meltano kept from earlier runs, or what someone set by hand. Each
bookmark must have the shape the tap writes (``replication_key``,
``replication_key_value`` as an ISO 8601 date-time, ``bookmark_keys`` as a list),
name the stream's own replication key, and not lie in the future: a bookmark ahead
of now would skip every change until then, one under another key would re-read
everything. Any of these fails the run before a record is read, with one line naming
the stream and the fix.
"""

from __future__ import annotations

import datetime as dt
import os
import typing as t

from tap_erp.errors import TapERPError

#: How far a bookmark may lie ahead of this machine's clock (ERP clocks drift a little).
FUTURE_TOLERANCE = dt.timedelta(hours=1)

STATE_KEYS = ("replication_key", "replication_key_value", "bookmark_keys")


class StateError(TapERPError):
    """The incoming state cannot be used as it is."""


def fix_hint() -> str:
    """How to repair the state (the environment named when Meltano runs the tap)."""
    environment = os.environ.get("MELTANO_ENVIRONMENT")
    meltano = f"meltano --environment={environment}" if environment else "meltano"
    return (
        f"fix it with `{meltano} state clear <state_id>` (re-extracts everything), "
        f"`{meltano} state set <state_id> '<json>'`, or `scripts/backfill.py` for one "
        f"stream (`{meltano} state list` shows the state id)"
    )


def _fail(where: str, problem: str) -> t.NoReturn:
    raise StateError(f"state: {where} {problem}; {fix_hint()}")


def _short(value: t.Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _parse_instant(value: str) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def check_bookmark(
    stream: str,
    bookmark: t.Any,
    replication_key: str | None,
    now: dt.datetime,
    where: str = "",
) -> None:
    """Raise `StateError` unless ``bookmark`` is one the stream can resume from."""
    place = f"stream '{stream}'{where}"
    if not isinstance(bookmark, dict):
        _fail(place, f"is {_short(bookmark)}, not an object")
    for partition in bookmark.get("partitions") or []:
        check_bookmark(stream, partition, replication_key, now, f" (partition {partition!r})")
    key = bookmark.get("replication_key")
    value = bookmark.get("replication_key_value")
    if key is None and value is None:
        return
    if replication_key is None:
        _fail(place, "has a bookmark but the stream is read whole (no replication key)")
    if key != replication_key:
        _fail(
            place,
            f"bookmarks replication key {_short(key)}, but the stream's is "
            f"'{replication_key}' (resuming would re-extract everything)",
        )
    if not isinstance(value, str):
        _fail(place, f"bookmark {_short(value)} is not an ISO 8601 date-time text")
    instant = _parse_instant(value)
    if instant is None:
        _fail(place, f"bookmark {_short(value)} is not an ISO 8601 date-time")
    try:
        ahead = instant - now
    except OverflowError:  # pragma: no cover - year 1 with a negative offset
        _fail(place, f"bookmark {_short(value)} is out of range")
    if ahead > FUTURE_TOLERANCE:
        _fail(
            place,
            f"bookmark {value} is later than now ({now.isoformat(timespec='seconds')}); "
            "changes before it would never be extracted",
        )
    keys = bookmark.get("bookmark_keys")
    if keys is not None and not isinstance(keys, list):
        _fail(place, f"bookmark_keys {_short(keys)} is not a list")


def check_state(
    state: t.Any,
    replication_keys: t.Mapping[str, str | None],
    now: dt.datetime | None = None,
) -> list[str]:
    """Check a whole state; returns the bookmarked streams the tap does not know."""
    now = now or dt.datetime.now(dt.UTC)
    if state is None:
        return []
    if not isinstance(state, dict):
        _fail("is", f"{_short(state)}, not an object with 'bookmarks'")
    bookmarks = state.get("bookmarks", {})
    if not isinstance(bookmarks, dict):
        _fail("'bookmarks'", f"is {_short(bookmarks)}, not an object of streams")
    unknown = []
    for stream, bookmark in bookmarks.items():
        if stream not in replication_keys:
            unknown.append(stream)
            continue
        check_bookmark(stream, bookmark, replication_keys[stream], now)
    return unknown
