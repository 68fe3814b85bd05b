"""Stream maps kept in files: the `stream_map_files` setting.

Each file holds Singer SDK stream maps (`{stream: {property: expression}}`) as YAML
or JSON. Files merge in order, property by property, and maps given directly in the
`stream_maps` setting win. This keeps a standard model per ERP profile and a
client's custom fields in separate files that any number of clients share.
"""

from __future__ import annotations

import ast
import json
import typing as t
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from singer_sdk.exceptions import ConfigValidationError


def _read(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        msg = f"stream_map_files: cannot read {path}: {exc.strerror or exc}"
        raise ConfigValidationError(msg) from exc
    kind = "JSON" if path.suffix == ".json" else "YAML"
    try:
        data = json.loads(text) if kind == "JSON" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        msg = f"stream_map_files: {path} is not valid {kind}{where}: {reason}"
        raise ConfigValidationError(msg) from exc
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        msg = f"stream_map_files: {path} must map stream names to stream maps"
        raise ConfigValidationError(msg)
    return data


def _merge_into(merged: dict[str, Any], maps: Mapping[str, Any]) -> None:
    for stream, spec in maps.items():
        current = merged.get(stream)
        if isinstance(spec, Mapping) and isinstance(current, dict):
            current.update(spec)
        else:
            merged[stream] = dict(spec) if isinstance(spec, Mapping) else spec


def merged_stream_maps(files: Iterable[str], stream_maps: Mapping[str, Any] | None) -> dict:
    """The stream maps of every file, in order, then `stream_maps` on top."""
    merged: dict[str, Any] = {}
    for name in files:
        _merge_into(merged, _read(Path(name).expanduser()))
    _merge_into(merged, stream_maps or {})
    return merged


def with_stream_map_files(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the tap's config whose `stream_maps` include `stream_map_files`."""
    files = config.get("stream_map_files") or []
    if not files:
        return dict(config)
    if isinstance(files, str) or not all(isinstance(f, str) for f in files):
        msg = "stream_map_files: expected a list of file paths"
        raise ConfigValidationError(msg)
    return {**config, "stream_maps": merged_stream_maps(files, config.get("stream_maps"))}


def describe_map_error(stream_maps: Mapping[str, Any] | None, error: Exception) -> str:
    """One line naming the stream map property whose expression is broken, if found."""
    for stream, spec in (stream_maps or {}).items():
        if not isinstance(spec, Mapping):
            continue
        for prop, expression in spec.items():
            if not isinstance(expression, str) or expression == "__NULL__":
                continue
            try:
                ast.parse(expression)
            except SyntaxError as exc:
                return (
                    f"stream map '{stream}.{prop}': expression {expression!r} is not "
                    f"valid Python ({exc.msg})"
                )
    return f"stream maps: {error}"


def keeping_property(
    stream_maps: Mapping[str, Any] | None, streams: Iterable[str], name: str
) -> dict[str, Any]:
    """`stream_maps` where each map of `streams` that drops unnamed properties
    (`__else__: __NULL__`) passes `name` on unchanged, unless it says otherwise."""
    result = dict(stream_maps or {})
    for stream in streams:
        spec = result.get(stream)
        drops_others = isinstance(spec, Mapping) and spec.get("__else__", "") in (None, "__NULL__")
        if drops_others and name not in t.cast("Mapping", spec):
            result[stream] = {**t.cast("Mapping", spec), name: name}
    return result
