"""Where tap-erp reaches into Singer SDK internals, and why (everything else uses the
SDK's public hooks).

- Bookmarks with tie keys: the SDK's `_increment_stream_state` keeps one
  replication-key value; resuming inside a group of rows sharing one timestamp
  needs the keys emitted at it (`bookmark_keys`), so the method is replaced.
- RECORD messages without per-record work that changes nothing: no type
  conforming, no pruning when every property is selected, `time_extracted` taken
  once per page, and for rename-only maps the line written as bytes (one record
  path per stream, chosen once at the first record).
- BATCH messages whose STATE waits until the loader has taken the files: the
  SDK's `_sync_batches` writes STATE right after each BATCH message.
- A STATE after the records of a stream even when the bookmark did not move: the
  SDK's state writer skips a STATE equal to the last one, and the loader lands only
  records a STATE covers; rows re-read below the bookmark (lookback, the hour a
  site's clocks repeat) move no bookmark.
- Settings from orchestrators arrive as text ("0.5"): they are read as numbers
  before the SDK's `_validate_config`.
- Stream maps from `stream_map_files`, with one-line errors and rename-only maps
  compiled (`fast_maps`): `setup_mapper` builds the SDK's `_mapper` itself.
- Delete records (`_sdc_deleted_at` set) carry nulls but for their key: a map
  expression that fails on a null (`BillTo["City"]`) would stop the run, so for them
  each property of a map is evaluated alone (the SDK's `_eval`), a failing one null.
- Custom fields the stream maps drop (`unmapped`): `setup_mapper` finds them in the
  catalog before it builds the mapper, and passes them through when asked.
- A state that is not a JSON object (`{"singer_state": "garbage"}` hands the tap the
  text "garbage"): the SDK's constructor would open it as a file path; it is reported
  as a bad state instead (`state_check`).
"""

from __future__ import annotations

import ast
import copy
import functools
import typing as t
from pathlib import Path, PurePath

from singer_sdk import Tap
from singer_sdk.contrib.msgspec import encoder
from singer_sdk.exceptions import MappingError
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.mapper import CustomStreamMap, PluginMapper
from singer_sdk.singerlib import RecordMessage
from singer_sdk.singerlib.catalog import REPLICATION_INCREMENTAL
from singer_sdk.streams import Stream

from tap_erp.batches import wait_until_taken
from tap_erp.deletes import DELETED
from tap_erp.errors import TapERPError
from tap_erp.fast_maps import encodable_transform, is_plain, speed_up_rename_maps
from tap_erp.settings import setting
from tap_erp.settings_text import coerce_numeric_settings
from tap_erp.state_check import check_state
from tap_erp.stream_map_files import describe_map_error, with_stream_map_files
from tap_erp.unmapped import pass_through, unmapped_custom_fields
from tap_erp.writer import BufferedMsgSpecWriter

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from singer_sdk.helpers import types
    from singer_sdk.helpers._batch import BatchConfig

    from tap_erp.unmapped import UnmappedField

#: State key holding the keys emitted at exactly ``replication_key_value``.
BOOKMARK_KEYS = "bookmark_keys"


class NewestTieGroup:
    """The records of the newest replication-key value, kept until `settle`.

    Records arrive ordered by (replication key, primary key), so advancing the
    bookmark with only the last tie group gives the same state as advancing it
    record by record, at a fraction of the cost.
    """

    def __init__(self, stream: SDKInternals, context: types.Context | None) -> None:
        """Track `stream`'s replication key."""
        self.stream = stream
        self.context = context
        self.key = stream.replication_key
        self.value: t.Any = None
        self.records: list[dict] = []

    def add_rows(self, records: list[dict]) -> None:
        """Remember records that are now in a batch file (in replication-key order)."""
        key = self.key
        end = len(records)
        while end and records[end - 1].get(DELETED):
            end -= 1  # delete records come last and never move the bookmark
        if key is None or not end:
            return
        records = records[:end] if end < len(records) else records
        value = records[-1][key]
        start = len(records) - 1
        while start and records[start - 1][key] == value:
            start -= 1
        if start == 0 and value == self.value:
            self.records.extend(records)
        else:
            self.value = value
            self.records = records[start:]

    def settle(self) -> None:
        """Advance the stream's bookmark over the remembered records."""
        for record in self.records:
            self.stream._increment_stream_state(record, context=self.context)
        self.records = []


class SDKInternals(Stream):
    """The SDK stream with the replaced internals described above."""

    _page_time: t.Any
    _keys_value: str | None = None
    _keys_seen: frozenset | set = frozenset()
    _tail_key: tuple | None = None
    _tail = b""

    # State

    def _state_key(self, record: dict) -> t.Any:
        if len(self.primary_keys) == 1:
            return record[self.primary_keys[0]]
        return [record[k] for k in self.primary_keys]

    @staticmethod
    def _hashable(key: t.Any) -> t.Any:
        return tuple(key) if isinstance(key, list) else key

    def _increment_stream_state(
        self, latest_record: types.Record, *, context: types.Context | None = None
    ) -> None:
        """Advance ``replication_key_value`` and ``bookmark_keys`` after a record is written
        (delete records leave them alone).

        The bookmark only moves forward (rows re-read through ``lookback_seconds``
        leave it alone); ``bookmark_keys`` lists the keys emitted at exactly the
        bookmark, so the next sync skips them. Values are canonical UTC text, whose
        order is the order of the instants.
        """
        rk = self.replication_key
        if self.replication_method != REPLICATION_INCREMENTAL or not rk:
            return
        if latest_record.get(DELETED):
            return  # a delete record: its deletion time is no bookmark
        state = self.get_context_state(context)
        value = latest_record[rk]
        current = state.get("replication_key_value")
        key = self._state_key(latest_record)
        if current is not None and state.get("replication_key") == rk:
            if value < current:
                return
            if value == current:
                if self._keys_value != current:
                    keys = state.setdefault(BOOKMARK_KEYS, [])
                    self._keys_seen = {self._hashable(k) for k in keys}
                    self._keys_value = current
                hashable = self._hashable(key)
                if hashable not in self._keys_seen:
                    self._keys_seen.add(hashable)
                    state[BOOKMARK_KEYS].append(key)
                return
        state["replication_key"] = rk
        state["replication_key_value"] = value
        state[BOOKMARK_KEYS] = [key]
        self._keys_value = value
        self._keys_seen = {self._hashable(key)}

    @functools.cached_property
    def _everything_selected(self) -> bool:
        """Whether every property is selected (then no record needs pruning)."""
        mask = self.mask
        return all(
            mask[("properties", name)] for name in self.schema.get("properties", {})
        ) and not any(
            isinstance(prop, dict) and "properties" in prop
            for prop in self.schema.get("properties", {}).values()
        )

    def _generate_record_messages(self, record: types.Record) -> Iterator[RecordMessage]:
        """The SDK's RECORD messages, without its per-record work that changes nothing.

        Types already match the schema (no conforming); with every property
        selected nothing is pruned; `time_extracted` is the arrival of the record's
        page, taken once per page.
        """
        if not self._everything_selected:
            pop_deselected_record_properties(record, self.schema, self.mask)
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=self._page_time,
                )

    @functools.cached_property
    def _record_writer(self) -> Callable[[types.Record], None]:
        """The stream's one record path, chosen at its first record.

        Bytes straight into the tap's buffer for one plain map (renames only, no
        flattening), every property selected and the tap's own buffered writer:
        then a RECORD line is its envelope around the encoded mapped record, the
        same JSON as the SDK's. Otherwise the SDK's path.
        """
        maps = self.stream_maps
        writer = getattr(self._tap, "message_writer", None)
        if (
            len(maps) != 1
            or not is_plain(maps[0])
            or not self._everything_selected
            or not isinstance(writer, BufferedMsgSpecWriter)
        ):
            return super()._write_record_message
        transform = encodable_transform(maps[0])
        head = self._record_head
        write = writer.write_record
        manager = self.state_manager

        def write_line(record: types.Record) -> None:
            mapped = transform(record)
            if mapped is not None:
                write(head, mapped, self._record_tail())
            manager.is_flushed = False

        return write_line

    def _write_record_message(self, record: types.Record) -> None:
        """A RECORD message through the stream's record path."""
        self._record_writer(record)

    @functools.cached_property
    def _record_head(self) -> bytes:
        alias = self.stream_maps[0].stream_alias
        return b'{"type":"RECORD","stream":' + encoder.encode(alias) + b',"record":'

    def _record_tail(self) -> bytes:
        """``version`` and ``time_extracted`` (the page's arrival), as the SDK writes them."""
        key = (self._page_time, self._stream_version)
        if self._tail_key != key:
            version = b"" if key[1] is None else b',"version":' + encoder.encode(key[1])
            self._tail = version + b',"time_extracted":' + encoder.encode(key[0]) + b"}\n"
            self._tail_key = key
        return self._tail

    def prune_deselected(self, record: dict) -> None:
        """Drop properties the catalog deselects (in place)."""
        pop_deselected_record_properties(record, self.schema, self.mask)

    def _sync_batches(
        self, batch_config: BatchConfig, context: types.Context | None = None
    ) -> None:
        """BATCH messages; each one's STATE only after the loader has taken its files.

        A loader that reads BATCH files removes them once read (target-s3 does). The
        STATE covering a batch is written when its files are gone, and before the next
        BATCH message (a STATE covers every record sent before it), while the next
        file has been written meanwhile. A loader that ignores BATCH
        messages never takes the files: the sync then fails after
        `batch_wait_seconds` instead of moving the bookmark past records that did
        not land.
        """
        wait = self._batch_wait_seconds
        pending: tuple[list[str], dict] | None = None
        with self.get_batch_counter() as counter:
            for encoding, manifest in self.get_batches(batch_config, context):
                counter.increment()
                snapshot = copy.deepcopy(self.tap_state)
                # A STATE covers everything sent before it: the previous batch's STATE
                # goes out before this BATCH message (whose file is already written).
                if pending is not None:
                    self._state_when_taken(*pending, wait=wait)
                self._write_batch_message(encoding=encoding, manifest=manifest)
                pending = (manifest, snapshot)
            if pending is not None:
                self._state_when_taken(*pending, wait=wait)

    def _state_when_taken(self, manifest: list[str], state: dict, *, wait: float) -> None:
        """Write `state` once every file of `manifest` is gone (taken by the loader)."""
        wait_until_taken(manifest, wait)
        self._write_state_always(state)
        self.state_manager.is_flushed = True

    def _write_state_message(self) -> None:
        """A STATE whether or not it changed (see the module's docstring)."""
        _ = self.stream_state  # the stream's entry exists before it is written
        self._write_state_always(self.tap_state)
        self.state_manager.is_flushed = True

    def _write_state_always(self, state: dict) -> None:
        writer = self._tap.state_writer
        writer._last_emitted_state = None  # the SDK skips a STATE equal to the last one
        writer.write_state(state)


def tolerate_deletes(stream_map: CustomStreamMap, spec: dict[str, t.Any]) -> None:
    """Map a delete record property by property, a failing expression giving null."""
    transform = stream_map._transform_fn
    properties = [
        (name, expression, ast.parse(str(expression).strip()).body[0])
        for name, expression in spec.items()
        if not name.startswith("__") and isinstance(expression, str) and expression != "__NULL__"
    ]
    dropped = [n for n, e in spec.items() if not n.startswith("__") and e in (None, "__NULL__")]

    def each_alone(record: dict) -> dict | None:
        if not record.get(DELETED):
            return transform(record)
        try:
            return transform(record)
        except Exception:
            pass
        keep_others = spec.get("__else__", "") not in (None, "__NULL__")
        result = record.copy() if keep_others else {}
        for key in stream_map.transformed_key_properties or []:
            if key in record:
                result[key] = record[key]
        for name in dropped:
            result.pop(name, None)
        for name, expression, parsed in properties:
            try:
                result[name] = stream_map._eval(expression, parsed, record, name)
            except Exception:
                result[name] = None
        return result

    stream_map._transform_fn = each_alone


class TapInternals(Tap):
    """The SDK tap with the replaced internals described above."""

    def __init__(self, *args: t.Any, state: t.Any = None, **kwargs: t.Any) -> None:
        """The SDK's tap; a state that is neither an object nor a file is a bad state."""
        is_file = isinstance(state, str) and Path(state).is_file()
        if state is not None and not isinstance(state, dict | PurePath) and not is_file:
            check_state(state, {})
        super().__init__(*args, state=state, **kwargs)

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Validate the settings, numeric text read as numbers first."""
        coerce_numeric_settings(self._config, self.config_jsonschema)
        return super()._validate_config(raise_errors=raise_errors)

    def prepare_stream_maps(self, config: dict[str, t.Any]) -> dict[str, t.Any]:
        """The config whose `stream_maps` the mapper gets (as given here)."""
        return config

    #: Custom fields the stream maps do not name (`unmapped`), found by `setup_mapper`.
    unmapped_fields: t.Sequence[UnmappedField] = ()

    def core_properties(self, stream: str) -> set[str] | None:
        """Properties of a stream's core schema (None: no core schema, nothing is custom)."""
        return None

    def _selected_properties(self) -> dict[str, list[str]]:
        """Selected properties of each selected stream of the catalog."""
        selected = {}
        for entry in self.catalog.streams:
            mask = entry.metadata.resolve_selection()
            if mask[()]:
                names = (entry.schema.properties or {}) if entry.schema else {}
                selected[entry.tap_stream_id] = [n for n in names if mask[("properties", n)]]
        return selected

    def setup_mapper(self) -> None:
        """The SDK's stream maps, including those of `stream_map_files`, with custom
        fields they do not name found (and passed through if the settings say so)."""
        config = self.prepare_stream_maps(with_stream_map_files(self.config))
        maps = config.get("stream_maps") or {}
        found = unmapped_custom_fields(maps, self._selected_properties(), self.core_properties)
        if found and setting(self.config, "unmapped_custom_fields") == "pass":
            maps, found = pass_through(maps, found)
            config = {**config, "stream_maps": maps}
        self.unmapped_fields = found
        try:
            self._mapper = PluginMapper(plugin_config=config, logger=self.logger)
            self.mapper.register_raw_streams_from_catalog(self.catalog)
            for maps in self.mapper.stream_maps.values():
                for stream_map in maps:
                    spec = (config.get("stream_maps") or {}).get(stream_map.stream_alias)
                    if isinstance(stream_map, CustomStreamMap) and isinstance(spec, dict):
                        tolerate_deletes(stream_map, spec)
        except MappingError as exc:
            raise TapERPError(describe_map_error(config.get("stream_maps"), exc)) from None
        speed_up_rename_maps(self.mapper, config.get("stream_maps") or {})
