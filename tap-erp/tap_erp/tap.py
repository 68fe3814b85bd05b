"""tap-erp: Singer tap for ERP REST APIs, driven by per-ERP profiles."""

from __future__ import annotations

import datetime
import typing as t

import click
import pendulum
from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError, MappingError
from singer_sdk.mapper import PluginMapper

from tap_erp import schema as schema_mod
from tap_erp.auth import (
    ApiKeyAuth,
    Authenticator,
    BasicAuth,
    BearerAuth,
    OAuth2ClientCredentials,
)
from tap_erp.client import WINDOWS, ERPStream, Runtime
from tap_erp.errors import HTTPStatusError, TapERPError
from tap_erp.fast_maps import speed_up_rename_maps
from tap_erp.http import HttpClient, RateLimiter
from tap_erp.profiles import AUTH_METHODS, PAGING_STYLES, Profile, load_profile
from tap_erp.stream_map_files import describe_map_error, with_stream_map_files
from tap_erp.streams import STREAM_TYPES
from tap_erp.writer import BufferedMsgSpecWriter

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream

SECRET_SETTINGS = ("api_key", "bearer_token", "password", "client_secret")

CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "profile",
        th.StringType,
        default="erp_sandbox",
        description=(
            "ERP profile: the name of a shipped profile (erp_sandbox) or the path of a "
            ".yaml/.json profile file. It describes entity paths, keys, paging, "
            "filters, metadata and auth conventions of one ERP."
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
        allowed_values=list(AUTH_METHODS),
        description="How to authenticate; default: the profile's default method.",
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
        allowed_values=list(PAGING_STYLES),
        description="Paging style the ERP serves; default: the profile's default style.",
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


def coerce_numeric_settings(config: dict[str, t.Any], schema: dict) -> None:
    """Turn numeric text into numbers for number and integer settings, in place.

    Orchestrators pass settings from environment variables as text (Meltano's
    `string` kind); "0.5" for a number setting means 0.5. Text that is not a number
    is left alone for validation to report.
    """
    for name, prop in schema.get("properties", {}).items():
        value = config.get(name)
        types = prop.get("type")
        types = {types} if isinstance(types, str) else set(types or ())
        if not isinstance(value, str) or not types & {"number", "integer"}:
            continue
        text = value.strip()
        if not text:
            config.pop(name)
            continue
        try:
            number = float(text)
        except ValueError:
            continue
        if "integer" in types and number.is_integer():
            config[name] = int(number)
        elif "number" in types:
            config[name] = number


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


def build_authenticator(config: t.Mapping[str, t.Any], profile: Profile) -> Authenticator:
    """The authenticator the settings and the profile ask for."""
    method = config.get("auth_method") or profile.default_auth_method
    if method not in profile.auth_methods:
        raise _invalid(
            "auth_method",
            f"{method!r} is not offered by profile '{profile.name}'; use one of "
            f"{', '.join(profile.auth_methods)}",
        )
    params = profile.auth_methods[method]

    def need(*names: str) -> None:
        missing = [n for n in names if not config.get(n)]
        if missing:
            raise _invalid(missing[0], f"required when auth_method is {method!r}")

    base_url = str(config["base_url"]).rstrip("/")
    if method == "api_key":
        need("api_key")
        return ApiKeyAuth(
            header=config.get("api_key_header") or params["header"], key=config["api_key"]
        )
    if method == "bearer":
        need("bearer_token")
        return BearerAuth(
            token=config["bearer_token"],
            header=params.get("header", "Authorization"),
            prefix=params.get("prefix", "Bearer"),
        )
    if method == "basic":
        need("username", "password")
        return BasicAuth(username=config["username"], password=config["password"])
    need("client_id", "client_secret")
    token_url = config.get("token_url") or params["token_path"]
    if not token_url.startswith(("http://", "https://")):
        token_url = f"{base_url}/{token_url.lstrip('/')}"
    return OAuth2ClientCredentials(
        token_url=token_url,
        client_id=config["client_id"],
        client_secret=config["client_secret"],
        base_url=base_url,
        scope=config.get("oauth_scope"),
        grant_type=params.get("grant_type", "client_credentials"),
        access_token_field=params.get("access_token_field", "access_token"),
        expires_in_field=params.get("expires_in_field", "expires_in"),
        default_expires_in=float(params.get("default_expires_in", 300)),
        client_auth=params.get("client_auth", "body"),
    )


def build_runtime(config: t.Mapping[str, t.Any]) -> Runtime:
    """Validate the settings against the profile and build the shared transport."""
    try:
        profile = load_profile(str(config.get("profile") or "erp_sandbox"))
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

    authenticator = build_authenticator(config, profile)
    limiter = RateLimiter(
        per_second=config.get("rate_limit_per_second"),
        per_minute=config.get("rate_limit_per_minute"),
    )
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
        error_message_paths=profile.error_message_paths,
        secrets=[config.get(name) for name in SECRET_SETTINGS],
    )
    if isinstance(authenticator, OAuth2ClientCredentials):
        authenticator.bind(http.post_token)
    return Runtime(
        profile=profile,
        http=http,
        pagination_style=style,
        page_size=page_size,
        start_date=start_date,
        lookback_seconds=float(config.get("lookback_seconds") or 0),
        backfill_window=window,
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


class TapERP(Tap):
    """Singer tap for ERP REST APIs, with per-ERP differences kept in profile files."""

    name = "tap-erp"
    package_name = "tap-erp"
    dynamic_catalog = True
    message_writer_class = BufferedMsgSpecWriter
    config_jsonschema = CONFIG_SCHEMA

    _runtime: Runtime | None = None

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Validate the settings, numeric text read as numbers first."""
        coerce_numeric_settings(self._config, self.config_jsonschema)
        return super()._validate_config(raise_errors=raise_errors)

    @property
    def runtime(self) -> Runtime:
        """Shared profile, transport and resolved settings (built once)."""
        if self._runtime is None:
            self._runtime = build_runtime(self.config)
        return self._runtime

    def _schemas(self, streams: list[type[ERPStream]]) -> dict[str, dict]:
        """Core schemas, plus custom fields from the metadata endpoint at discovery."""
        runtime = self.runtime
        profile = runtime.profile
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
        try:
            document = runtime.http.get_json(runtime.http.url(meta.path))
        except HTTPStatusError as exc:
            if exc.status not in {404, 405, 501}:
                raise
            self.logger.warning(
                "Metadata endpoint unavailable (%s): using static schemas (no custom fields)",
                exc,
            )
            return core
        merged = {}
        for cls in streams:
            spec = profile.streams[cls.entity]
            entity = schema_mod.find_entity(document, spec, meta)
            if entity is None:
                self.logger.warning(
                    "Metadata describes no entity for stream '%s': static schema", cls.name
                )
            merged[cls.name] = schema_mod.merge_schema(core[cls.name], entity, meta)
        return merged

    def setup_mapper(self) -> None:
        """The SDK's stream maps, including those of `stream_map_files`."""
        config = with_stream_map_files(self.config)
        try:
            self._mapper = PluginMapper(plugin_config=config, logger=self.logger)
            self.mapper.register_raw_streams_from_catalog(self.catalog)
        except MappingError as exc:
            raise TapERPError(describe_map_error(config.get("stream_maps"), exc)) from None
        speed_up_rename_maps(self.mapper, config.get("stream_maps") or {})

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
