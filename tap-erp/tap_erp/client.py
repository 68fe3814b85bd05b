"""The shared ERP stream: paging, incremental bookmarks with tie keys, windows."""

from __future__ import annotations

import dataclasses
import datetime
import functools
import typing as t

import pendulum
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib.catalog import REPLICATION_INCREMENTAL

from tap_erp.batches import local_root, sweep_stale, write_batches
from tap_erp.deletes import DELETED, STATE_KEY, StreamDeletes, with_deleted_property
from tap_erp.dialect.decoders import chain
from tap_erp.dialect.selectors import NOTHING
from tap_erp.dialect.timestamps import before_repeated_wall_times
from tap_erp.errors import TapERPError
from tap_erp.fast_maps import encodable_transform, is_plain
from tap_erp.paging import (
    IncrementalReader,
    KeysetPosition,
    Pager,
    TimestampRangeError,
    format_timestamp,
    full_table_pages,
    key_function,
    make_pager,
    parse_timestamp,
    parts_of,
)
from tap_erp.sdk_internals import BOOKMARK_KEYS, NewestTieGroup, SDKInternals
from tap_erp.settings import setting

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from singer_sdk.helpers import types
    from singer_sdk.helpers._batch import BaseBatchFileEncoding, BatchConfig
    from singer_sdk.tap_base import Tap

    from tap_erp.http import HttpClient
    from tap_erp.paging import Rows
    from tap_erp.profiles import Profile, RecordsSelector, RequestTemplate, StreamSpec


@dataclasses.dataclass
class Runtime:
    """What every stream of one tap run shares."""

    profile: Profile
    http: HttpClient
    pagination_style: str
    page_size: int
    start_date: datetime.datetime | None
    lookback_seconds: float
    backfill_window: str
    #: Key snapshots are taken every this many runs (setting key_snapshot_every_runs).
    key_snapshot_every_runs: int = 1
    #: Settings templates read as `{config.<name>}` (secrets included; never logged).
    config: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC)


def add_window(start: datetime.datetime, unit: str) -> datetime.datetime:
    """``start`` plus one window (calendar months via pendulum)."""
    if unit == "day":
        return start + datetime.timedelta(days=1)
    if unit == "week":
        return start + datetime.timedelta(days=7)
    if unit == "month":
        moved = pendulum.instance(start).add(months=1)
        return datetime.datetime.fromisoformat(moved.isoformat())
    msg = f"unknown window {unit!r}"
    raise ValueError(msg)


def backfill_windows(
    start: datetime.datetime, unit: str, now: datetime.datetime
) -> list[tuple[datetime.datetime, datetime.datetime | None]]:
    """``[start, +unit)`` windows up to now; the last one is open-ended."""
    windows: list[tuple[datetime.datetime, datetime.datetime | None]] = []
    low = start
    while True:
        high = add_window(low, unit)
        if high > now:
            windows.append((low, None))
            return windows
        windows.append((low, high))
        low = high


class ERPStream(SDKInternals):
    """One ERP entity, described by its entry in the tap's profile."""

    #: Name of the entity's entry under ``streams:`` in the profile.
    entity: t.ClassVar[str]

    # The API's JSON types already match the schemas (numbers, strings, booleans);
    # per-record conforming would only cost time.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, tap: Tap, runtime: Runtime, schema: dict) -> None:
        """Create the stream from its profile entry."""
        self.runtime = runtime
        self.spec: StreamSpec = runtime.profile.streams[self.entity]
        if self.spec.deletes is not None:
            schema = with_deleted_property(schema, self.spec.primary_keys)
        super().__init__(tap=tap, schema=schema, name=self.name)
        self.primary_keys = list(self.spec.primary_keys)
        self.replication_key = self.spec.replication_key
        self._page_time = datetime.datetime.now(datetime.UTC)
        self.deletes: StreamDeletes | None = None
        if self.spec.deletes is not None:
            self.deletes = StreamDeletes(
                stream=self.name,
                spec=self.spec.deletes,
                runtime=runtime,
                primary_keys=self.spec.primary_keys,
                replication_key=self.replication_key,
                style=self.spec.paginator or runtime.pagination_style,
                every_runs=runtime.key_snapshot_every_runs,
            )

    @property
    def is_sorted(self) -> bool:
        """Rows come ordered by (replication key, primary key): resumable state."""
        return self.replication_key is not None

    def get_replication_key_signpost(self, context: types.Context | None) -> None:
        """No signpost: the bookmark is the last emitted timestamp, nothing else."""
        return

    # Batches

    def get_batch_config(self, config: t.Mapping) -> BatchConfig | None:
        """`batch_config`, unless a stream map needs RECORD messages (expressions, aliases)."""
        batch_config = super().get_batch_config(config)
        if batch_config is None or not setting(config, "batch_messages"):
            return None
        maps = self.stream_maps
        if len(maps) != 1 or not is_plain(maps[0]) or maps[0].stream_alias != self.name:
            self.logger.info(
                "'%s': its stream maps evaluate expressions; sending RECORD messages", self.name
            )
            return None
        return batch_config

    @property
    def _batch_wait_seconds(self) -> float:
        """How long a batch file may wait for the loader (setting batch_wait_seconds)."""
        return float(setting(self.config, "batch_wait_seconds"))

    def get_batches(
        self, batch_config: BatchConfig, context: types.Context | None = None
    ) -> Iterator[tuple[BaseBatchFileEncoding, list[str]]]:
        """Mapped records in JSON-lines files; the bookmark follows the written records."""
        map_record = encodable_transform(self.stream_maps[0])
        transform = map_record
        if not self._everything_selected:

            def transform(record: dict) -> dict | None:
                self.prune_deselected(record)
                return map_record(record)

        newest = NewestTieGroup(self, context)

        stale = max(3600.0, 2 * self._batch_wait_seconds)
        removed = sweep_stale(local_root(batch_config), stale)
        if removed:
            self.logger.info("Removed %d batch file(s) left by interrupted runs", removed)
        files = 0
        for encoding, manifest in write_batches(
            self.get_record_pages(context),
            transform,
            batch_config,
            self.name,
            after_rows=newest.add_rows,
            before_yield=newest.settle,
        ):
            files += 1
            yield encoding, manifest
        self.logger.info("'%s': %d batch file(s) written", self.name, files)

    def _page_hook(self) -> Callable[[Rows], Rows]:
        """Decode ERP values, then drop fields the schema does not know (e.g. custom
        fields of a static schema)."""
        known = frozenset(self.effective_schema.get("properties", {}))
        decode = chain(self.spec.decoders, self.effective_schema)
        derive = self.spec.derive
        constants = self.spec.constants
        sources = {selector.head for _, selector in derive} - known - {None}
        warned: set[str] = set()
        deletes = self.deletes
        sent = deletes.sent if deletes is not None and deletes.tracks_keys else None
        key = key_function(self.primary_keys)

        def strip_unknown(rows: Rows) -> Rows:
            self._page_time = datetime.datetime.now(datetime.UTC)
            if not rows:
                return rows
            if decode is not None:
                rows = decode(rows)
            if derive:
                for row in rows:
                    found = [(name, selector.find(row)) for name, selector in derive]
                    for name, value in found:
                        row[name] = None if value is NOTHING else value
                    for source in sources:
                        row.pop(source, None)
            if constants:
                for row in rows:
                    row.update(constants)
            if deletes is not None:
                for row in rows:
                    row[DELETED] = None
                if sent is not None:
                    sent.update(map(key, rows))
            extra = (rows[0].keys() | rows[-1].keys()) - known
            if extra:
                if extra - warned:
                    warned.update(extra)
                    self.logger.warning(
                        "'%s': the ERP sends fields the catalog does not have, not "
                        "extracted: %s (run discovery to add them)",
                        self.name,
                        ", ".join(sorted(extra)),
                    )
                for row in rows:
                    for name in extra:
                        row.pop(name, None)
            return rows

        return strip_unknown

    @functools.cached_property
    def _selected_fields(self) -> list[str]:
        """The ERP fields to ask for (`{fields}`): selected, and not added by the tap.

        Read from the catalog's schema when one is given: it has the custom fields
        discovery added, which the core schema lacks.
        """
        spec = self.spec
        added = {name for name, _ in spec.records.inherit}
        added |= {name for name, _ in spec.derive}
        added |= {name for name, _ in spec.constants}
        added.add(DELETED)
        if spec.parent is not None:
            added |= {name for name, _ in spec.parent.fields}
        names = [
            name
            for name in self.effective_schema.get("properties", {})
            if name not in added and self.mask.get(("properties", name), True)
        ]
        for name, selector in spec.derive:
            if self.mask.get(("properties", name), True) and selector.field_path not in names:
                names.append(selector.field_path)
        return names

    @functools.cached_property
    def _fields_asked(self) -> list[str]:
        """`{fields}`: the selected fields, each as the profile's `select_as` asks for it."""
        select_as = dict(self.spec.select_as)
        return [select_as.get(name, name) for name in self._selected_fields]

    def _pager(
        self,
        request: RequestTemplate,
        records: RecordsSelector,
        paginator_name: str,
        parent: dict | None = None,
    ) -> Pager:
        runtime = self.runtime
        profile = runtime.profile
        add = {}
        if parent is not None and self.spec.parent is not None:
            add = {name: parent.get(field) for name, field in self.spec.parent.fields}
        return make_pager(
            profile.styles[paginator_name],
            http=runtime.http,
            request=request,
            paginator_query=profile.paginator_queries[paginator_name],
            records=records,
            page_size=runtime.page_size,
            values={"config": runtime.config, "fields": self._fields_asked, "parent": parent},
            add_fields=add,
        )

    def _pagers(self) -> Iterator[Pager]:
        """The stream's pager, or one per row of its parent request."""
        spec = self.spec
        style = spec.paginator or self.runtime.pagination_style
        if spec.parent is None:
            yield self._pager(spec.request, spec.records, style)
            return
        parents = self._pager(spec.parent.request, spec.parent.records, spec.parent.paginator)
        for rows in parents.pages({}):
            for row in rows:
                yield self._pager(spec.request, spec.records, style, parent=row)

    def _starting_position(
        self, context: types.Context | None
    ) -> tuple[KeysetPosition, list[tuple[datetime.datetime | None, datetime.datetime | None]]]:
        """The bookmark (with its keys) and the windows to read."""
        runtime = self.runtime
        state = self.get_context_state(context)
        position = KeysetPosition()
        bookmark = None
        if state.get("replication_key") == self.replication_key:
            bookmark = state.get("replication_key_value")
        if bookmark:
            prior = parse_timestamp(str(bookmark))
            # Keep the bookmark in canonical text so string comparisons stay exact.
            state["replication_key_value"] = format_timestamp(prior)
            position.prior_ts = prior.astimezone(datetime.UTC)
            position.prior_keys = frozenset(
                self._hashable(k) for k in state.get(BOOKMARK_KEYS) or []
            )
            since = position.prior_ts - datetime.timedelta(seconds=runtime.lookback_seconds)
            # Naive site times: a bookmark in an hour the clocks repeat reads from its start.
            since = before_repeated_wall_times(since)
            self.logger.info(
                "Resuming '%s' from bookmark %s (%d keys at it), lookback %ss",
                self.name,
                state["replication_key_value"],
                len(position.prior_keys),
                runtime.lookback_seconds,
            )
            return position, [(since, None)]
        start = runtime.start_date
        if start is not None and runtime.backfill_window != "none":
            windows = backfill_windows(start, runtime.backfill_window, runtime.now())
            self.logger.info(
                "Backfilling '%s' from %s in %d %s windows",
                self.name,
                format_timestamp(start),
                len(windows),
                runtime.backfill_window,
            )
            return position, list(windows)
        return position, [(start, None)]

    def get_records(self, context: types.Context | None) -> Iterable[dict]:
        """Every row of the entity not emitted by an earlier sync, in order."""
        for rows in self.get_record_pages(context):
            yield from rows

    def get_record_pages(self, context: types.Context | None) -> Iterator[list[dict]]:
        """`get_records`, a page at a time."""
        yield from self._data_pages(context)
        yield from self._delete_pages(context)

    def read_deletes(self, context: types.Context | None = None) -> None:
        """Ask the ERP which rows were deleted (before any stream sends a row)."""
        if self.deletes is not None and self.deletes.found is None:
            self.deletes.read(self.get_context_state(context).get(STATE_KEY))

    def _delete_pages(self, context: types.Context | None) -> Iterator[list[dict]]:
        """The delete records, after every row; then the `deletes` state moves."""
        deletes = self.deletes
        if deletes is None:
            return
        self.read_deletes(context)
        rows = deletes.records(self.effective_schema.get("properties", {}))
        if rows:
            self.logger.info("'%s': %d row(s) deleted in the ERP", self.name, len(rows))
        yield from parts_of(rows)
        deletes.commit(self.get_context_state(context))

    def _data_pages(self, context: types.Context | None) -> Iterator[list[dict]]:
        hook = self._page_hook()
        rk = self.replication_key
        if not rk:
            for pager in self._pagers():
                yield from full_table_pages(pager, self.primary_keys, hook)
            return
        if self.replication_method == REPLICATION_INCREMENTAL:
            position, windows = self._starting_position(context)
        else:
            position, windows = KeysetPosition(), [(None, None)]
        reader = IncrementalReader(
            pager=next(self._pagers()),
            replication_key=rk,
            primary_keys=self.primary_keys,
            position=position,
            page_hook=hook,
            filter_digits=self.spec.request.since_digits,
        )
        try:
            for low, high in windows:
                yield from reader.read_pages(low, high)
        except TimestampRangeError as exc:
            msg = f"stream '{self.name}', replication key '{rk}': {exc}"
            raise TapERPError(msg) from None
        if position.regroups:
            self.logger.info(
                "'%s': %d tie groups changed while paging and were re-read",
                self.name,
                position.regroups,
            )
