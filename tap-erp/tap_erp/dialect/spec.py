"""The dialect language: every key of an ERP profile, declared once as typed structures.

Loading (`tap_erp.dialect.load`) converts a profile file into these structures, so
an unknown key or a wrong type is reported with its key path; the profile reference
(`tap-erp/PROFILES.md`) is generated from them (`tap_erp.dialect.docs`). Registries
(`PAGINATOR_MAP`, `AUTH_MAP`, and those of decoders, metadata formats and
placeholder formats in their modules) name every choice the language offers.
"""

from __future__ import annotations

import typing as t

import msgspec

Doc = msgspec.Meta

#: A template: any JSON value; text may hold placeholders (`{since}`, `{config.x}`),
#: mappings with one `$` key are operators (`$json`, `$base64url`, `$join`).
Template = t.Any


class Base(
    msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True, frozen=True
):
    """Every structure rejects keys it does not declare."""


class Request(Base, kw_only=True):
    """An HTTP request template; a stream's request is laid over the profile's default."""

    method: t.Annotated[
        t.Literal["GET", "POST"] | None, Doc(description="HTTP method (default GET).")
    ] = None
    path: t.Annotated[
        str | None,
        Doc(description="Path relative to the `base_url` setting, or an absolute URL; a template."),
    ] = None
    query: t.Annotated[
        dict[str, Template],
        Doc(
            description=(
                "Query parameters (name: template). A parameter whose template needs a "
                "value that is absent (no bookmark, unset setting) is not sent; a list "
                "value repeats the parameter; null leaves out a parameter of the request "
                "this one is laid over."
            )
        ),
    ] = {}
    headers: t.Annotated[
        dict[str, Template], Doc(description="Extra request headers (name: template).")
    ] = {}
    body: t.Annotated[
        Template,
        Doc(description="JSON body (a template), sent with POST; absent parts are left out."),
    ] = None


class Records(Base, kw_only=True):
    """Where the rows sit in a response, when `records` is more than a selector."""

    path: t.Annotated[
        str, Doc(description="Selector of the list of rows: `$`, `value`, `d.results`, ...")
    ]
    each: t.Annotated[
        str | None,
        Doc(
            description=(
                "Selector, inside each selected row, of a nested list whose items are "
                "the stream's rows (e.g. order lines inside their orders)."
            )
        ),
    ] = None
    inherit: t.Annotated[
        dict[str, str],
        Doc(description="With `each`: fields copied from the outer row (new name: outer field)."),
    ] = {}
    drop: t.Annotated[
        list[str],
        Doc(
            description=(
                "Fields of each row that belong to the envelope, not the data (e.g. "
                "NetSuite's per-item `links`): removed as rows are read."
            )
        ),
    ] = []


class StopRules(Base, kw_only=True):
    """When a positional paginator has read the last page (first rule that applies)."""

    has_more: t.Annotated[
        str | None, Doc(description="Selector of a body field that is true while more pages exist.")
    ] = None
    total: t.Annotated[
        str | None,
        Doc(description="Selector of the total row count of the result set (a number or digits)."),
    ] = None


class _Positional(Base, kw_only=True):
    """What offset and page paginators share."""

    query: t.Annotated[
        dict[str, Template],
        Doc(description="Query parameters this paginator adds to every request."),
    ] = {}
    stop: t.Annotated[
        StopRules, Doc(description="Stop rules; default: a page shorter than `{limit}`.")
    ] = StopRules()
    offset_ceiling: t.Annotated[
        int | None,
        Doc(
            description=(
                "Largest offset + limit the ERP serves in one result set (NetSuite: "
                "100000). Incremental reads start a new result set at the last change "
                "time read (a time window) before reaching it; a snapshot, or one change "
                "time holding more rows than this, fails with a clear message."
            )
        ),
    ] = None


class OffsetPaginator(_Positional, tag="offset", tag_field="type", kw_only=True):
    """Rows addressed by position: the request places `{offset}` and `{limit}`."""


class PagePaginator(_Positional, tag="page", tag_field="type", kw_only=True):
    """Pages by number: the request places `{page}` and `{limit}`, or `{offset}` (always
    a multiple of `{limit}`) and `{limit}`."""

    first_page: t.Annotated[int, Doc(description="Number of the first page.")] = 1


class NextLinkPaginator(Base, tag="next_link", tag_field="type", kw_only=True):
    """The server's link to the next page (a keyset position), followed as given."""

    next: t.Annotated[
        str | None,
        Doc(
            description=(
                "Selector of the next link in the body (`next`, `@odata.nextLink`, "
                "`d.__next`); relative links are resolved against the request's URL."
            )
        ),
    ] = None
    link_header: t.Annotated[
        bool, Doc(description='Take the next link from the `Link: <...>; rel="next"` header.')
    ] = False
    query: t.Annotated[
        dict[str, Template],
        Doc(description="Query parameters of the first request (the links carry their own)."),
    ] = {}


class CursorPaginator(Base, tag="cursor", tag_field="type", kw_only=True):
    """An opaque token from each page, sent back as `{cursor}` in the next request."""

    cursor: t.Annotated[str, Doc(description="Selector of the next token in the body.")]
    query: t.Annotated[
        dict[str, Template],
        Doc(description="Query parameters this paginator adds to every request."),
    ] = {}


class SinglePaginator(Base, tag="single", tag_field="type", kw_only=True):
    """One request returns every row."""


Paginator = OffsetPaginator | PagePaginator | NextLinkPaginator | CursorPaginator | SinglePaginator

PAGINATOR_MAP: dict[str, type[Base]] = {
    "offset": OffsetPaginator,
    "page": PagePaginator,
    "next_link": NextLinkPaginator,
    "cursor": CursorPaginator,
    "single": SinglePaginator,
}

#: Paginators whose rows are addressed by position (keyset reading is emulated).
POSITIONAL = (OffsetPaginator, PagePaginator)


class PageSize(Base, kw_only=True):
    """Rows per request (the `page_size` setting)."""

    default: t.Annotated[int, Doc(description="Rows per request when the setting is unset.")]
    max: t.Annotated[int, Doc(description="Largest page size the ERP serves.")]


class ApiKeyAuth(Base, tag="api_key", tag_field="type", kw_only=True):
    """A static key in a header (setting `api_key`)."""

    header: t.Annotated[str, Doc(description="Header name (setting `api_key_header` wins).")]


class BearerAuth(Base, tag="bearer", tag_field="type", kw_only=True):
    """A static token (setting `bearer_token`): `Authorization: Bearer <token>`."""

    header: t.Annotated[str, Doc(description="Header name.")] = "Authorization"
    prefix: t.Annotated[str, Doc(description="Text before the token.")] = "Bearer"


class BasicAuth(Base, tag="basic", tag_field="type", kw_only=True):
    """HTTP Basic with the settings `username` and `password`."""


class OAuth2Auth(Base, tag="oauth2", tag_field="type", kw_only=True):
    """OAuth2 client credentials (settings `client_id`, `client_secret`, `oauth_scope`)."""

    token_url: t.Annotated[
        str,
        Doc(description="Token endpoint, absolute or relative to `base_url`; a template."),
    ]
    grant_type: t.Annotated[str, Doc(description="Grant type.")] = "client_credentials"
    scope: t.Annotated[
        Template, Doc(description="Scope sent with the request (setting `oauth_scope` wins).")
    ] = None
    access_token_field: t.Annotated[str, Doc(description="Token field of the answer.")] = (
        "access_token"
    )
    expires_in_field: t.Annotated[str, Doc(description="Lifetime field of the answer.")] = (
        "expires_in"
    )
    default_expires_in: t.Annotated[
        float, Doc(description="Lifetime in seconds when the answer gives none.")
    ] = 300
    client_auth: t.Annotated[
        t.Literal["body", "basic"],
        Doc(description="Client credentials in the form body or as HTTP Basic."),
    ] = "body"


class JwtClientCredentialsAuth(Base, tag="oauth2_jwt", tag_field="type", kw_only=True):
    """OAuth2 client credentials with a JWT bearer client assertion (RFC 7523) signed with
    a private key (settings `client_id`, `private_key_file`, `certificate_id`)."""

    token_url: t.Annotated[
        Template,
        Doc(description="Token endpoint, absolute or relative to `base_url`; a template."),
    ]
    algorithm: t.Annotated[
        t.Literal["PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "RS256"] | None,
        Doc(
            description=(
                "Signature algorithm of the assertion (default: PS256 for an RSA key, "
                "ES256 for an EC P-256 key, ES384/ES512 for P-384/P-521)."
            )
        ),
    ] = None
    scope: t.Annotated[
        Template, Doc(description="The assertion's `scope` claim (setting `oauth_scope` wins).")
    ] = None
    audience: t.Annotated[
        Template, Doc(description="The assertion's `aud` claim (default: the token URL).")
    ] = None
    lifetime_seconds: t.Annotated[
        int, Doc(description="Seconds between the assertion's `iat` and `exp`.")
    ] = 300
    default_expires_in: t.Annotated[
        float, Doc(description="Access token lifetime in seconds when the answer gives none.")
    ] = 3600


class OAuth1Auth(Base, tag="oauth1", tag_field="type", kw_only=True):
    """OAuth 1.0a (RFC 5849): every request signed with the settings `consumer_key`,
    `consumer_secret`, `token_id` and `token_secret` (token-based authentication)."""

    signature_method: t.Annotated[
        t.Literal["HMAC-SHA256", "HMAC-SHA1"], Doc(description="Signature method.")
    ] = "HMAC-SHA256"
    realm: t.Annotated[
        Template, Doc(description="The `realm` parameter (NetSuite: the account id); a template.")
    ] = None


class LoginAuth(Base, tag="login", tag_field="type", kw_only=True):
    """A login request whose answer holds a token, then sent in headers."""

    request: t.Annotated[
        Request, Doc(description="The login request (default POST); `{config.x}` fills it.")
    ]
    token: t.Annotated[str, Doc(description="Selector of the token in the login answer.")]
    headers: t.Annotated[
        dict[str, Template],
        Doc(description="Headers of data requests; `{token}` is the token."),
    ]
    expires_in: t.Annotated[
        float | None, Doc(description="Seconds after which to log in again (default: on 401).")
    ] = None


AuthMethod = (
    ApiKeyAuth
    | BearerAuth
    | BasicAuth
    | OAuth2Auth
    | JwtClientCredentialsAuth
    | OAuth1Auth
    | LoginAuth
)

AUTH_MAP: dict[str, type[Base]] = {
    "api_key": ApiKeyAuth,
    "bearer": BearerAuth,
    "basic": BasicAuth,
    "oauth2": OAuth2Auth,
    "oauth2_jwt": JwtClientCredentialsAuth,
    "oauth1": OAuth1Auth,
    "login": LoginAuth,
}


class Auth(Base, kw_only=True):
    """How the tap authenticates (setting `auth_method` picks one of `methods`)."""

    default: t.Annotated[str, Doc(description="Name of the method used when unset.")]
    methods: t.Annotated[
        dict[str, AuthMethod],
        Doc(description="Methods offered, by name; each has a `type` from the registry."),
    ]


class Retry(Base, kw_only=True):
    """Which answers are retried (with backoff) and which fail at once."""

    statuses: t.Annotated[
        list[int],
        Doc(description="HTTP statuses retried; every other 4xx/5xx fails with the ERP's message."),
    ] = msgspec.field(default_factory=lambda: [408, 425, 429, 500, 502, 503, 504])


class Errors(Base, kw_only=True):
    """Where the ERP puts a readable message in an error body."""

    message_paths: t.Annotated[
        list[str], Doc(description="Selectors tried in order; the first text found is shown.")
    ] = msgspec.field(default_factory=lambda: ["message"])
    body_error: t.Annotated[
        str | None,
        Doc(
            description=(
                "Selector of an error in a successful (2xx) answer, e.g. `error` of "
                "JSON-RPC: when present the request fails with its message (`message_paths`)."
            )
        ),
    ] = None


class Metadata(Base, kw_only=True):
    """Where and how the ERP describes its entities, custom fields included."""

    format: t.Annotated[str, Doc(description="Metadata format, from the registry.")]
    request: t.Annotated[
        Request,
        Doc(
            description=(
                "Request of the metadata document; with `{entity}` in it, one request "
                "per stream (its `metadata_entity`). Each document is read once."
            )
        ),
    ]
    type_map: t.Annotated[
        dict[str, str],
        Doc(
            description=(
                "ERP type name -> string, integer, number, boolean, date, date-time, "
                "object, array; merged over the format's defaults."
            )
        ),
    ] = {}
    custom_fields: t.Annotated[
        str | None,
        Doc(
            description=(
                "Regular expression of the field names added to the core schemas "
                "(default: every described field the core schema lacks)."
            )
        ),
    ] = None


class Setting(Base, kw_only=True):
    """A setting of this profile's own, read in templates as `{config.<name>}`."""

    kind: t.Annotated[
        t.Literal["string", "integer", "number", "boolean", "array", "object"],
        Doc(description="Type of the value."),
    ] = "string"
    description: t.Annotated[str, Doc(description="What the setting means.")] = ""
    required: t.Annotated[bool, Doc(description="Whether a run needs it.")] = False
    secret: t.Annotated[bool, Doc(description="Kept out of logs and messages.")] = False
    default: t.Annotated[t.Any, Doc(description="Value when unset.")] = None


class Parent(Base, kw_only=True):
    """Rows read once per row of a parent request (e.g. stock per warehouse)."""

    request: t.Annotated[Request, Doc(description="The parent request (its own template).")]
    records: t.Annotated[
        str | Records, Doc(description="Selector of the parent rows (default: the profile's).")
    ] = ""
    paginator: t.Annotated[str, Doc(description="Name of the paginator of the parent request.")] = (
        "single"
    )
    fields: t.Annotated[
        dict[str, str],
        Doc(description="Parent fields added to each child row (child field: parent field)."),
    ]
    primary_key: t.Annotated[
        bool, Doc(description="Add the `fields` to the stream's primary key.")
    ] = True


class TombstoneDeletes(Base, tag="tombstones", tag_field="type", kw_only=True):
    """Deletes the ERP lists: a request answering the keys deleted since a time."""

    request: t.Annotated[
        Request,
        Doc(
            description=(
                "The tombstone request, over `defaults.request`; `{since}` is the newest "
                "deletion time read before (on a stream's first run the `start_date` setting, "
                "or absent: every tombstone)."
            )
        ),
    ]
    records: t.Annotated[
        str | Records | None,
        Doc(description="Selector of the tombstones (default: the profile's)."),
    ] = None
    paginator: t.Annotated[
        str,
        Doc(
            description=(
                "Name of the paginator of the tombstone request (`single`, one request, "
                "needs no declaration)."
            )
        ),
    ] = "single"
    deleted_at: t.Annotated[
        str, Doc(description="Selector, in each tombstone, of the time the row was deleted.")
    ]
    keys: t.Annotated[
        dict[str, str],
        Doc(
            description=(
                "Selector of each primary key field in a tombstone (key field: selector); "
                "default: the key fields' own names."
            )
        ),
    ] = {}


class KeySnapshotDeletes(Base, tag="key_snapshot", tag_field="type", kw_only=True):
    """Deletes found by comparing every key the ERP has with the keys seen before."""

    request: t.Annotated[
        Request,
        Doc(
            description=(
                "Laid over the stream's request: the keys-only request. `{fields}` is the "
                "primary key fields and `{since}` is absent, so most ERPs need nothing here "
                "(an order by key keeps rows changing meanwhile in place)."
            )
        ),
    ] = Request()
    records: t.Annotated[
        str | Records | None, Doc(description="Selector of the rows (default: the stream's).")
    ] = None
    paginator: t.Annotated[
        str | None, Doc(description="Name of a paginator (default: the stream's).")
    ] = None
    keys: t.Annotated[
        dict[str, str],
        Doc(
            description=(
                "Selector of each primary key field in a row (key field: selector); "
                "default: the key fields' own names."
            )
        ),
    ] = {}


DeleteDetection = TombstoneDeletes | KeySnapshotDeletes

DELETES_MAP: dict[str, type[Base]] = {
    "tombstones": TombstoneDeletes,
    "key_snapshot": KeySnapshotDeletes,
}


class Stream(Base, kw_only=True):
    """One entity of the ERP."""

    request: t.Annotated[Request, Doc(description="The data request, over `defaults.request`.")]
    primary_keys: t.Annotated[list[str], Doc(description="Fields that identify a row.")]
    replication_key: t.Annotated[
        str | None,
        Doc(
            description=(
                "Change timestamp; the request must filter on `{since}` (>=) and order "
                "rows by (replication key, primary key). None: a snapshot, read whole."
            )
        ),
    ] = None
    records: t.Annotated[
        str | Records | None, Doc(description="Selector of the rows (default: the profile's).")
    ] = None
    paginator: t.Annotated[
        str | None,
        Doc(description="Name of a paginator (default: the `pagination_style` setting's)."),
    ] = None
    decoders: t.Annotated[
        list[str] | None, Doc(description="Value decoders (default: the profile's).")
    ] = None
    parent: t.Annotated[Parent | None, Doc(description="Read once per parent row.")] = None
    derive: t.Annotated[
        dict[str, str],
        Doc(
            description=(
                "Fields computed on each row from a selector over the row (e.g. "
                "`currency_code: currency.code`, `billing_city: addresses[0].city`); "
                "`{fields}` lists the selector's path (`currency.code`) instead."
            )
        ),
    ] = {}
    constants: t.Annotated[
        dict[str, t.Any],
        Doc(
            description=(
                "Values of fields the ERP does not have, typed by the core schema (e.g. "
                "`discount_amount: 0` where it has no line discounts, `credit_limit: null`)."
            )
        ),
    ] = {}
    select_as: t.Annotated[
        dict[str, str],
        Doc(
            description=(
                "How a field is asked for in `{fields}` when not by its bare name, e.g. "
                "`lastmodifieddate: TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS "
                "lastmodifieddate` (over `defaults.select_as`)."
            )
        ),
    ] = {}
    metadata_entity: t.Annotated[
        str | None, Doc(description="Name of the entity in the metadata (default: the stream's).")
    ] = None
    metadata_request: t.Annotated[
        Request | None,
        Doc(
            description=(
                "The stream's own metadata request, over `metadata.request` (an ERP "
                "whose entities sit in services of their own, each with its metadata "
                "document)."
            )
        ),
    ] = None
    schema: t.Annotated[
        str | None, Doc(description="Core schema file name in the schema folder (default: stream).")
    ] = None
    deletes: t.Annotated[
        DeleteDetection | None,
        Doc(
            description=(
                "How rows deleted in the ERP become known (`type`: tombstones or "
                "key_snapshot); each becomes a record with the key and `_sdc_deleted_at`."
            )
        ),
    ] = None


class Defaults(Base, kw_only=True):
    """What every stream has unless it says otherwise."""

    request: t.Annotated[Request, Doc(description="Request template laid under each stream's.")] = (
        Request()
    )
    records: t.Annotated[str | Records, Doc(description="Selector of the rows.")] = "$"
    decoders: t.Annotated[
        list[str], Doc(description="Value decoders applied to every row before it is read.")
    ] = []
    select_as: t.Annotated[
        dict[str, str],
        Doc(description="How fields are asked for in `{fields}` (see the stream's `select_as`)."),
    ] = {}


class Profile(Base, kw_only=True):
    """An ERP dialect: how one ERP's API is spoken."""

    name: t.Annotated[str, Doc(description="Profile name (also the default schema folder).")]
    description: t.Annotated[str, Doc(description="One line about the ERP and its API.")] = ""
    schemas_dir: t.Annotated[
        str | None,
        Doc(description="Folder of core schemas, relative to the profile file."),
    ] = None
    timezone: t.Annotated[
        str,
        Doc(
            description=(
                "Time zone of naive timestamps the ERP sends or expects (IANA name); "
                "the `site_timezone` setting wins."
            )
        ),
    ] = "UTC"
    settings: t.Annotated[
        dict[str, Setting], Doc(description="Settings of this profile, read as `{config.<name>}`.")
    ] = {}
    page_size: t.Annotated[PageSize, Doc(description="Rows per request.")]
    defaults: t.Annotated[Defaults, Doc(description="Defaults of every stream.")] = Defaults()
    paginators: t.Annotated[
        dict[str, Paginator],
        Doc(description="Paging styles, by name (setting `pagination_style` picks one)."),
    ]
    default_paginator: t.Annotated[str, Doc(description="Paginator used when unset.")]
    auth: t.Annotated[Auth, Doc(description="Authentication methods.")]
    retry: t.Annotated[Retry, Doc(description="Retried statuses.")] = Retry()
    errors: t.Annotated[Errors, Doc(description="Error messages of the ERP.")] = Errors()
    metadata: t.Annotated[
        Metadata | None, Doc(description="Metadata endpoint, for custom fields.")
    ] = None
    streams: t.Annotated[dict[str, Stream], Doc(description="The entities, by stream name.")]


#: Structures documented in the profile reference, in order.
DOCUMENTED: tuple[type[Base], ...] = (
    Profile,
    Stream,
    Request,
    Records,
    Parent,
    *DELETES_MAP.values(),
    Defaults,
    PageSize,
    Setting,
    *PAGINATOR_MAP.values(),
    StopRules,
    Auth,
    *AUTH_MAP.values(),
    Retry,
    Errors,
    Metadata,
)
