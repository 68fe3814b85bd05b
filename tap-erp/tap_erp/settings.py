"""Every setting of tap-erp: its name, type, default and description, declared once.

``CONFIG_SCHEMA`` is the declaration (the JSON schema the Singer SDK validates and
``--about`` prints; the README's settings table is that output). Code reads a
setting through ``setting(config, name)``, which gives the declared default for a
missing or empty value, so no other module writes a default. Settings that a
profile decides (``pagination_style``, ``page_size``, ``auth_method``…) have no
default here: the profile's applies. The project's tests check ``meltano.yml`` and
the README against this declaration.
"""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

BACKFILL_WINDOWS = ("none", "day", "week", "month")

UNMAPPED_CHOICES = ("drop", "pass")

SECRET_SETTINGS = (
    "api_key",
    "bearer_token",
    "password",
    "client_secret",
    "consumer_secret",
    "token_secret",
)

CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "profile",
        th.StringType,
        default="erp_sandbox",
        description=(
            "ERP profile: the name of a shipped profile (erp_sandbox, tryton, "
            "business_central, sap_s4hana, erpnext, odoo, odoo_json2) or the path of a "
            ".yaml/.json profile file in the dialect language (requests, selectors, "
            "paginators, decoders, auth, metadata; see PROFILES.md)."
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
            "(e.g. api_key, bearer, basic, oauth2, oauth2_jwt, oauth1, login); default: "
            "the profile's."
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
        "private_key_file",
        th.StringType,
        description=(
            "PEM file of the private key (RSA or EC, unencrypted) that signs the JWT "
            "client assertion (auth_method oauth2_jwt); its content is never logged."
        ),
    ),
    th.Property(
        "certificate_id",
        th.StringType,
        description=(
            "Id of the certificate whose key signs the JWT assertion, sent as its `kid` "
            "(auth_method oauth2_jwt; NetSuite: the certificate id of the M2M mapping)."
        ),
    ),
    th.Property(
        "consumer_key", th.StringType, description="OAuth 1.0a consumer key (auth_method oauth1)."
    ),
    th.Property(
        "consumer_secret",
        th.StringType,
        secret=True,
        description="OAuth 1.0a consumer secret (auth_method oauth1).",
    ),
    th.Property("token_id", th.StringType, description="OAuth 1.0a token id (auth_method oauth1)."),
    th.Property(
        "token_secret",
        th.StringType,
        secret=True,
        description="OAuth 1.0a token secret (auth_method oauth1).",
    ),
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
        allowed_values=list(BACKFILL_WINDOWS),
        default="none",
        description=(
            "First sync only (no bookmark, start_date set): read in day/week/month "
            "windows from start_date; the last window is open-ended."
        ),
    ),
    th.Property(
        "key_snapshot_every_runs",
        th.IntegerType(minimum=1),
        default=1,
        description=(
            "Streams whose profile finds deletes by key snapshot (a keys-only request "
            "compared with the keys seen before) take it every this many runs; the runs "
            "between only add the keys they extract."
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
    th.Property(
        "unmapped_custom_fields",
        th.StringType,
        allowed_values=list(UNMAPPED_CHOICES),
        default="drop",
        description=(
            "Custom fields the ERP describes that the stream maps do not name: 'drop' "
            "(a warning per field and run says how to map it) or 'pass' (landed as "
            "spec_<name> for products and inventory, custom_<name> elsewhere)."
        ),
    ),
).to_dict()

DEFAULTS: dict[str, t.Any] = {
    name: prop["default"] for name, prop in CONFIG_SCHEMA["properties"].items() if "default" in prop
}


def setting(config: t.Mapping[str, t.Any], name: str) -> t.Any:
    """The value of a declared setting: the configured one, or its declared default
    when missing, null or empty text (an unset environment variable)."""
    if name not in CONFIG_SCHEMA["properties"]:
        msg = f"{name!r} is not a declared setting of tap-erp"
        raise KeyError(msg)
    value = config.get(name)
    return DEFAULTS.get(name) if value is None or value == "" else value
