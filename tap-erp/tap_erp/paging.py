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
import urllib.parse

from tap_erp.dialect import spec
from tap_erp.dialect.selectors import NOTHING, Selector
from tap_erp.errors import TapERPError

if t.TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterator, Mapping

    from tap_erp.dialect.templates import Template
    from tap_erp.http import HttpClient, Reply
    from tap_erp.profiles import RecordsSelector, RequestTemplate

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
    return to_utc(value).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


class TimestampRangeError(TapERPError, ValueError):
    """An instant that UTC cannot hold (before year 1 or after year 9999)."""


def to_utc(value: datetime.datetime) -> datetime.datetime:
    """The instant in UTC; one clear error when UTC cannot hold it."""
    try:
        return value.astimezone(UTC)
    except OverflowError:  # year 1 with a positive offset, year 9999 with a negative one
        msg = f"{value.isoformat()} is outside 0001-01-01..9999-12-31 UTC"
        raise TimestampRangeError(msg) from None


def parse_timestamp(value: str) -> datetime.datetime:
    """Parse an ISO 8601 timestamp; naive values are taken as UTC."""
    result = datetime.datetime.fromisoformat(value)
    return result if result.tzinfo else result.replace(tzinfo=UTC)


def normalize_timestamp(value: str) -> tuple[datetime.datetime, str]:
    """The instant of an ISO 8601 timestamp and its canonical UTC text."""
    instant = to_utc(parse_timestamp(value))
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
    """Requests pages of one entity: the stream's request, one paginator, the rows."""

    def __init__(
        self,
        *,
        http: HttpClient,
        request: RequestTemplate,
        paginator: spec.Paginator,
        paginator_query: Mapping[str, Template],
        records: RecordsSelector,
        page_size: int,
        values: Mapping[str, t.Any] | None = None,
        add_fields: Mapping[str, t.Any] | None = None,
    ) -> None:
        """Keep the transport, the request and how rows and pages are found."""
        self.http = http
        self.request = request
        self.paginator = paginator
        self.paginator_query = paginator_query
        self.records = records
        self.size = page_size
        self.values = dict(values or {})
        self.add_fields = tuple((add_fields or {}).items())
        #: The paginator's selectors (has_more, total, cursor, next), compiled once.
        self.selectors = {
            name: Selector(text)
            for name, text in (
                ("has_more", getattr(getattr(paginator, "stop", None), "has_more", None)),
                ("total", getattr(getattr(paginator, "stop", None), "total", None)),
                ("cursor", getattr(paginator, "cursor", None)),
                ("next", getattr(paginator, "next", None)),
            )
            if text
        }

    def send(self, **values: t.Any) -> Reply:
        """One request of the stream with these placeholder values."""
        token = self.http.login_token()
        rendered = self.request.render(
            {**self.values, "limit": self.size, "token": token, **values},
            self.http.base_url,
            self.paginator_query,
        )
        return self.http.request(rendered)

    def pages(self, filters: Mapping[str, t.Any]) -> Iterator[Rows]:
        """Every page of the result set, first to last."""
        raise NotImplementedError

    def rows_of(self, reply: Reply) -> Rows:
        """The rows of a decoded page (nested lists flattened, parent fields added)."""
        spec_ = self.records
        rows = spec_.path.find(reply.body)
        if not isinstance(rows, list):
            msg = f"unexpected response from {reply.url}: {spec_.path.describe_miss(reply.body)}"
            raise TapERPError(msg)
        if spec_.each is not None:
            rows = self._explode(rows)
        if spec_.drop:
            for row in rows:
                for name in spec_.drop:
                    row.pop(name, None)
        if self.add_fields:
            for row in rows:
                row.update(self.add_fields)
        return rows

    def _explode(self, outer_rows: Rows) -> Rows:
        spec_ = self.records
        each = t.cast("Selector", spec_.each)
        rows: Rows = []
        for outer in outer_rows:
            inner = each.find(outer)
            if inner is NOTHING or inner is None:
                continue
            if not isinstance(inner, list):
                msg = f"selector {each.text!r} of 'records.each' is not a list"
                raise TapERPError(msg)
            for row in inner:
                for name, field in spec_.inherit:
                    row[name] = outer.get(field)
                rows.append(row)
        return rows


class OffsetCeilingError(TapERPError):
    """A read needs rows past the paginator's `offset_ceiling`."""


class PositionalPager(Pager):
    """Offset or page-number paging: rows addressed by their position."""

    @property
    def ceiling(self) -> int | None:
        """The paginator's `offset_ceiling` (largest offset + limit served), if any."""
        return t.cast("spec.OffsetPaginator", self.paginator).offset_ceiling

    def check_ceiling(self, end: int) -> None:
        """Fail before asking for rows up to position `end` past the ceiling."""
        ceiling = self.ceiling
        if ceiling is not None and end > ceiling:
            msg = (
                f"the ERP serves at most {ceiling} rows of one result set (offset_ceiling) "
                f"and this read needs rows up to {end}"
            )
            raise OffsetCeilingError(msg)

    def _more(self, reply: Reply, rows: Rows, position: int) -> bool:
        stop = t.cast("spec.OffsetPaginator", self.paginator).stop
        if stop.has_more:
            return bool(self.selectors["has_more"].find(reply.body) not in (NOTHING, None, False))
        if stop.total:
            total = self.selectors["total"].find(reply.body)
            if isinstance(total, str) and total.isdigit():  # OData v2's "__count": "91"
                total = int(total)
            if isinstance(total, int):
                return position + len(rows) < total
        return len(rows) >= self.size

    def fetch(self, filters: Mapping[str, t.Any], position: int) -> tuple[Rows, bool]:
        """Rows from ``position`` on (at least two when available) and whether more exist.

        When ``position`` is an anchor, the returned first row must be the row that
        sat at that position when the following rows were read.
        """
        raise NotImplementedError

    def pages(self, filters: Mapping[str, t.Any]) -> Iterator[Rows]:
        """Every page of the result set, first to last."""
        position = 0
        while True:
            rows, more = self.fetch(filters, position)
            position += len(rows)
            yield rows
            if not more or not rows:
                return


class OffsetPager(PositionalPager):
    """``{offset}`` and ``{limit}``; by default the last page is a short one."""

    def fetch(self, filters: Mapping[str, t.Any], position: int) -> tuple[Rows, bool]:
        """One request from ``position``."""
        self.check_ceiling(position + self.size)
        reply = self.send(**filters, offset=position)
        rows = self.rows_of(reply)
        return rows, self._more(reply, rows, position)


class PagePager(PositionalPager):
    """``{page}`` and ``{limit}``; pages start at ``first_page``."""

    @property
    def first_page(self) -> int:
        """Number of the first page."""
        return t.cast("spec.PagePaginator", self.paginator).first_page

    def _page(self, filters: Mapping[str, t.Any], page: int) -> tuple[Rows, bool]:
        offset = (page - self.first_page) * self.size
        self.check_ceiling(offset + self.size)
        reply = self.send(**filters, page=page, offset=offset)
        rows = self.rows_of(reply)
        return rows, self._more(reply, rows, offset)

    def fetch(self, filters: Mapping[str, t.Any], position: int) -> tuple[Rows, bool]:
        """The page holding ``position``, cut before it.

        When ``position`` is the last row of its page, the next page is read first
        and the anchor's page after it: rows only ever leave a tie group (an
        updated row moves to the end), so an anchor still in place afterwards was
        in place when the next page was read.
        """
        page = position // self.size + self.first_page
        skip = position % self.size
        if skip < self.size - 1:
            rows, more = self._page(filters, page)
            return rows[skip:], more
        following, more = self._page(filters, page + 1)
        rows, more_here = self._page(filters, page)
        anchor = rows[skip:]
        if not anchor:
            return [], more_here
        return anchor + following, more


class LinkPager(Pager):
    """Pages the server links together (next links, cursor tokens) or one page only."""

    def pages(self, filters: Mapping[str, t.Any]) -> Iterator[Rows]:
        """Every page of the result set, first to last."""
        paginator = self.paginator
        reply = self.send(**filters)
        while True:
            yield self.rows_of(reply)
            if isinstance(paginator, spec.CursorPaginator):
                token = self.selectors["cursor"].find(reply.body)
                if token in (NOTHING, None, ""):
                    return
                reply = self.send(**filters, cursor=token)
                continue
            link = self._next_link(reply) if isinstance(paginator, spec.NextLinkPaginator) else None
            if not link:
                return
            rendered = self.request.render(
                {**self.values, "limit": self.size, **filters}, self.http.base_url
            )
            reply = self.http.send(
                "GET", urllib.parse.urljoin(reply.url, link), headers=rendered.headers
            )

    def _next_link(self, reply: Reply) -> str | None:
        paginator = t.cast("spec.NextLinkPaginator", self.paginator)
        if paginator.link_header:
            for part in (reply.headers.get("Link") or "").split(","):
                match = re.match(r'\s*<([^>]*)>\s*;.*rel="?next"?', part)
                if match:
                    return match.group(1)
            return None
        link = self.selectors["next"].find(reply.body)
        return link if isinstance(link, str) and link else None


def make_pager(paginator: spec.Paginator, **kwargs: t.Any) -> Pager:
    """The pager of a paginator declaration."""
    if isinstance(paginator, spec.OffsetPaginator):
        return OffsetPager(paginator=paginator, **kwargs)
    if isinstance(paginator, spec.PagePaginator):
        return PagePager(paginator=paginator, **kwargs)
    return LinkPager(paginator=paginator, **kwargs)


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
    #: The part of ``last_text`` the changed-since filter can express (its group).
    group_text: str | None = None
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


#: Length of the canonical text a filter with `digits` fractional digits keeps.
def group_length(digits: int) -> int:
    """`YYYY-MM-DD` (-1: a date), up to the second (0), or with 1-6 digits."""
    if digits < 0:
        return 10
    return 19 if digits == 0 else 20 + min(digits, 6)


class IncrementalReader:
    """Reads an incremental entity in (timestamp, key) order without skipping rows.

    Rows are grouped by the part of their timestamp the changed-since filter can
    express (all of it for ISO text with microseconds; the second for a filter in
    whole seconds): a request filtered at a group returns that whole group first,
    so positions count inside groups; rows before the read's lower bound (there
    only because the filter is coarser) are counted but not emitted.
    """

    def __init__(
        self,
        *,
        pager: Pager,
        replication_key: str,
        primary_keys: t.Sequence[str],
        position: KeysetPosition,
        page_hook: PageHook | None = None,
        filter_digits: int = 6,
    ) -> None:
        """Set up a read; ``position`` carries over between windows."""
        self.pager = pager
        self.rk = replication_key
        self.key = key_function(primary_keys)
        self.position = position
        self.page_hook = page_hook
        self.group_cut = group_length(filter_digits)
        self.lower_text = ""
        #: One way of tracking rows, chosen by how exact the changed-since filter is.
        exact = filter_digits >= 6
        self._new_rows = self._new_rows_exact if exact else self._new_rows_coarse

    def _filters(
        self, since: datetime.datetime | None, before: datetime.datetime | None
    ) -> dict[str, datetime.datetime]:
        filters: dict[str, datetime.datetime] = {}
        if since is not None:
            filters["since"] = since
        if before is not None:
            if not self.pager.request.uses("before"):
                msg = (
                    "setting 'backfill_window': the profile's request has no {before} "
                    "placeholder to bound a window"
                )
                raise TapERPError(msg)
            filters["before"] = before
        return filters

    def _out_of_order(self, text: str) -> TapERPError:
        return TapERPError(
            f"rows out of order: {text} after {self.position.last_text} (the request must "
            f"order rows by {self.rk} and the primary key)"
        )

    def _new_rows_exact(self, rows: Rows) -> Rows:
        """Track the position through ``rows``; the ones not emitted before.

        For filters as exact as the canonical text: a group is one timestamp, and
        the ERP returns no row before the lower bound. Timestamps are compared as
        canonical text, which orders like the instants.
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
                    raise self._out_of_order(text)
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

    def _new_rows_coarse(self, rows: Rows) -> Rows:
        """`_new_rows_exact` for filters coarser than the data (e.g. whole seconds): a
        group is what the filter can say, and rows before the lower bound (there only
        because of the coarser filter) count for positions but are not emitted."""
        pos = self.position
        rk = self.rk
        key = self.key
        cut = self.group_cut
        lower = self.lower_text
        prior_text = pos.prior_text
        new: Rows = []
        keep = new.append
        for row in rows:
            text = canonical_timestamp(row[rk])
            row[rk] = text
            if text != pos.last_text:
                if pos.last_text is not None and text < pos.last_text:
                    raise self._out_of_order(text)
                pos.last_text = text
                pos.emitted = set(pos.prior_keys) if text == prior_text else set()
            if text[:cut] != pos.group_text:
                pos.group_text = text[:cut]
                pos.group_count = 0
            row_key = key(row)
            pos.group_count += 1
            pos.anchor = row_key
            if row_key in pos.emitted or text < lower:
                continue
            pos.emitted.add(row_key)
            keep(row)
        return new

    def _new_parts(self, rows: Rows) -> Iterator[Rows]:
        """`_new_rows` of a page in parts of `PART_ROWS`."""
        if self.page_hook is not None:
            rows = self.page_hook(rows)
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
        self.lower_text = "" if since is None else format_timestamp(since)
        if isinstance(self.pager, PositionalPager):
            yield from self._read_positional(self.pager, since, before)
            return
        for rows in self.pager.pages(self._filters(since, before)):
            yield from self._new_parts(rows)

    def _read_positional(
        self,
        pager: PositionalPager,
        since: datetime.datetime | None,
        before: datetime.datetime | None,
    ) -> Iterator[Rows]:
        pos = self.position
        # A new result set (new window or new read): no group positions known yet.
        pos.group_count = 0
        pos.group_text = None
        while True:
            last_ts = pos.last_ts
            in_range = last_ts is not None and (since is None or last_ts >= since)
            query_since = last_ts if in_range else since
            filters = self._filters(query_since, before)
            if in_range and pos.group_count > 0:
                try:
                    rows, more = pager.fetch(filters, pos.group_count - 1)
                except OffsetCeilingError as exc:
                    msg = (
                        f"{exc}: more rows share the change time {pos.last_text} than that, "
                        "and no time window can split them"
                    )
                    raise OffsetCeilingError(msg) from None
                if self.page_hook is not None:
                    rows = self.page_hook(rows)
                if not rows or not self._is_anchor(rows[0]):
                    # A row of the tie group changed while paging: positions shifted.
                    # Re-read the group from its start; emitted keys are skipped.
                    pos.regroups += 1
                    LOGGER.info(
                        "rows at %s changed while paging; re-reading that group",
                        pos.last_text,
                    )
                    pos.group_count = 0
                    pos.group_text = None
                    continue
                rows = rows[1:]
            else:
                rows, more = pager.fetch(filters, 0)
                if self.page_hook is not None:
                    rows = self.page_hook(rows)
            for part in parts_of(rows):
                yield self._new_rows(part)
            if not more:
                return


def full_table_pages(
    pager: Pager,
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

    for rows in pager.pages({}):
        if page_hook is not None:
            rows = page_hook(rows)  # noqa: PLW2901
        for part in parts_of(rows):
            yield new_rows(part)
