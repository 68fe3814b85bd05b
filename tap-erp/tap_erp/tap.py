"""tap-erp: Singer tap for ERP REST APIs, driven by per-ERP profiles."""

from __future__ import annotations

import datetime
import json
import typing as t
import zoneinfo

import click
import pendulum
from singer_sdk.exceptions import ConfigValidationError, MappingError

from tap_erp import schema as schema_mod
from tap_erp import unmapped
from tap_erp.auth import LoginAuth, OAuth2ClientCredentials
from tap_erp.auth_config import build_authenticator, invalid
from tap_erp.batches import UNTAKEN_GRACE_SECONDS, forget_written, remove_untaken
from tap_erp.client import ERPStream, Runtime
from tap_erp.deletes import DELETED
from tap_erp.dialect import spec, timestamps
from tap_erp.dialect.selectors import NOTHING, Selector
from tap_erp.errors import AuthenticationError, HTTPStatusError, TapERPError
from tap_erp.http import HttpClient, RateLimiter
from tap_erp.profiles import Profile, load_profile
from tap_erp.sdk_internals import TapInternals
from tap_erp.settings import CONFIG_SCHEMA, SECRET_SETTINGS, setting
from tap_erp.state_check import check_state
from tap_erp.stream_map_files import keeping_property
from tap_erp.streams import STREAM_TYPES
from tap_erp.writer import BufferedMsgSpecWriter

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from singer_sdk.streams import Stream

    from tap_erp.profiles import MetadataSpec, RequestTemplate


_invalid = invalid


def _parse_start_date(value: str) -> datetime.datetime:
    try:
        parsed = pendulum.parse(value)
    except (ValueError, pendulum.parsing.exceptions.ParserError) as exc:
        raise _invalid("start_date", f"{value!r} is not an ISO 8601 date or timestamp") from exc
    if not isinstance(parsed, pendulum.DateTime):
        if isinstance(parsed, pendulum.Date):
            parsed = pendulum.datetime(parsed.year, parsed.month, parsed.day)
        else:
            raise _invalid("start_date", f"{value!r} is not an ISO 8601 date or timestamp")
    return datetime.datetime.fromisoformat(parsed.in_timezone("UTC").isoformat())


def _choice(config: t.Mapping[str, t.Any], name: str) -> str:
    """A setting that has allowed values (its declared `enum`), checked."""
    value = setting(config, name)
    allowed = tuple(CONFIG_SCHEMA["properties"][name]["enum"])
    if value not in allowed:
        raise _invalid(name, f"{value!r} is not allowed; use one of {allowed}")
    return value


def _login(http: HttpClient, profile: Profile, values: dict[str, t.Any]) -> Callable[[], t.Any]:
    """The login call of a `login` auth method: its request, then its token selector."""
    request = t.cast("RequestTemplate", profile.login_request)
    method = next(m for m in profile.auth_methods.values() if isinstance(m, spec.LoginAuth))
    selector = Selector(method.token)

    def login() -> str:
        rendered = request.render(values, http.base_url)
        try:
            reply = http.request(rendered, authenticated=False)
        except HTTPStatusError as exc:
            msg = f"authentication failed for {http.base_url}: login answered {exc}"
            raise AuthenticationError(msg) from None
        token = selector.find(reply.body)
        if token is False or token is None:  # Odoo's common.authenticate: false
            msg = (
                f"authentication failed for {http.base_url}: the login was refused "
                f"(the ERP answered {json.dumps(token)} at {method.token!r}): check the "
                "user name, password or API key"
            )
            raise AuthenticationError(msg)
        if token is NOTHING or token == "":
            msg = (
                f"authentication failed for {http.base_url}: the login answer has no token "
                f"at {method.token!r} ({selector.describe_miss(reply.body)})"
            )
            raise AuthenticationError(msg)
        return token

    return login


def _setting_values(config: t.Mapping[str, t.Any], profile: Profile) -> dict[str, t.Any]:
    """Values of `{config.<name>}`: the tap's settings and the profile's own (defaults)."""
    values = dict(config)
    for name, own in profile.settings.items():
        if values.get(name) in (None, "") and own.default is not None:
            values[name] = own.default
        if own.required and values.get(name) in (None, ""):
            raise _invalid(name, f"required by profile '{profile.name}': {own.description}")
        # Empty text (an unset environment variable) is no value: templates leave it out.
        value = values.get(name)
        values[name] = _setting_kind(name, None if value == "" else value, own.kind)
    return values


def _setting_kind(name: str, value: t.Any, kind: str) -> t.Any:
    """A profile setting given as text (an environment variable) read as its kind."""
    if not isinstance(value, str) or kind == "string":
        return value
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
        if kind == "boolean" and value.lower() in {"true", "false", "1", "0"}:
            return value.lower() in {"true", "1"}
        if kind in {"array", "object"}:
            return json.loads(value)
    except ValueError:
        pass
    raise _invalid(name, f"{value!r} is not a valid {kind}")


def build_runtime(config: t.Mapping[str, t.Any]) -> Runtime:
    """Validate the settings against the profile and build the shared transport."""
    try:
        profile = load_profile(
            str(setting(config, "profile")), known_settings=CONFIG_SCHEMA["properties"]
        )
    except TapERPError as exc:
        raise _invalid("profile", str(exc)) from exc

    base_url = str(config.get("base_url") or "")
    if not base_url.startswith(("http://", "https://")):
        raise _invalid("base_url", f"{base_url!r} must start with http:// or https://")

    style = config.get("pagination_style") or profile.default_style
    if style not in profile.styles:
        raise _invalid(
            "pagination_style",
            f"{style!r} is not offered by profile '{profile.name}'; use one of "
            f"{', '.join(profile.styles)}",
        )
    page_size = int(config.get("page_size") or profile.page_size_default)
    if not 2 <= page_size <= profile.page_size_max:
        raise _invalid(
            "page_size", f"{page_size} is out of range; use 2 to {profile.page_size_max}"
        )
    window = _choice(config, "backfill_window")
    _choice(config, "unmapped_custom_fields")
    start_date = _parse_start_date(config["start_date"]) if config.get("start_date") else None
    zone = config.get("site_timezone") or profile.decl.timezone
    try:
        timestamps.set_site_timezone(zone)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise _invalid(
            "site_timezone", f"{zone!r} is not a time zone name (e.g. UTC, Europe/Berlin)"
        ) from None

    values = _setting_values(config, profile)
    authenticator = build_authenticator(config, profile, {"config": values})
    limiter = RateLimiter(
        per_second=config.get("rate_limit_per_second"),
        per_minute=config.get("rate_limit_per_minute"),
    )
    secrets = [config.get(name) for name in SECRET_SETTINGS]
    secrets += [str(values.get(n) or "") for n, s in profile.settings.items() if s.secret]
    http = HttpClient(
        base_url=base_url,
        authenticator=authenticator,
        timeout=float(setting(config, "request_timeout_seconds")),
        max_retries=int(setting(config, "max_retries")),
        backoff_base=float(setting(config, "backoff_base_seconds")),
        backoff_max=float(setting(config, "backoff_max_seconds")),
        limiter=limiter,
        verify=bool(setting(config, "verify_tls")),
        user_agent=setting(config, "user_agent"),
        error_message_paths=profile.decl.errors.message_paths,
        body_error=profile.decl.errors.body_error,
        retry_statuses=profile.decl.retry.statuses,
        secrets=secrets,
    )
    if isinstance(authenticator, OAuth2ClientCredentials):  # JWT assertions included
        authenticator.bind(http.post_token)
    if isinstance(authenticator, LoginAuth):
        authenticator.bind(_login(http, profile, {"config": values}))
    return Runtime(
        profile=profile,
        http=http,
        pagination_style=style,
        page_size=page_size,
        start_date=start_date,
        lookback_seconds=float(setting(config, "lookback_seconds")),
        backfill_window=window,
        key_snapshot_every_runs=int(setting(config, "key_snapshot_every_runs")),
        config=values,
    )


def stream_types(profile: Profile) -> list[type[ERPStream]]:
    """A stream class per profile entity: the named classes, generic ones for the rest."""
    known = {cls.entity: cls for cls in STREAM_TYPES}
    result: list[type[ERPStream]] = []
    for entity in profile.streams:
        cls = known.get(entity)
        if cls is None:
            cls = t.cast(
                "type[ERPStream]",
                type(f"ERPStream_{entity}", (ERPStream,), {"name": entity, "entity": entity}),
            )
        result.append(cls)
    return result


class TapERP(TapInternals):
    """Singer tap for ERP REST APIs, with per-ERP differences kept in profile files."""

    name = "tap-erp"
    package_name = "tap-erp"
    dynamic_catalog = True
    message_writer_class = BufferedMsgSpecWriter
    config_jsonschema = CONFIG_SCHEMA

    _runtime: Runtime | None = None

    @property
    def runtime(self) -> Runtime:
        """Shared profile, transport and resolved settings (built once)."""
        if self._runtime is None:
            self._runtime = build_runtime(self.config)
        return self._runtime

    def core_properties(self, stream: str) -> set[str] | None:
        """Properties of the profile's core schema of `stream` (the rest is custom)."""
        if stream not in self.runtime.profile.streams:
            return None
        return set(self.runtime.profile.load_static_schema(stream).get("properties", {}))

    def load_state(self, state: dict[str, t.Any]) -> None:
        """The SDK's state, once every bookmark is checked (`state_check`)."""
        if state:
            keys = {name: s.replication_key for name, s in self.runtime.profile.streams.items()}
            for stream in check_state(state, keys):
                self.logger.warning("state: bookmark of unknown stream '%s' ignored", stream)
        super().load_state(state)

    def prepare_stream_maps(self, config: dict[str, t.Any]) -> dict[str, t.Any]:
        """Stream maps keep `_sdc_deleted_at` of the streams that send deletes."""
        streams = [n for n, s in self.runtime.profile.streams.items() if s.deletes is not None]
        if not streams or not config.get("stream_maps"):
            return config
        maps = keeping_property(config["stream_maps"], streams, DELETED)
        return {**config, "stream_maps": maps}

    def sync_all(self) -> None:
        """Sync every selected stream, once dropped custom fields and new columns are
        reported (`unmapped`) and each stream's deletes are read (a delete endpoint
        the ERP lacks fails the run before any row is sent); batch files the loader
        did not take (a failed run) are removed at the end."""
        unmapped.report(self)
        forget_written()
        try:
            for stream in self.streams.values():
                if isinstance(stream, ERPStream) and stream.selected:
                    stream.read_deletes()
            super().sync_all()
        finally:
            wait = float(setting(self.config, "batch_wait_seconds"))
            if removed := remove_untaken(grace=min(UNTAKEN_GRACE_SECONDS, wait)):
                self.logger.warning("Removed %d batch file(s) the loader did not take", removed)

    def _metadata_document(
        self, request: RequestTemplate, entity: str, read: dict[tuple, t.Any]
    ) -> t.Any:
        """The metadata document `request` asks for (of `entity` when it names it),
        parsed; None when the ERP has no metadata endpoint there. Each document is
        read once (`read`: documents by request)."""
        runtime = self.runtime
        meta = t.cast("MetadataSpec", runtime.profile.metadata)
        rendered = request.render(
            {"config": runtime.config, "entity": entity, "token": runtime.http.login_token()},
            runtime.http.base_url,
        )
        key = (
            rendered.method,
            rendered.url,
            json.dumps(rendered.params, sort_keys=True),
            json.dumps(rendered.json, sort_keys=True, default=str),
        )
        if key in read:
            return read[key]
        try:
            reply = runtime.http.request(rendered, raw=True)
        except HTTPStatusError as exc:
            if exc.status not in {404, 405, 501}:
                raise
            self.logger.warning(
                "Metadata endpoint unavailable (%s): using static schemas (no custom fields)",
                exc,
            )
            read[key] = None
            return None
        read[key] = meta.format.read(reply.body)
        return read[key]

    def _schemas(self, streams: list[type[ERPStream]]) -> dict[str, dict]:
        """Core schemas, plus custom fields from the metadata endpoint at discovery."""
        profile = self.runtime.profile
        core = {cls.name: profile.load_static_schema(cls.entity) for cls in streams}
        if self.input_catalog is not None:
            # The catalog's own schemas win; no need to ask the ERP.
            return core
        meta = profile.metadata
        if meta is None:
            self.logger.warning(
                "Profile '%s' has no metadata endpoint: using static schemas (no custom fields)",
                profile.name,
            )
            return core
        read: dict[tuple, t.Any] = {}
        merged = {}
        for cls in streams:
            stream = profile.streams[cls.entity]
            request = stream.metadata_request or meta.request
            document = self._metadata_document(request, stream.metadata_entity, read)
            fields = (
                None
                if document is None
                else meta.format.fields(document, stream.metadata_entity, stream.path)
            )
            if document is not None and fields is None:
                self.logger.warning(
                    "Metadata describes no entity for stream '%s': static schema", cls.name
                )
            merged[cls.name] = schema_mod.merge_schema(
                core[cls.name], fields, meta.type_map, meta.custom_fields
            )
        return merged

    def discover_streams(self) -> list[Stream]:
        """One stream per profile entity, schemas discovered from the ERP."""
        types = stream_types(self.runtime.profile)
        schemas = self._schemas(types)
        return [cls(tap=self, runtime=self.runtime, schema=schemas[cls.name]) for cls in types]

    # Command line: user-facing failures are one log line, exit code 1.

    @classmethod
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:  # type: ignore[override]
        """Run the tap; report fatal errors as one line without a traceback."""
        try:
            super().invoke(*args, **kwargs)
        except (TapERPError, MappingError) as exc:
            cls.logger.error("%s", exc)
            raise click.exceptions.Exit(1) from None

    @classmethod
    def cb_discover(
        cls,
        ctx: click.Context,
        param: click.Option,
        value: bool,
    ) -> None:
        """Discovery with the same one-line error reporting."""
        try:
            super().cb_discover(ctx, param, value)
        except (TapERPError, MappingError) as exc:
            cls.logger.error("%s", exc)
            ctx.exit(1)
        except ConfigValidationError as exc:
            for error in exc.errors:
                cls.logger.error("Config validation error: %s", error)
            ctx.exit(1)


if __name__ == "__main__":
    TapERP.cli()
