"""ERP profiles: one ERP's dialect as data, loaded, checked and compiled once.

A profile is a YAML (or JSON) file in the dialect language (`tap_erp.dialect.spec`;
reference: `tap-erp/PROFILES.md`). The tap ships ``profiles/<name>.yaml``; the
``profile`` setting takes such a name or a path to a file of one's own. Core schemas
live in ``schemas/<name>/<stream>.json`` next to the shipped profiles, or in the
folder named by the profile's ``schemas_dir`` (relative to the file).
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing as t
from pathlib import Path

import msgspec
import yaml

from tap_erp.delete_specs import DeletesSpec, compile_deletes
from tap_erp.dialect import spec, timestamps
from tap_erp.dialect.decoders import DECODER_MAP
from tap_erp.dialect.metadata import METADATA_FORMATS, MetadataFormat
from tap_erp.dialect.selectors import Selector
from tap_erp.dialect.templates import MISSING, Template, compile_template
from tap_erp.errors import ProfileError

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

PACKAGE_DIR = Path(__file__).parent
PROFILES_DIR = PACKAGE_DIR / "profiles"
SCHEMAS_DIR = PACKAGE_DIR / "schemas"

AUTH_METHODS = tuple(spec.AUTH_MAP)

#: Placeholders each kind of template may read.
_PAGING = frozenset({"offset", "limit", "page", "cursor"})
_DATA = frozenset({"since", "before", "fields", "config", "token"}) | _PAGING
_KINDS = {
    "request": _DATA,
    "child_request": _DATA | {"parent"},
    "parent_request": _PAGING | {"config"},
    "paginator": _PAGING | {"config"},
    "metadata": frozenset({"entity", "config", "token"}),
    "login": frozenset({"config"}),
    "login_headers": frozenset({"token", "config"}),
    "config": frozenset({"config"}),
}


@dataclasses.dataclass(frozen=True)
class Rendered:
    """A request ready to send."""

    method: str
    url: str
    params: dict[str, t.Any]
    headers: dict[str, str]
    json: t.Any


class RequestTemplate:
    """A compiled request: defaults and the stream's own parts laid over each other."""

    def __init__(self, layers: list[spec.Request], where: str, kind: str) -> None:
        """Compile the layers (later ones win) for placeholders allowed in `kind`."""
        allowed = _KINDS[kind]
        method, path, body = "GET", None, None
        query: dict[str, t.Any] = {}
        headers: dict[str, t.Any] = {}
        for layer in layers:
            method = layer.method or method
            path = layer.path if layer.path is not None else path
            body = layer.body if layer.body is not None else body
            query.update(layer.query)
            headers.update(layer.headers)
        if path is None:
            raise ProfileError(f"'{where}.path' is required")
        self.method = method
        self.path = compile_template(path, f"{where}.path", allowed)
        self.query = {
            k: compile_template(v, f"{where}.query.{k}", allowed) for k, v in query.items()
        }
        self.headers = {
            k: compile_template(v, f"{where}.headers.{k}", allowed) for k, v in headers.items()
        }
        self.body = compile_template(body, f"{where}.body", allowed) if body is not None else None
        parts = [self.path, *self.query.values(), *self.headers.values()]
        if self.body is not None:
            parts.append(self.body)
        self.names = frozenset().union(*(p.names for p in parts))
        since_formats = {fmt or "iso" for p in parts for name, fmt in p.formats if name == "since"}
        #: Fractional digits of the coarsest changed-since filter (6: microseconds).
        self.since_digits = min((timestamps.FORMATS[f].digits for f in since_formats), default=6)

    def uses(self, name: str) -> bool:
        """Whether any part reads placeholder `name`."""
        return any(n == name or n.startswith(name + ".") for n in self.names)

    def render(
        self,
        values: Mapping[str, t.Any],
        base_url: str,
        extra_query: Mapping[str, Template] | None = None,
    ) -> Rendered:
        """The request for `values`; absent parts are left out."""
        path = self.path.render(values)
        if not isinstance(path, str):
            msg = f"the request path needs a value that is not set ({sorted(self.path.names)})"
            raise ProfileError(msg)
        params: dict[str, t.Any] = {}
        for source in (self.query, extra_query or {}):
            for name, tpl in source.items():
                value = tpl.render(values)
                if isinstance(value, str | int | float | list):
                    params[name] = value
                elif isinstance(value, bool):
                    params[name] = str(value).lower()
        headers = {}
        for name, tpl in self.headers.items():
            value = tpl.render(values)
            if isinstance(value, str | int | float):
                headers[name] = str(value)
        body = self.body.render(values) if self.body is not None else None
        url = path if path.startswith(("http://", "https://")) else f"{base_url}/{path.lstrip('/')}"
        return Rendered(self.method, url, params, headers, None if body is MISSING else body)


@dataclasses.dataclass(frozen=True)
class RecordsSelector:
    """Where the rows are: a selector, optionally items of a nested list in each row."""

    path: Selector
    each: Selector | None = None
    inherit: tuple[tuple[str, str], ...] = ()
    drop: tuple[str, ...] = ()


def _records(raw: str | spec.Records, where: str) -> RecordsSelector:
    if isinstance(raw, str):
        return RecordsSelector(Selector(raw, where))
    return RecordsSelector(
        Selector(raw.path, f"{where}.path"),
        Selector(raw.each, f"{where}.each") if raw.each else None,
        tuple(raw.inherit.items()),
        tuple(raw.drop),
    )


@dataclasses.dataclass(frozen=True)
class ParentSpec:
    """The parent request of a stream and the fields it hands to each row."""

    request: RequestTemplate
    records: RecordsSelector
    paginator: str
    fields: tuple[tuple[str, str], ...]
    primary_key: bool


@dataclasses.dataclass(frozen=True)
class StreamSpec:
    """One entity of the ERP, compiled."""

    name: str
    request: RequestTemplate
    primary_keys: tuple[str, ...]
    replication_key: str | None
    records: RecordsSelector
    paginator: str | None
    decoders: tuple[str, ...]
    parent: ParentSpec | None
    derive: tuple[tuple[str, Selector], ...]
    constants: tuple[tuple[str, t.Any], ...]
    #: How fields are asked for in `{fields}` (field -> text), defaults included.
    select_as: tuple[tuple[str, str], ...]
    metadata_entity: str
    #: The stream's own metadata request (None: the profile's).
    metadata_request: RequestTemplate | None
    schema_name: str
    #: How deleted rows become known (None: they do not).
    deletes: DeletesSpec | None = None

    @property
    def path(self) -> str:
        """The request path as written (for messages and metadata look-ups)."""
        return self.request.path.render({}) if not self.request.path.names else self.name


@dataclasses.dataclass(frozen=True)
class MetadataSpec:
    """The metadata request and format."""

    request: RequestTemplate
    format: MetadataFormat
    format_name: str
    type_map: dict[str, str]
    custom_fields: str | None


@dataclasses.dataclass(frozen=True)
class Profile:
    """A validated, compiled ERP profile."""

    name: str
    source: Path
    decl: spec.Profile
    streams: dict[str, StreamSpec]
    metadata: MetadataSpec | None
    login_request: RequestTemplate | None
    login_headers: dict[str, Template]
    paginator_queries: dict[str, dict[str, Template]]
    schemas_dir: Path

    @property
    def page_size_default(self) -> int:
        """Rows per request when the setting is unset."""
        return self.decl.page_size.default

    @property
    def page_size_max(self) -> int:
        """Largest page size."""
        return self.decl.page_size.max

    @property
    def default_style(self) -> str:
        """The paginator used when `pagination_style` is unset."""
        return self.decl.default_paginator

    @property
    def styles(self) -> dict[str, spec.Paginator]:
        """Paginators by name."""
        return self.decl.paginators

    @property
    def default_auth_method(self) -> str:
        """Auth method used when `auth_method` is unset."""
        return self.decl.auth.default

    @property
    def auth_methods(self) -> dict[str, spec.AuthMethod]:
        """Auth methods by name."""
        return self.decl.auth.methods

    @property
    def settings(self) -> dict[str, spec.Setting]:
        """The profile's own settings."""
        return self.decl.settings

    def load_static_schema(self, stream_name: str) -> dict:
        """The core JSON schema of a stream, shipped with the profile."""
        stream = self.streams[stream_name]
        path = self.schemas_dir / f"{stream.schema_name}.json"
        if not path.is_file():
            msg = f"profile '{self.name}': no schema file {path} for stream '{stream_name}'"
            raise ProfileError(msg)
        return t.cast("dict", json.loads(path.read_text(encoding="utf-8")))


# Loading


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


def load_profile(name_or_path: str, known_settings: Iterable[str] | None = None) -> Profile:
    """Load, check and compile a profile; raises ProfileError naming the key path."""
    source = resolve_profile_path(name_or_path)
    try:
        text = source.read_text(encoding="utf-8")
        raw = json.loads(text) if source.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        msg = f"invalid ERP profile {source}: cannot be read: {exc}"
        raise ProfileError(msg) from None
    try:
        if not isinstance(raw, dict):
            raise ProfileError("the top level must be a mapping")
        return compile_profile(_convert(raw), source, known_settings)
    except ProfileError as exc:
        msg = f"invalid ERP profile {source}: {exc}"
        raise ProfileError(msg) from None


#: Mappings of named structures: their key names are shown in error paths.
_NAMED = {
    "streams": spec.Stream,
    "paginators": spec.Paginator,
    "settings": spec.Setting,
}
_TAGS = {
    "paginators": spec.PAGINATOR_MAP,
    "auth.methods": spec.AUTH_MAP,
    "streams": spec.DELETES_MAP,
}


def _describe(exc: msgspec.ValidationError, prefix: str) -> str:
    """msgspec's message as `key.path: what is wrong`."""
    text = str(exc)
    message, _, where = text.rpartition(" - at `")
    where = where.rstrip("`")
    if not message:
        message, where = text, "$"
    path = prefix + where.removeprefix("$").lstrip(".")
    path = path.rstrip(".") or "(top level)"
    unknown = re.match(r"Object contains unknown field `(.+)`", message)
    if unknown:
        return f"'{path}': unknown key '{unknown.group(1)}'"
    missing = re.match(r"Object missing required field `(.+)`", message)
    if missing:
        return f"'{path}.{missing.group(1)}' is required".replace("'(top level).", "'")
    if path.endswith(".type") and message.startswith("Invalid value"):
        for where_prefix, registry in _TAGS.items():
            if path.startswith(where_prefix):
                value = message.removeprefix("Invalid value ")
                return f"'{path}': {value} is not a known type (known: {', '.join(registry)})"
    return f"'{path}': {message[0].lower()}{message[1:]}"


def _convert(raw: dict) -> spec.Profile:
    """The raw mapping as typed structures; errors name the key path."""
    for key, kind in _NAMED.items():
        entries = raw.get(key)
        if isinstance(entries, dict):
            for name, value in entries.items():
                try:
                    msgspec.convert(value, kind)
                except msgspec.ValidationError as exc:
                    raise ProfileError(_describe(exc, f"{key}.{name}.")) from None
    methods = (raw.get("auth") or {}).get("methods") if isinstance(raw.get("auth"), dict) else None
    if isinstance(methods, dict):
        for name, value in methods.items():
            try:
                msgspec.convert(value, spec.AuthMethod)
            except msgspec.ValidationError as exc:
                raise ProfileError(_describe(exc, f"auth.methods.{name}.")) from None
    try:
        return msgspec.convert(raw, spec.Profile)
    except msgspec.ValidationError as exc:
        raise ProfileError(_describe(exc, "")) from None


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ProfileError(message)


def _check_settings(templates: Iterable[tuple[str, Template]], known: set[str]) -> None:
    for where, tpl in templates:
        for name in tpl.names:
            if name.startswith("config.") and name.split(".")[1] not in known:
                msg = (
                    f"'{where}': {{{name}}} names no setting (tap settings and the "
                    "profile's `settings`)"
                )
                raise ProfileError(msg)


def _request_parts(prefix: str, req: RequestTemplate) -> list[tuple[str, Template]]:
    parts = [(f"{prefix}.path", req.path)]
    parts += [(f"{prefix}.query.{k}", v) for k, v in req.query.items()]
    parts += [(f"{prefix}.headers.{k}", v) for k, v in req.headers.items()]
    if req.body is not None:
        parts.append((f"{prefix}.body", req.body))
    return parts


def _check_paginator_fit(
    name: str, pag: spec.Paginator, req: RequestTemplate, query: dict[str, Template], where: str
) -> None:
    def used(placeholder: str) -> bool:
        return req.uses(placeholder) or any(tpl.uses(placeholder) for tpl in query.values())

    needs = {
        spec.OffsetPaginator: ("offset", "limit"),
        spec.PagePaginator: ("page", "limit"),
        spec.CursorPaginator: ("cursor",),
    }.get(type(pag), ())
    if isinstance(pag, spec.PagePaginator) and used("offset"):
        needs = ("limit",)  # pages addressed by offset: always a multiple of {limit}
    for placeholder in needs:
        _check(
            used(placeholder),
            f"'{where}': paginator '{name}' needs {{{placeholder}}} in the request or in "
            f"'paginators.{name}.query'",
        )


def _known(name: str, names: Iterable[str], where: str, what: str) -> None:
    names = list(names)
    _check(name in names, f"'{where}': {what} {name!r} is not known (known: {', '.join(names)})")


class _Compiler:
    """Compiles one profile; collects every template for the settings check."""

    def __init__(self, decl: spec.Profile) -> None:
        self.decl = decl
        self.templates: list[tuple[str, Template]] = []
        self.queries = {
            name: {
                k: compile_template(v, f"paginators.{name}.query.{k}", _KINDS["paginator"])
                for k, v in getattr(pag, "query", {}).items()
            }
            for name, pag in decl.paginators.items()
        }
        self.templates += [
            (f"paginators.{n}.query.{k}", v) for n, q in self.queries.items() for k, v in q.items()
        ]
        self.default_records = _records(decl.defaults.records, "defaults.records")
        self._check_defaults(decl.defaults.request)

    @staticmethod
    def _check_defaults(request: spec.Request) -> None:
        """Errors in the default request named where they are written, not per stream."""
        where = "defaults.request"
        allowed = _KINDS["child_request"]
        if request.path is not None:
            compile_template(request.path, f"{where}.path", allowed)
        for part in ("query", "headers"):
            for key, value in getattr(request, part).items():
                compile_template(value, f"{where}.{part}.{key}", allowed)
        if request.body is not None:
            compile_template(request.body, f"{where}.body", allowed)

    def request(self, layers: list[spec.Request], where: str, kind: str) -> RequestTemplate:
        request = RequestTemplate(layers, where, kind)
        self.templates += _request_parts(where, request)
        return request

    def records(self, raw: str | spec.Records | None, where: str) -> RecordsSelector:
        return self.default_records if not raw else _records(raw, where)

    def parent(self, where: str, raw: spec.Parent) -> ParentSpec:
        _known(raw.paginator, self.decl.paginators, f"{where}.paginator", "paginator")
        return ParentSpec(
            request=self.request([raw.request], f"{where}.request", "parent_request"),
            records=self.records(raw.records, f"{where}.records"),
            paginator=raw.paginator,
            fields=tuple(raw.fields.items()),
            primary_key=raw.primary_key,
        )

    def stream(self, name: str, stream: spec.Stream) -> StreamSpec:
        decl = self.decl
        where = f"streams.{name}"
        _check(bool(stream.primary_keys), f"'{where}.primary_keys' must list at least one field")
        kind = "child_request" if stream.parent else "request"
        request = self.request([decl.defaults.request, stream.request], f"{where}.request", kind)
        if stream.replication_key:
            _check(
                request.uses("since"),
                f"'{where}.replication_key': {stream.replication_key!r} needs a {{since}} "
                "filter in the request (rows changed at or after it, ordered by "
                "replication key and primary key)",
            )
        if stream.paginator is not None:
            _known(stream.paginator, decl.paginators, f"{where}.paginator", "paginator")
        for pag_name in [stream.paginator] if stream.paginator else decl.paginators:
            _check_paginator_fit(
                pag_name,
                decl.paginators[pag_name],
                request,
                self.queries[pag_name],
                f"{where}.request",
            )
        decoders = tuple(stream.decoders if stream.decoders is not None else decl.defaults.decoders)
        for decoder in decoders:
            _known(decoder, DECODER_MAP, f"{where}.decoders", "decoder")
        parent = None
        keys = tuple(stream.primary_keys)
        if stream.parent is not None:
            _check(
                stream.replication_key is None,
                f"'{where}.parent': a stream with a parent is read whole (no replication_key)",
            )
            parent = self.parent(f"{where}.parent", stream.parent)
            if parent.primary_key:
                keys += tuple(k for k, _ in parent.fields if k not in keys)
        return StreamSpec(
            name=name,
            request=request,
            primary_keys=keys,
            replication_key=stream.replication_key,
            records=self.records(stream.records, f"{where}.records"),
            paginator=stream.paginator,
            decoders=decoders,
            parent=parent,
            derive=tuple(
                (field, Selector(path, f"{where}.derive.{field}"))
                for field, path in stream.derive.items()
            ),
            constants=tuple(stream.constants.items()),
            select_as=tuple({**decl.defaults.select_as, **stream.select_as}.items()),
            metadata_entity=stream.metadata_entity or name,
            metadata_request=self.metadata_request(where, stream),
            schema_name=stream.schema or name,
            deletes=compile_deletes(self, name, stream, keys),
        )

    def metadata_request(self, where: str, stream: spec.Stream) -> RequestTemplate | None:
        if stream.metadata_request is None:
            return None
        _check(
            self.decl.metadata is not None,
            f"'{where}.metadata_request': the profile has no 'metadata' (format, request)",
        )
        layers = [t.cast("spec.Metadata", self.decl.metadata).request, stream.metadata_request]
        return self.request(layers, f"{where}.metadata_request", "metadata")

    def metadata(self, meta: spec.Metadata) -> MetadataSpec:
        _known(meta.format, METADATA_FORMATS, "metadata.format", "format")
        fmt = METADATA_FORMATS[meta.format]
        if meta.custom_fields:
            try:
                re.compile(meta.custom_fields)
            except re.error as exc:
                msg = f"'metadata.custom_fields': not a regular expression ({exc})"
                raise ProfileError(msg) from None
        return MetadataSpec(
            self.request([meta.request], "metadata.request", "metadata"),
            fmt,
            meta.format,
            {**fmt.type_map, **meta.type_map},
            meta.custom_fields,
        )

    def login(self, name: str, method: spec.LoginAuth) -> tuple[RequestTemplate, dict]:
        where = f"auth.methods.{name}"
        request = self.request(
            [spec.Request(method="POST"), method.request], f"{where}.request", "login"
        )
        Selector(method.token, f"{where}.token")
        headers = {
            k: compile_template(v, f"{where}.headers.{k}", _KINDS["login_headers"])
            for k, v in method.headers.items()
        }
        self.templates += [(f"{where}.headers.{k}", v) for k, v in headers.items()]
        return request, headers

    def oauth2(self, name: str, method: spec.OAuth2Auth) -> None:
        for key in ("token_url", "scope"):
            value = getattr(method, key)
            if value is not None:
                where = f"auth.methods.{name}.{key}"
                self.templates.append((where, compile_template(value, where, _KINDS["config"])))


def compile_profile(
    decl: spec.Profile, source: Path, known_settings: Iterable[str] | None = None
) -> Profile:
    """Check what types cannot say, and compile templates and selectors."""
    _check(0 < decl.page_size.default <= decl.page_size.max, "'page_size' needs 0 < default <= max")
    _check(bool(decl.paginators), "'paginators' lists no paginator")
    _check(bool(decl.streams), "'streams' lists no stream")
    _check(
        decl.default_paginator in decl.paginators,
        f"'default_paginator': {decl.default_paginator!r} is not in paginators "
        f"({', '.join(decl.paginators)})",
    )
    _check(
        decl.auth.default in decl.auth.methods,
        f"'auth.default': {decl.auth.default!r} is not in auth.methods "
        f"({', '.join(decl.auth.methods)})",
    )
    for name in decl.defaults.decoders:
        _known(name, DECODER_MAP, "defaults.decoders", "decoder")
    compiler = _Compiler(decl)
    streams = {name: compiler.stream(name, stream) for name, stream in decl.streams.items()}
    metadata = compiler.metadata(decl.metadata) if decl.metadata is not None else None
    login_request, login_headers = None, {}
    for name, method in decl.auth.methods.items():
        if isinstance(method, spec.LoginAuth):
            login_request, login_headers = compiler.login(name, method)
        elif isinstance(method, spec.OAuth2Auth):
            compiler.oauth2(name, method)
    for index, path in enumerate(decl.errors.message_paths):
        Selector(path, f"errors.message_paths[{index}]")
    if known_settings is not None:
        _check_settings(compiler.templates, set(known_settings) | set(decl.settings))
    schemas_dir = (
        (source.parent / decl.schemas_dir).resolve()
        if decl.schemas_dir
        else SCHEMAS_DIR / decl.name
    )
    _check(schemas_dir.is_dir(), f"schema folder {schemas_dir} does not exist")
    return Profile(
        name=decl.name,
        source=source,
        decl=decl,
        streams=streams,
        metadata=metadata,
        login_request=login_request,
        login_headers=login_headers,
        paginator_queries=compiler.queries,
        schemas_dir=schemas_dir,
    )
