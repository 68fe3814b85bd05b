"""target-s3: Singer target landing streams as Parquet in S3, exactly once.

What the Singer SDK needs: the settings (declared in ``settings``), the sink class,
the message handlers and the command line. A run's work is done by ``run.Run``
(start-up, publishing, STATE release, audit) and by the sinks (``sinks``).
"""

from __future__ import annotations

import contextlib
import copy
import typing as t

from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import PluginCapabilities, TargetCapabilities
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.plugin_base import PluginBase
from singer_sdk.target_base import Target

from target_s3.batch_files import local_path, record_chunks
from target_s3.errors import TargetS3Error, TerminatedError
from target_s3.exits import exit_failed
from target_s3.reader import FastSingerReader, LineConsumer
from target_s3.run import Run
from target_s3.settings import Settings, config_schema
from target_s3.sinks import ParquetSink
from target_s3.values import json_decoder

if t.TYPE_CHECKING:
    from types import FrameType


class TargetS3(Target):
    """Lands Singer streams as Parquet in S3-compatible storage, exactly once."""

    name = "target-s3"
    config_jsonschema = config_schema()
    default_sink_class = ParquetSink
    message_reader_class = FastSingerReader
    capabilities: t.ClassVar[list] = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
        PluginCapabilities.BATCH,
        TargetCapabilities.VALIDATE_RECORDS,
    ]

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Read settings and prepare the run; nothing touches S3 until the first message."""
        self.routes: dict[str, LineConsumer] = {}  # streams on the raw fast path
        super().__init__(*args, **kwargs)
        self.settings = Settings.from_config(self.config)
        self.run = Run(self.settings, self._write_state_message)
        if isinstance(self.message_reader, FastSingerReader):
            self.message_reader.routes = self.routes
            self.message_reader.on_start = self.run.start

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict) -> None:
        """Stream maps and flattening only; metadata/load-method settings do not apply."""
        PluginBase.append_builtin_config.__func__(cls, config_jsonschema)  # type: ignore[attr-defined]

    # --- messages -------------------------------------------------------------------

    def _process_schema_message(self, message_dict: dict) -> None:
        stream = message_dict.get("stream")
        self._assert_line_requires(message_dict, requires={"stream", "schema"})
        self._assert_line_requires(message_dict["schema"], requires={"properties"})
        maps = self.mapper.stream_maps.get(stream)
        if maps and (
            maps[0].raw_schema != message_dict["schema"]
            or maps[0].raw_key_properties != message_dict.get("key_properties")
        ):
            old = [self._sinks_active.get(m.stream_alias) for m in maps]
            self.run.schema_changing(s for s in old if isinstance(s, ParquetSink))
        self.run.bookmarks[stream] = list(message_dict.get("bookmark_properties") or [])
        self.run.saw_stream(stream)
        super()._process_schema_message(message_dict)
        self._route(stream)

    def _route(self, stream: str) -> None:
        """Use the raw fast path when records land unchanged in one sink."""
        maps = self.mapper.stream_maps.get(stream) or []
        sink = self._sinks_active.get(stream)
        fast = (
            len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and maps[0].stream_alias == stream
            and not maps[0].flattening_enabled
            and not self.settings.validate_records
            and isinstance(sink, ParquetSink)
        )
        if fast:
            self.routes[stream] = t.cast(ParquetSink, sink).append_line
        else:
            self.routes.pop(stream, None)
        for stream_map in maps:
            self.run.saw_stream(stream_map.stream_alias)

    def _process_record_message(self, message_dict: dict) -> None:
        """Per-record path: stream maps, flattening or validation are configured."""
        self._assert_line_requires(message_dict, requires={"stream", "record"})
        stream = message_dict["stream"]
        if stream not in self.mapper.stream_maps:
            self._assert_sink_exists(stream)
        extracted = message_dict.get("time_extracted")
        for stream_map in self.mapper.stream_maps[stream]:
            record = stream_map.transform(copy.copy(message_dict["record"]))
            if record is None:
                continue
            self._assert_sink_exists(stream_map.stream_alias)
            sink = t.cast(ParquetSink, self.get_sink(stream_map.stream_alias, record=record))
            if self.settings.validate_records:
                sink.validate(record)
            sink.append_record(record, extracted)

    def _process_batch_message(self, message_dict: dict) -> None:
        """Records in files (BATCH): each line goes the way of a RECORD line."""
        self._assert_line_requires(message_dict, requires={"stream", "encoding", "manifest"})
        stream = message_dict["stream"]
        self._assert_sink_exists(stream)
        sink = t.cast(ParquetSink, self._sinks_active[stream]) if stream in self.routes else None
        for url in message_dict["manifest"]:
            for lines, count in record_chunks(stream, url, message_dict["encoding"]):
                if sink is not None:
                    sink.append_lines(lines, count)
                else:
                    for line in lines.splitlines():
                        message = json_decoder.decode(line)
                        self._process_record_message({**message, "stream": stream})
            with contextlib.suppress(OSError):
                local_path(url).unlink()

    def _process_state_message(self, message_dict: dict) -> None:
        self._assert_line_requires(message_dict, requires={"value"})
        self.run.state_received(message_dict["value"])

    def _process_activate_version_message(self, message_dict: dict) -> None:
        self.logger.info(
            "ACTIVATE_VERSION for '%s' ignored: files are append-only",
            message_dict.get("stream"),
        )

    def process_endofpipe(self) -> None:
        """Load what the input's last STATE covers, emit that STATE, audit."""
        self.run.finish()

    # --- CLI --------------------------------------------------------------------------

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:  # pragma: no cover
        """Stop without emitting STATE for unflushed data; the next run resends it."""
        _ = frame
        msg = f"received signal {signum}; stopping without publishing buffered records"
        raise TerminatedError(msg)

    @classmethod
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: t.Any = None,
        file_input: t.IO[str] | None = None,
    ) -> None:
        """Run the target; any error is one clear log line and exit status 1."""
        if about:
            super().invoke(about=about, about_format=about_format, config=config)
            return
        cls.print_version(print_fn=cls.logger.info)
        target: TargetS3 | None = None
        try:
            target = cls(
                config=config.config if config else {},
                validate_config=True,
                parse_env_config=config.parse_env if config else False,
            )
            target.listen(getattr(file_input, "buffer", file_input))
        except ConfigValidationError as exc:
            for error in exc.errors:
                cls.logger.error("target-s3 setting error: %s", error)
            exit_failed(1)
        except BaseException as exc:
            if isinstance(exc, SystemExit) and not exc.code:
                raise
            message = _one_line(exc)
            if target is not None:
                target.run.fail(message)
            cls.logger.error("target-s3 failed: %s", message)
            cls.logger.debug("details", exc_info=True)
            exit_failed(1)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, TargetS3Error):
        text = str(exc)
    elif isinstance(exc, KeyboardInterrupt):
        text = "interrupted"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:1000]


if __name__ == "__main__":
    TargetS3.cli()
