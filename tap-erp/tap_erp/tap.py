"""tap-erp: Singer tap for ERP REST APIs, driven by per-ERP profiles."""

from __future__ import annotations

import datetime
import json
import typing as t
import zoneinfo

import click
import pendulum
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError, MappingError

from tap_erp import schema as schema_mod
from tap_erp.auth import (
    ApiKeyAuth,
    Authenticator,
    BasicAuth,
    BearerAuth,
    LoginAuth,
    OAuth2ClientCredentials,
)
from tap_erp.client import WINDOWS, ERPStream, Runtime
from tap_erp.dialect import spec, timestamps
from tap_erp.dialect.selectors import NOTHING, Selector
from tap_erp.errors import AuthenticationError, HTTPStatusError, TapERPError
from tap_erp.http import HttpClient, RateLimiter
from tap_erp.profiles import Profile, load_profile
from tap_erp.sdk_internals import TapInternals
from tap_erp.streams import STREAM_TYPES
from tap_erp.writer import BufferedMsgSpecWriter

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from singer_sdk.streams import Stream

    from tap_erp.profiles import MetadataSpec, RequestTemplate

SECRET_SETTINGS = ("api_key", "bearer_token", "password", "client_secret")

CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "profile",
        th.StringType,
        default="erp_sandbox",
        description=(
            "ERP profile: the name of a shipped profile (erp_sandbox, tryton, "
            "business_central, sap_s4hana) or the path of a .yaml/.json profile file in "
            "the dialect language (requests, selectors, paginators, decoders, auth, "
            "metadata; see PROFILES.md)."
        ),
    ),
    th.Property(
        "base_url",
        th.StringType,
        required=True,
        description="Base URL of the client's ERP API, e.g. http://127.0.0.1:8765/acme.",
    ),
    th.Property(
        "auth_method",
        th.StringType,
        description=(
            "How to authenticate: the name of one of the profile's auth methods "
            "(e.g. api_key, bearer, basic, oauth2, login); default: the profile's."
        ),
    ),
    th.Property(
        "api_key", th.StringType, secret=True, description="API key (auth_method api_key)."
    ),
    th.Property(
        "api_key_header",
        th.StringType,
        description="Header carrying the API key; default from the profile (X-API-Key).",
    ),
    th.Property(
        "bearer_token",
        th.StringType,
        secret=True,
        description="Static bearer token / personal access token (auth_method bearer).",
    ),
    th.Property("username", th.StringType, description="User name (auth_method basic)."),
    th.Property(
        "password", th.StringType, secret=True, description="Password (auth_method basic)."
    ),
    th.Property("client_id", th.StringType, description="OAuth2 client id (auth_method oauth2)."),
    th.Property(
        "client_secret",
        th.StringType,
        secret=True,
        description="OAuth2 client secret (auth_method oauth2).",
    ),
    th.Property(
        "token_url",
        th.StringType,
        description=(
            "OAuth2 token endpoint; absolute, or relative to base_url. "
            "Default from the profile (oauth/token)."
        ),
    ),
    th.Property("oauth_scope", th.StringType, description="OAuth2 scope, if the ERP needs one."),
    th.Property(
        "pagination_style",
        th.StringType,
        description=(
            "Paging style the ERP serves: the name of one of the profile's paginators "
            "(erp_sandbox: offset, page, cursor); default: the profile's."
        ),
    ),
    th.Property(
        "site_timezone",
        th.StringType,
        description=(
            "Time zone (IANA name, e.g. Europe/Berlin) of naive timestamps the ERP sends "
            "or expects; default: the profile's (UTC)."
        ),
    ),
    th.Property(
        "page_size",
        th.IntegerType(minimum=2),
        description="Rows per request; default and maximum from the profile (1000, 5000).",
    ),
    th.Property(
        "start_date",
        th.DateTimeType,
        description=(
            "Earliest modification time to extract when a stream has no bookmark "
            "(ISO 8601, e.g. 2024-01-01 or 2024-01-01T00:00:00Z)."
        ),
    ),
    th.Property(
        "lookback_seconds",
        th.NumberType(minimum=0),
        default=0,
        description=(
            "Re-read this many seconds before the bookmark on each sync, to catch "
            "rows committed late with an older timestamp (they are emitted again)."
        ),
    ),
    th.Property(
        "backfill_window",
        th.StringType,
        allowed_values=list(WINDOWS),
        default="none",
        description=(
            "First sync only (no bookmark, start_date set): read in day/week/month "
            "windows from start_date; the last window is open-ended."
        ),
    ),
    th.Property(
        "request_timeout_seconds",
        th.NumberType(exclusive_minimum=0),
        default=60,
        description="Connect/read timeout of one HTTP request.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=0),
        default=8,
        description="Retries of one request on 429, 5xx, timeouts, cut or malformed bodies.",
    ),
    th.Property(
        "backoff_base_seconds",
        th.NumberType(minimum=0),
        default=0.5,
        description="Exponential backoff base: retry n waits up to base * 2^(n-1) (full jitter).",
    ),
    th.Property(
        "backoff_max_seconds",
        th.NumberType(minimum=0),
        default=30,
        description="Upper bound of one backoff wait (Retry-After is honoured as sent).",
    ),
    th.Property(
        "rate_limit_per_second",
        th.NumberType(exclusive_minimum=0),
        description="Client-side limit of requests per second (token bucket); unset: none.",
    ),
    th.Property(
        "rate_limit_per_minute",
        th.NumberType(exclusive_minimum=0),
        description="Client-side limit of requests per minute (evenly spaced); unset: none.",
    ),
    th.Property(
        "batch_messages",
        th.BooleanType,
        default=True,
        description=(
            "With batch_config set: send records in files (BATCH messages). False "
            "sends RECORD messages, for loaders without BATCH support."
        ),
    ),
    th.Property(
        "batch_wait_seconds",
        th.NumberType(exclusive_minimum=0),
        default=600,
        description=(
            "With batch_config: how long to wait for the loader to take (read and "
            "remove) a batch file before the sync fails; a batch's STATE is only sent "
            "once its files are taken, so a loader without BATCH support loses nothing."
        ),
    ),
    th.Property(
        "verify_tls",
        th.BooleanType,
        default=True,
        description="Verify the server's TLS certificate.",
    ),
    th.Property(
        "user_agent",
        th.StringType,
        default="tap-erp/0.1.0",
        description="User-Agent header sent with every request.",
    ),
    th.Property(
        "stream_map_files",
        th.ArrayType(th.StringType),
        description=(
            "Files (YAML or JSON) of stream maps in the `stream_maps` format, merged in "
            "order property by property; `stream_maps` given directly wins. Keeps a "
            "standard model per ERP profile and each client's custom fields in files."
        ),
    ),
).to_dict()


def _invalid(setting: str, message: str) -> ConfigValidationError:
    text = f"setting '{setting}': {message}"
    return ConfigValidationError(text, errors=[text])


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


def _template_value(template: t.Any, values: dict[str, t.Any], where: str) -> str | None:
    """A config-only template (token URL, scope) rendered to text, or None."""
    from tap_erp.dialect.templates import MISSING, compile_template

    if template is None:
        return None
    value = compile_template(template, where, frozenset({"config"})).render(values)
    return None if value is MISSING else str(value)


def build_authenticator(
    config: t.Mapping[str, t.Any], profile: Profile, values: dict[str, t.Any]
) -> Authenticator:
    """The authenticator the settings and the profile ask for."""
    name = config.get("auth_method") or profile.default_auth_method
    if name not in profile.auth_methods:
        raise _invalid(
            "auth_method",
            f"{name!r} is not offered by profile '{profile.name}'; use one of "
            f"{', '.join(profile.auth_methods)}",
        )
    method = profile.auth_methods[name]

    def need(*names: str) -> None:
        missing = [n for n in names if not config.get(n)]
        if missing:
            raise _invalid(missing[0], f"required when auth_method is {name!r}")

    base_url = str(config["base_url"]).rstrip("/")
    if isinstance(method, spec.ApiKeyAuth):
        need("api_key")
        return ApiKeyAuth(
            header=config.get("api_key_header") or method.header, key=config["api_key"]
        )
    if isinstance(method, spec.BearerAuth):
        need("bearer_token")
        return BearerAuth(token=config["bearer_token"], header=method.header, prefix=method.prefix)
    if isinstance(method, spec.BasicAuth):
        need("username", "password")
        return BasicAuth(username=config["username"], password=config["password"])
    if isinstance(method, spec.LoginAuth):
        headers = profile.login_headers

        def render_headers(token: str) -> dict[str, str]:
            rendered = {k: tpl.render({**values, "token": token}) for k, tpl in headers.items()}
            return {k: str(v) for k, v in rendered.items() if isinstance(v, str | int)}

        return LoginAuth(render_headers=render_headers, expires_in=method.expires_in)
    method = t.cast("spec.OAuth2Auth", method)
    need("client_id", "client_secret")
    where = f"auth.methods.{name}"
    token_url = config.get("token_url") or _template_value(
        method.token_url, values, f"{where}.token_url"
    )
    if not token_url:
        from tap_erp.dialect.templates import compile_template

        names = compile_template(method.token_url, where, frozenset({"config"})).names
        reads = sorted(n.split(".", 1)[1] for n in names)
        hint = f" (or set {', '.join(reads)}, which the profile's token URL reads)" if reads else ""
        raise _invalid("token_url", f"required when auth_method is {name!r}{hint}")
    if not token_url.startswith(("http://", "https://")):
        token_url = f"{base_url}/{token_url.lstrip('/')}"
    return OAuth2ClientCredentials(
        token_url=token_url,
        client_id=config["client_id"],
        client_secret=config["client_secret"],
        base_url=base_url,
        scope=config.get("oauth_scope") or _template_value(method.scope, values, f"{where}.scope"),
        grant_type=method.grant_type,
        access_token_field=method.access_token_field,
        expires_in_field=method.expires_in_field,
        default_expires_in=float(method.default_expires_in),
        client_auth=method.client_auth,
    )


def _login(http: HttpClient, profile: Profile, values: dict[str, t.Any]) -> Callable[[], str]:
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
        if token is NOTHING or token in (None, "", False):
            msg = (
                f"authentication failed for {http.base_url}: the login answer has no token "
                f"at {method.token!r} ({selector.describe_miss(reply.body)})"
            )
            raise AuthenticationError(msg)
        return token if isinstance(token, str) else json.dumps(token)

    return login


def _setting_values(config: t.Mapping[str, t.Any], profile: Profile) -> dict[str, t.Any]:
    """Values of `{config.<name>}`: the tap's settings and the profile's own (defaults)."""
    values = dict(config)
    for name, setting in profile.settings.items():
        if values.get(name) in (None, "") and setting.default is not None:
            values[name] = setting.default
        if setting.required and values.get(name) in (None, ""):
            raise _invalid(name, f"required by profile '{profile.name}': {setting.description}")
        # Empty text (an unset environment variable) is no value: templates leave it out.
        value = values.get(name)
        values[name] = _setting_kind(name, None if value == "" else value, setting.kind)
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
            str(config.get("profile") or "erp_sandbox"), known_settings=CONFIG_SCHEMA["properties"]
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
    window = config.get("backfill_window") or "none"
    if window not in WINDOWS:
        raise _invalid("backfill_window", f"{window!r} is not allowed; use one of {WINDOWS}")
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
        timeout=float(config.get("request_timeout_seconds") or 60),
        max_retries=int(config.get("max_retries", 8)),
        backoff_base=float(config.get("backoff_base_seconds", 0.5)),
        backoff_max=float(config.get("backoff_max_seconds", 30)),
        limiter=limiter,
        verify=bool(config.get("verify_tls", True)),
        user_agent=config.get("user_agent"),
        error_message_paths=profile.decl.errors.message_paths,
        body_error=profile.decl.errors.body_error,
        retry_statuses=profile.decl.retry.statuses,
        secrets=secrets,
    )
    if isinstance(authenticator, OAuth2ClientCredentials):
        authenticator.bind(http.post_token)
    if isinstance(authenticator, LoginAuth):
        authenticator.bind(_login(http, profile, {"config": values}))
    return Runtime(
        profile=profile,
        http=http,
        pagination_style=style,
        page_size=page_size,
        start_date=start_date,
        lookback_seconds=float(config.get("lookback_seconds") or 0),
        backfill_window=window,
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
