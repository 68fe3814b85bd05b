"""Paging strategies and the keyset reading that never skips a row.

Offset and page-number paging over a live table are unsafe on their own: a row
updated while a client pages moves to the end and shifts the rows behind it.
``read_incremental`` therefore emulates keyset paging on top of them: every
request filters ``since = last timestamp read`` and starts at the position of the
next unread row inside that timestamp's tie group, after verifying that the row
just before it (the anchor) is still the last row read. Cursor paging follows the
server's ``next`` links, which are keyset positions already.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import re
import typing as t

from tap_erp.errors import TapERPError

if t.TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterator

    from tap_erp.http import HttpClient
    from tap_erp.profiles import Profile

LOGGER = logging.getLogger("tap-erp.paging")

Row = dict[str, t.Any]
Rows = list[Row]
#: Applied to each page's rows before they are read (e.g. dropping unknown fields).
PageHook = t.Callable[[Rows], Rows]

UTC = datetime.UTC
#: Rows handed on at a time: a part's rows are still in the CPU cache while they are
#: tracked, mapped and encoded (a whole page of thousands of rows is not).
PART_ROWS = 500


def format_timestamp(value: datetime.datetime) -> str:
    """UTC, ``Z``, six fractional digits: the tap's canonical timestamp text.

    Fixed width, so these strings sort like the instants they denote.
    """
    # isoformat is implemented in C and pads the year to four digits; in UTC it always
    # ends with "+00:00".
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_timestamp(value: str) -> datetime.datetime:
    """Parse an ISO 8601 timestamp; naive values are taken as UTC."""
    result = datetime.datetime.fromisoformat(value)
    return result if result.tzinfo else result.replace(tzinfo=UTC)


def normalize_timestamp(value: str) -> tuple[datetime.datetime, str]:
    """The instant of an ISO 8601 timestamp and its canonical UTC text."""
    instant = parse_timestamp(value).astimezone(UTC)
    return instant, format_timestamp(instant)


#: ``YYYY-MM-DDTHH`` (local), ``:MM:SS``, fraction of 1-6 digits, zone: ``Z``, a
#: whole-hour offset or none. Minutes, seconds and fraction are the same in UTC.
_SIMPLE_TIMESTAMP = re.compile(
    r"(\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]))(:[0-5]\d:[0-5]\d)(?:\.(\d{1,6}))?"
    r"(Z|[+-](?:[01]\d|2[0-3]):00)?",
    re.ASCII,
)
#: (local date and hour, zone) -> UTC date and hour; cleared past HOUR_CACHE_SIZE.
_UTC_HOURS: dict[tuple[str, str | None], str] = {}
HOUR_CACHE_SIZE = 100_000


def canonical_timestamp(raw: t.Any) -> str:
    """``format_timestamp(parse_timestamp(raw))``, converting each hour only once.

    In the usual shapes (see ``_SIMPLE_TIMESTAMP``) only the date and hour change
    in UTC: that part is converted once per hour and zone and the rest is copied.
    Anything else takes the full parse, with its errors.
    """
    match = _SIMPLE_TIMESTAMP.fullmatch(raw) if type(raw) is str else None
    if match is not None:
        local, clock, fraction, zone = match.groups()
        hour = _UTC_HOURS.get((local, zone))
        if hour is None:
            try:
                instant = parse_timestamp(f"{local}:00:00{zone or ''}")
            except ValueError:
                return format_timestamp(parse_timestamp(raw))  # the date is invalid
            if len(_UTC_HOURS) >= HOUR_CACHE_SIZE:
                _UTC_HOURS.clear()
            hour = _UTC_HOURS[(local, zone)] = format_timestamp(instant)[:13]
        return f"{hour}{clock}.{(fraction or '').ljust(6, '0')}Z"
    return format_timestamp(parse_timestamp(raw))


class Pager:
    """Requests pages of one entity in one paging style."""

    style: str = ""

    def __init__(self, http: HttpClient, profile: Profile, page_size: int) -> None:
        """Keep the transport, the style's parameter names and the page size."""
        self.http = http
        self.params = profile.style(self.style)
        self.records_path = profile.records_path
        self.size = page_size

    def rows_of(self, body: t.Any) -> Rows:
        """The rows of a decoded page."""
        rows = body.get(self.records_path) if isinstance(body, dict) else None
        if not isinstance(rows, list):
            msg = f"unexpected response: no list under '{self.records_path}'"
            raise TapERPError(msg)
        return rows


class PositionalPager(Pager):
    """Offset or page-number paging: rows addressed by their position."""

    def fetch(self, url: str, filters: dict[str, str], position: int) -> tuple[Rows, bool]:
        """Rows from ``position`` on (at least two when available) and whether more exist.

        When ``position`` is an anchor, the returned first row must be the row that
        sat at that position when the following rows were read.
        """
        raise NotImplementedError

    def scan(self, url: str) -> Iterator[Rows]:
        """Every page of an unfiltered listing, first to last."""
        position = 0
        while True:
            rows, more = self.fetch(url, {}, position)
            position += len(rows)
            yield rows
            if not more or not rows:
                return


class OffsetPager(PositionalPager):
    """``?offset=N&limit=M``; the last page has fewer than ``limit`` rows."""

    style = "offset"

    def fetch(self, url: str, filters: dict[str, str], position: int) -> tuple[Rows, bool]:
        """One request from ``position``."""
        params = dict(filters)
        params[self.params["offset_param"]] = position
        params[self.params["limit_param"]] = self.size
        rows = self.rows_of(self.http.get_json(url, params))
        return rows, len(rows) >= self.size


class PagePager(PositionalPager):
    """``?page=N&page_size=M`` with a ``has_more`` flag; pages start at ``first_page``."""

    style = "page"

    def _page(self, url: str, filters: dict[str, str], page: int) -> tuple[Rows, bool]:
        params = dict(filters)
        params[self.params["page_param"]] = page
        params[self.params["size_param"]] = self.size
        body = self.http.get_json(url, params)
        rows = self.rows_of(body)
        more = bool(body.get(self.params["has_more_field"]))
        return rows, more

    def fetch(self, url: str, filters: dict[str, str], position: int) -> tuple[Rows, bool]:
        """The page holding ``position``, cut before it.

        When ``position`` is the last row of its page, the next page is read first
        and the anchor's page after it: rows only ever leave a tie group (an
        updated row moves to the end), so an anchor still in place afterwards was
        in place when the next page was read.
        """
        page = position // self.size + int(self.params.get("first_page", 1))
        skip = position % self.size
        if skip < self.size - 1:
            rows, more = self._page(url, filters, page)
            return rows[skip:], more
        following, more = self._page(url, filters, page + 1)
        rows, more_here = self._page(url, filters, page)
        anchor = rows[skip:]
        if not anchor:
            return [], more_here
        return anchor + following, more

    def scan(self, url: str) -> Iterator[Rows]:
        """Pages 1, 2, ... until ``has_more`` is false."""
        page = int(self.params.get("first_page", 1))
        while True:
            rows, more = self._page(url, {}, page)
            yield rows
            if not more or not rows:
                return
            page += 1


class CursorPager(Pager):
    """``?limit=M`` first, then the ``next`` link until it is null."""

    style = "cursor"

    def first(self, url: str, filters: dict[str, str]) -> tuple[Rows, str | None]:
        """The first page and the next link."""
        params = dict(filters)
        params[self.params["limit_param"]] = self.size
        return self._split(self.http.get_json(url, params))

    def follow(self, next_url: str) -> tuple[Rows, str | None]:
        """The page a ``next`` link points to."""
        return self._split(self.http.get_json(self.http.url(next_url)))

    def _split(self, body: t.Any) -> tuple[Rows, str | None]:
        rows = self.rows_of(body)
        next_url = body.get(self.params["next_field"])
        return rows, next_url or None


PAGERS: dict[str, type[Pager]] = {
    "offset": OffsetPager,
    "page": PagePager,
    "cursor": CursorPager,
}


def make_pager(style: str, http: HttpClient, profile: Profile, page_size: int) -> Pager:
    """The pager of a paging style."""
    return PAGERS[style](http, profile, page_size)


def parts_of(rows: Rows) -> Iterator[Rows]:
    """`rows` in slices of at most `PART_ROWS`."""
    for start in range(0, len(rows), PART_ROWS):
        yield rows[start : start + PART_ROWS]


@dataclasses.dataclass
class KeysetPosition:
    """Where an incremental read stands.

    ``last_ts`` is the latest replication timestamp read; ``group_count`` how many
    rows with exactly that timestamp the current result set yielded so far (they sit
    at positions ``0 .. group_count-1`` when rows are filtered by ``>= last_ts``);
    ``anchor`` the key of the last of them; ``emitted`` the keys emitted at
    ``last_ts`` (it resets whenever the timestamp advances). ``prior_ts`` and
    ``prior_keys`` come from the bookmark: rows at ``prior_ts`` with those keys were
    emitted by an earlier sync and are skipped.
    """

    prior_ts: datetime.datetime | None = None
    prior_keys: frozenset = frozenset()
    #: ``last_ts`` as canonical text (see `format_timestamp`), which sorts like it.
    last_text: str | None = None
    group_count: int = 0
    anchor: Hashable | None = None
    emitted: set = dataclasses.field(default_factory=set)
    regroups: int = 0

    @property
    def last_ts(self) -> datetime.datetime | None:
        """The latest replication timestamp read."""
        return None if self.last_text is None else parse_timestamp(self.last_text)

    @property
    def prior_text(self) -> str | None:
        """``prior_ts`` as canonical text."""
        return None if self.prior_ts is None else format_timestamp(self.prior_ts)


def key_function(primary_keys: t.Sequence[str]) -> Callable[[Row], Hashable]:
    """Row → key: the value itself for one key field, a tuple for several."""
    if len(primary_keys) == 1:
        field = primary_keys[0]
        return lambda row: row[field]
    fields = tuple(primary_keys)
    return lambda row: tuple(row[f] for f in fields)


class IncrementalReader:
    """Reads an incremental entity in (timestamp, key) order without skipping rows."""

    def __init__(
        self,
        *,
        pager: Pager,
        url: str,
        replication_key: str,
        primary_keys: t.Sequence[str],
        since_param: str,
        before_param: str | None,
        position: KeysetPosition,
        page_hook: PageHook | None = None,
    ) -> None:
        """Set up a read; ``position`` carries over between windows."""
        self.pager = pager
        self.url = url
        self.rk = replication_key
        self.key = key_function(primary_keys)
        self.since_param = since_param
        self.before_param = before_param
        self.position = position
        self.page_hook = page_hook

    def _filters(
        self, since: datetime.datetime | None, before: datetime.datetime | None
    ) -> dict[str, str]:
        filters: dict[str, str] = {}
        if since is not None:
            filters[self.since_param] = format_timestamp(since)
        if before is not None:
            if not self.before_param:
                msg = "the profile has no 'incremental.before_param' for windows"
                raise TapERPError(msg)
            filters[self.before_param] = format_timestamp(before)
        return filters

    def _new_rows(self, rows: Rows) -> Rows:
        """Track the position through ``rows``; the ones not emitted before.

        Timestamps are compared as canonical text, which orders like the instants.
        """
        pos = self.position
        rk = self.rk
        key = self.key
        prior_text = pos.prior_text
        new: Rows = []
        keep = new.append
        for row in rows:
            text = canonical_timestamp(row[rk])
            row[rk] = text
            if text != pos.last_text:
                if pos.last_text is not None and text < pos.last_text:
                    msg = f"rows out of order: {text} after {pos.last_text} at {self.url}"
                    raise TapERPError(msg)
                pos.last_text = text
                pos.group_count = 0
                pos.emitted = set(pos.prior_keys) if text == prior_text else set()
            row_key = key(row)
            pos.group_count += 1
            pos.anchor = row_key
            if row_key in pos.emitted:
                continue
            pos.emitted.add(row_key)
            keep(row)
        return new

    def _new_parts(self, rows: Rows) -> Iterator[Rows]:
        """`_new_rows` of a page in parts of `PART_ROWS`."""
        for part in parts_of(rows):
            yield self._new_rows(part)

    def _is_anchor(self, row: Row) -> bool:
        pos = self.position
        return canonical_timestamp(row[self.rk]) == pos.last_text and self.key(row) == pos.anchor

    def read_pages(
        self, since: datetime.datetime | None, before: datetime.datetime | None = None
    ) -> Iterator[Rows]:
        """Every row with ``since <= ts < before`` not emitted before, in order, in
        parts of at most `PART_ROWS` rows."""
        if isinstance(self.pager, CursorPager):
            yield from self._read_cursor(since, before)
        else:
            yield from self._read_positional(t.cast("PositionalPager", self.pager), since, before)

    def _read_cursor(
        self, since: datetime.datetime | None, before: datetime.datetime | None
    ) -> Iterator[Rows]:
        pager = t.cast("CursorPager", self.pager)
        rows, next_url = pager.first(self.url, self._filters(since, before))
        while True:
            if self.page_hook is not None:
                rows = self.page_hook(rows)
            yield from self._new_parts(rows)
            if not next_url:
                return
            rows, next_url = pager.follow(next_url)

    def _read_positional(
        self,
        pager: PositionalPager,
        since: datetime.datetime | None,
        before: datetime.datetime | None,
    ) -> Iterator[Rows]:
        pos = self.position
        # A new result set (new window or new read): no group positions known yet.
        pos.group_count = 0
        while True:
            last_ts = pos.last_ts
            in_range = last_ts is not None and (since is None or last_ts >= since)
            query_since = last_ts if in_range else since
            filters = self._filters(query_since, before)
            if in_range and pos.group_count > 0:
                rows, more = pager.fetch(self.url, filters, pos.group_count - 1)
                if not rows or not self._is_anchor(rows[0]):
                    # A row of the tie group changed while paging: positions shifted.
                    # Re-read the group from its start; emitted keys are skipped.
                    pos.regroups += 1
                    LOGGER.info(
                        "rows at %s changed while paging %s; re-reading that group",
                        pos.last_text,
                        self.url,
                    )
                    pos.group_count = 0
                    continue
                rows = rows[1:]
            else:
                rows, more = pager.fetch(self.url, filters, 0)
            if self.page_hook is not None:
                rows = self.page_hook(rows)
            yield from self._new_parts(rows)
            if not more:
                return


def full_table_pages(
    pager: Pager,
    url: str,
    primary_keys: t.Sequence[str],
    page_hook: PageHook | None = None,
) -> Iterator[Rows]:
    """Every row of a snapshot entity once (deduplicated by key), in parts of at most
    `PART_ROWS` rows."""
    key = key_function(primary_keys)
    seen: set = set()

    def new_rows(rows: Rows) -> Rows:
        new: Rows = []
        for row in rows:
            row_key = key(row)
            if row_key not in seen:
                seen.add(row_key)
                new.append(row)
        return new

    def parts(rows: Rows) -> Iterator[Rows]:
        if page_hook is not None:
            rows = page_hook(rows)
        for part in parts_of(rows):
            yield new_rows(part)

    if isinstance(pager, CursorPager):
        rows, next_url = pager.first(url, {})
        while True:
            yield from parts(rows)
            if not next_url:
                return
            rows, next_url = pager.follow(next_url)
    for rows in t.cast("PositionalPager", pager).scan(url):
        yield from parts(rows)
