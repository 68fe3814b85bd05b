"""ERP profiles: the per-ERP differences of the API, as data.

A profile is a YAML (or JSON) file. The tap ships ``profiles/<name>.yaml``; the
``profile`` setting takes such a name or a path to a file of one's own. Static
core schemas live in ``schemas/<name>/<stream>.json`` next to the shipped profiles,
or in the folder named by the profile's ``schemas_dir`` key (relative to the file).
"""

from __future__ import annotations

import dataclasses
import json
import typing as t
from pathlib import Path

import yaml

from tap_erp.errors import ProfileError

PACKAGE_DIR = Path(__file__).parent
PROFILES_DIR = PACKAGE_DIR / "profiles"
SCHEMAS_DIR = PACKAGE_DIR / "schemas"

PAGING_STYLES = ("offset", "page", "cursor")
AUTH_METHODS = ("api_key", "bearer", "basic", "oauth2")

_STYLE_KEYS: dict[str, tuple[str, ...]] = {
    "offset": ("offset_param", "limit_param"),
    "page": ("page_param", "size_param", "has_more_field"),
    "cursor": ("limit_param", "next_field"),
}


@dataclasses.dataclass(frozen=True)
class StreamSpec:
    """One entity of the ERP."""

    name: str
    path: str
    primary_keys: tuple[str, ...]
    replication_key: str | None
    metadata_entity: str


@dataclasses.dataclass(frozen=True)
class MetadataSpec:
    """Where and how the ERP describes its entities (custom fields included)."""

    path: str
    format: str
    entities_field: str
    fields_field: str
    type_map: dict[str, str]


@dataclasses.dataclass(frozen=True)
class Profile:
    """A validated ERP profile."""

    name: str
    source: Path
    records_path: str
    page_size_default: int
    page_size_max: int
    default_style: str
    styles: dict[str, dict[str, t.Any]]
    since_param: str | None
    before_param: str | None
    metadata: MetadataSpec | None
    default_auth_method: str
    auth_methods: dict[str, dict[str, t.Any]]
    error_message_paths: tuple[tuple[str, ...], ...]
    custom_prefix: str | None
    streams: dict[str, StreamSpec]
    schemas_dir: Path

    def style(self, name: str) -> dict[str, t.Any]:
        """Parameters of one paging style."""
        return self.styles[name]

    def load_static_schema(self, stream_name: str) -> dict:
        """The core JSON schema of a stream, shipped with the profile."""
        path = self.schemas_dir / f"{stream_name}.json"
        if not path.is_file():
            msg = f"profile '{self.name}': no schema file {path} for stream '{stream_name}'"
            raise ProfileError(msg)
        return t.cast("dict", json.loads(path.read_text(encoding="utf-8")))


def _fail(source: Path, message: str) -> t.NoReturn:
    msg = f"invalid ERP profile {source}: {message}"
    raise ProfileError(msg)


def _require(data: t.Mapping, key: str, kind: type | tuple[type, ...], where: str, src: Path):  # noqa: ANN202
    if key not in data or data[key] is None:
        _fail(src, f"'{where}{key}' is required")
    value = data[key]
    if not isinstance(value, kind):
        _fail(src, f"'{where}{key}' must be {_kind_name(kind)}, got {value!r}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def resolve_profile_path(name_or_path: str) -> Path:
    """Map the ``profile`` setting to a file: a shipped name or a path."""
    candidate = Path(name_or_path)
    if candidate.suffix in {".yaml", ".yml", ".json"}:
        if not candidate.is_file():
            msg = f"profile file {name_or_path} does not exist"
            raise ProfileError(msg)
        return candidate
    for suffix in (".yaml", ".yml", ".json"):
        shipped = PROFILES_DIR / f"{name_or_path}{suffix}"
        if shipped.is_file():
            return shipped
    msg = (
        f"unknown profile '{name_or_path}'; shipped profiles: "
        f"{', '.join(available_profiles())} (or give the path to a .yaml/.json file)"
    )
    raise ProfileError(msg)


def available_profiles() -> list[str]:
    """Names of the profiles shipped with the tap."""
    return sorted(p.stem for p in PROFILES_DIR.iterdir() if p.suffix in {".yaml", ".yml", ".json"})


def load_profile(name_or_path: str) -> Profile:
    """Load and validate a profile; raises ProfileError with a clear message."""
    source = resolve_profile_path(name_or_path)
    try:
        text = source.read_text(encoding="utf-8")
        raw = json.loads(text) if source.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        _fail(source, f"cannot be read: {exc}")
    if not isinstance(raw, dict):
        _fail(source, "the top level must be a mapping")
    return parse_profile(raw, source)


def parse_profile(raw: dict, source: Path) -> Profile:  # noqa: PLR0915
    """Validate a profile mapping."""
    name = _require(raw, "name", str, "", source)
    records_path = _require(raw, "records_path", str, "", source)

    page_size = _require(raw, "page_size", dict, "", source)
    size_default = _require(page_size, "default", int, "page_size.", source)
    size_max = _require(page_size, "max", int, "page_size.", source)
    if not 0 < size_default <= size_max:
        _fail(source, "'page_size' needs 0 < default <= max")

    pagination = _require(raw, "pagination", dict, "", source)
    styles_raw = _require(pagination, "styles", dict, "pagination.", source)
    styles: dict[str, dict[str, t.Any]] = {}
    for style, params in styles_raw.items():
        if style not in PAGING_STYLES:
            _fail(source, f"unknown paging style '{style}' (known: {', '.join(PAGING_STYLES)})")
        if not isinstance(params, dict):
            _fail(source, f"'pagination.styles.{style}' must be a mapping")
        for key in _STYLE_KEYS[style]:
            _require(params, key, str, f"pagination.styles.{style}.", source)
        styles[style] = dict(params)
        if style == "page":
            styles[style].setdefault("first_page", 1)
    if not styles:
        _fail(source, "'pagination.styles' lists no style")
    default_style = _require(pagination, "default_style", str, "pagination.", source)
    if default_style not in styles:
        _fail(source, f"'pagination.default_style' {default_style!r} is not in styles")

    incremental = raw.get("incremental") or {}
    if not isinstance(incremental, dict):
        _fail(source, "'incremental' must be a mapping")
    since_param = incremental.get("since_param")
    before_param = incremental.get("before_param")

    metadata = None
    if raw.get("metadata"):
        meta = _require(raw, "metadata", dict, "", source)
        metadata = MetadataSpec(
            path=_require(meta, "path", str, "metadata.", source),
            format=_require(meta, "format", str, "metadata.", source),
            entities_field=meta.get("entities_field", "entities"),
            fields_field=meta.get("fields_field", "fields"),
            type_map=dict(_require(meta, "type_map", dict, "metadata.", source)),
        )
        if metadata.format != "field_list":
            _fail(source, f"unknown metadata format {metadata.format!r} (known: field_list)")

    auth = _require(raw, "auth", dict, "", source)
    methods_raw = _require(auth, "methods", dict, "auth.", source)
    auth_methods: dict[str, dict[str, t.Any]] = {}
    for method, params in methods_raw.items():
        if method not in AUTH_METHODS:
            _fail(source, f"unknown auth method '{method}' (known: {', '.join(AUTH_METHODS)})")
        params = params or {}  # noqa: PLW2901
        if method == "api_key":
            _require(params, "header", str, "auth.methods.api_key.", source)
        if method == "oauth2":
            _require(params, "token_path", str, "auth.methods.oauth2.", source)
        auth_methods[method] = dict(params)
    default_auth = _require(auth, "default_method", str, "auth.", source)
    if default_auth not in auth_methods:
        _fail(source, f"'auth.default_method' {default_auth!r} is not in auth.methods")

    errors = raw.get("errors") or {}
    message_paths = tuple(tuple(p) for p in errors.get("message_paths", [["message"]]))

    fields = raw.get("fields") or {}
    custom_prefix = fields.get("custom_prefix")

    streams_raw = _require(raw, "streams", dict, "", source)
    streams: dict[str, StreamSpec] = {}
    for stream_name, spec in streams_raw.items():
        where = f"streams.{stream_name}."
        if not isinstance(spec, dict):
            _fail(source, f"'streams.{stream_name}' must be a mapping")
        keys = _require(spec, "primary_keys", list, where, source)
        if not keys or not all(isinstance(k, str) for k in keys):
            _fail(source, f"'{where}primary_keys' must be a non-empty list of field names")
        replication_key = spec.get("replication_key")
        if replication_key is not None and not isinstance(replication_key, str):
            _fail(source, f"'{where}replication_key' must be a field name or null")
        if replication_key and not since_param:
            _fail(source, f"'{where}replication_key' needs 'incremental.since_param'")
        streams[stream_name] = StreamSpec(
            name=stream_name,
            path=_require(spec, "path", str, where, source),
            primary_keys=tuple(keys),
            replication_key=replication_key,
            metadata_entity=spec.get("metadata_entity", stream_name),
        )

    schemas_dir = (
        (source.parent / raw["schemas_dir"]).resolve()
        if raw.get("schemas_dir")
        else SCHEMAS_DIR / name
    )
    if not schemas_dir.is_dir():
        _fail(source, f"schema folder {schemas_dir} does not exist")

    return Profile(
        name=name,
        source=source,
        records_path=records_path,
        page_size_default=size_default,
        page_size_max=size_max,
        default_style=default_style,
        styles=styles,
        since_param=since_param,
        before_param=before_param,
        metadata=metadata,
        default_auth_method=default_auth,
        auth_methods=auth_methods,
        error_message_paths=message_paths,
        custom_prefix=custom_prefix,
        streams=streams,
        schemas_dir=schemas_dir,
    )
