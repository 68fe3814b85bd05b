"""Every setting of target-s3 and its default, declared once.

``Settings`` is the declaration: one typed field per setting, with its default and
description. Generated from it: the JSON schema that the Singer SDK validates and
prints with ``--about`` (the README's settings table is that output), and each run's
parsed settings (``Settings.from_config``). The plugin's tests check the loader's
settings in ``meltano.yml`` and every default the README names against it.

An empty value (missing, null or ``""``) means the default. Settings without a
default (None) stay unset; optional settings with choices may also stay empty.
"""

from __future__ import annotations

import dataclasses
import types
import typing as t
from collections.abc import Mapping
from dataclasses import dataclass

from singer_sdk import typing as th

from target_s3.errors import ConfigError

_TRUE = ("1", "true", "yes", "on")
_INFO = "target_s3.setting"


@dataclass(frozen=True)
class SettingInfo:
    """How one setting is documented and checked (beyond its type and default)."""

    description: str
    required: bool = False
    secret: bool = False
    choices: tuple[str, ...] = ()
    minimum: int = 1  # for integers


def setting(default: t.Any, description: str, **info: t.Any) -> t.Any:
    """Declare one setting: its default and a ``SettingInfo`` (``required=True``: none)."""
    meta = SettingInfo(description, **info)
    kwargs: dict[str, t.Any] = {"metadata": {_INFO: meta}, "repr": not meta.secret}
    if meta.required:
        return dataclasses.field(**kwargs)
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), **kwargs)
    return dataclasses.field(default=default, **kwargs)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The settings of one run, parsed and checked (``from_config``)."""

    bucket: str = setting(None, "S3 bucket to land Parquet in.", required=True)
    client_id: str = setting(
        None,
        "Client company id (e.g. `acme`): second level of every key and the `_client_id` "
        "lineage value. Letters, digits, `_ . -`; must not start with `_`.",
        required=True,
    )
    prefix: str = setting("", "Key prefix inside the bucket (first level of every key).")
    region: str | None = setting(None, "S3 region (default: the AWS chain's).")
    endpoint_url: str | None = setting(
        None,
        "S3 API endpoint of an S3-compatible store, e.g. `http://127.0.0.1:9000` (empty for AWS).",
    )
    aws_access_key_id: str | None = setting(
        None, "Access key id (empty: standard AWS credential chain).", secret=True
    )
    aws_secret_access_key: str | None = setting(None, "Secret access key.", secret=True)
    aws_session_token: str | None = setting(
        None, "Session token for temporary credentials.", secret=True
    )
    aws_profile: str | None = setting(None, "Named AWS profile to use instead of keys.")
    s3_addressing_style: str = setting(
        "auto",
        "Bucket addressing: `auto`, `path` (most S3-compatible stores) or `virtual`.",
        choices=("auto", "path", "virtual"),
    )
    sse: str | None = setting(
        None,
        "Server-side encryption of every object: empty, `AES256` or `aws:kms`.",
        choices=("AES256", "aws:kms"),
    )
    sse_kms_key_id: str | None = setting(
        None, "KMS key id or ARN for `sse: aws:kms` (empty: the bucket's default key)."
    )
    compression: str = setting(
        "zstd",
        "Parquet compression codec: `zstd`, `snappy`, `gzip` or `none`.",
        choices=("zstd", "snappy", "gzip", "none"),
    )
    compression_level: int | None = setting(None, "Codec level (empty: codec default).", minimum=-7)
    key_template: str = setting(
        "{prefix}/{client}/{stream}/{partition}/part-{run_id}-{batch:06d}-{part:03d}.parquet",
        "Template of data object keys. Fields: `{prefix}`, `{client}`, `{stream}`, "
        "`{partition}`, `{run_id}`, `{batch}`, `{part}`, `{run_date}`; `{client}`, `{stream}`, "
        "`{run_id}`, `{batch}` and `{part}` are required (unique names, nothing overwritten). "
        "Empty segments are dropped.",
    )
    partition_template: str = setting(
        "year={year}/month={month}/day={day}",
        "Hive-style partition path from the partition date. Fields: `{year}`, "
        "`{month}`, `{day}`; e.g. `dt={year}-{month}-{day}` or `year={year}/month={month}`.",
    )
    partition_field: str = setting(
        "",
        "Default date/date-time record field whose (UTC) date partitions every "
        "stream; `@bookmark` = the stream's replication key from its SCHEMA message; empty or "
        "`@run_date` = the run date. Streams without that field use the run date.",
    )
    stream_partition_fields: Mapping[str, str] = setting(
        {},
        "Per-stream partition field, overriding `partition_field` "
        '(e.g. `{"orders": "order_date", "items": "@run_date"}`); a field that is '
        "missing or not a date is an error.",
    )
    staging_prefix: str = setting(
        "_staging",
        "Folder under `prefix` for staged files, journals and run leases "
        "(outside every client's data tree).",
    )
    batch_max_rows: int = setting(500_000, "Flush a stream's buffer at this many records.")
    # Parsing, converting and writing a batch while the next one fills takes several
    # times its size; at 16 MiB a loader peaks near 250 MB whatever the volume.
    batch_max_bytes: int = setting(
        16 << 20, "Flush a stream's buffer at this many bytes of record JSON."
    )
    batch_max_age_seconds: int = setting(
        300,
        "Flush a stream's buffer when its oldest record is this old (checked as "
        "messages arrive), so STATE keeps moving for slow streams.",
    )
    add_lineage_columns: bool = setting(
        True,
        "Add `_client_id`, `_run_id`, `_extracted_at` (the RECORD's time_extracted) "
        "and `_loaded_at` columns to every row.",
    )
    source_system: str | None = setting(
        None, "If set, also add a `_source_system` lineage column with this value."
    )
    validate_records: bool = setting(
        False,
        "Validate each record against its JSON schema (slow; numbers are "
        "checked as exact decimals; a mismatch stops the run with one clear error).",
    )
    write_audit: bool = setting(
        True,
        "Write one audit JSON object per run and stream under `{prefix}/{client}/_audit/`.",
    )
    run_lease_seconds: int = setting(
        300,
        "A run whose lease was not renewed for this long counts as dead and its "
        "unfinished batches are rolled back by the next run of the same client.",
        minimum=10,
    )
    table_format: str = setting(
        "parquet",
        "`parquet`: every version of every record as append-only Parquet files (the history). "
        "`delta`: the same history plus a current-state Delta Lake table per stream under "
        "`{prefix}/{client}/_current/{stream}/`, merged by primary key (newest version wins, "
        "`_sdc_deleted_at` removes the row, full-table streams replace their snapshot); "
        "every stream needs key properties.",
        choices=("parquet", "delta"),
    )
    delta_vacuum_retention_hours: int = setting(
        168,
        "With `table_format: delta`, each run ends by vacuuming the current tables it wrote: "
        "files no table version needs, and files of commits that never landed, are removed "
        "once older than this many hours.",
    )
    on_schema_violation: str = setting(
        "fail",
        "What a stream does with a change its table's schema contract forbids (a column's type "
        "changing incompatibly, a key column's type changing), a null in a column declared "
        "non-null, or a date/date-time outside 0001-01-01..9999-12-31 UTC: `fail` stops the "
        "run with one line naming stream, column and value; `quarantine` lands the other rows "
        "and writes the offending ones to `{prefix}/{client}/_rejected/{stream}/`.",
        choices=("fail", "quarantine"),
    )
    stream_on_schema_violation: Mapping[str, str] = setting(
        {},
        'Per-stream `on_schema_violation`, overriding it (e.g. `{"products": "quarantine"}`).',
    )
    s3_max_attempts: int = setting(
        5, "Attempts per S3 request (retries with backoff) before the run fails."
    )
    s3_connect_timeout_seconds: int = setting(10, "S3 connect timeout.")
    s3_read_timeout_seconds: int = setting(60, "S3 read timeout.")

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any]) -> Settings:
        """Read and check every setting; raise ConfigError naming the setting."""
        values = {f.name: _read(config, f, kind) for f, kind in _declared()}
        values["prefix"] = values["prefix"].strip("/")
        values["staging_prefix"] = values["staging_prefix"].strip("/")
        if values["sse_kms_key_id"] and values["sse"] != "aws:kms":
            raise ConfigError("setting 'sse_kms_key_id' requires sse = aws:kms")
        if bool(values["aws_access_key_id"]) != bool(values["aws_secret_access_key"]):
            raise ConfigError(
                "settings 'aws_access_key_id' and 'aws_secret_access_key' must be set together"
            )
        for stream, mode in values["stream_on_schema_violation"].items():
            name = f"stream_on_schema_violation.{stream}"
            values["stream_on_schema_violation"][stream] = _choice(
                name, mode, ("fail", "quarantine"), optional=False
            )
        return cls(**values)

    def violation_mode(self, stream: str) -> str:
        """`fail` or `quarantine` for one stream."""
        return self.stream_on_schema_violation.get(stream) or self.on_schema_violation


def default(item: dataclasses.Field) -> t.Any:
    """The declared default of one setting (None when it has none)."""
    if item.default is not dataclasses.MISSING:
        return item.default
    if item.default_factory is not dataclasses.MISSING:
        return item.default_factory()
    return None


def info(item: dataclasses.Field) -> SettingInfo:
    """The documentation and checks of one setting."""
    return t.cast(SettingInfo, item.metadata[_INFO])


def _declared() -> list[tuple[dataclasses.Field, type]]:
    """Every setting in declaration order, with its value type (str, int, bool, Mapping)."""
    hints = t.get_type_hints(Settings)
    out = []
    for item in dataclasses.fields(Settings):
        hint = hints[item.name]
        if isinstance(hint, types.UnionType):  # X | None
            (hint,) = [arg for arg in t.get_args(hint) if arg is not type(None)]
        out.append((item, t.get_origin(hint) or hint))
    return out


_SCHEMA_TYPES: dict[type, t.Any] = {
    str: th.StringType,
    int: th.IntegerType,
    bool: th.BooleanType,
    Mapping: th.ObjectType(additional_properties=th.StringType),
}


def config_schema() -> dict:
    """The JSON schema of every declared setting, for the Singer SDK.

    Only the schema's enum is left out for settings that may stay empty (no default),
    since an enum would reject the empty value.
    """
    properties = []
    for item, kind in _declared():
        meta, value = info(item), default(item)
        properties.append(
            th.Property(
                item.name,
                _SCHEMA_TYPES[kind],
                required=meta.required,
                default=value if value != {} else None,
                description=meta.description,
                secret=meta.secret,
                allowed_values=list(meta.choices) if meta.choices and value is not None else None,
            )
        )
    return th.PropertiesList(*properties).to_dict()


def _read(config: t.Mapping[str, t.Any], item: dataclasses.Field, kind: type) -> t.Any:
    """One setting's value from the config: empty means the default."""
    name, meta, value = item.name, info(item), config.get(item.name)
    if value is None or value == "":
        if meta.required:
            msg = f"setting '{name}' is required"
            raise ConfigError(msg)
        return default(item)
    if kind is bool:
        return value.strip().lower() in _TRUE if isinstance(value, str) else bool(value)
    if kind is int:
        return _integer(name, value, meta.minimum)
    if kind is Mapping:
        if not isinstance(value, dict):
            msg = f"setting '{name}' must be an object"
            raise ConfigError(msg)
        return {str(k): str(v or "") for k, v in value.items()}
    text = str(value)
    if meta.choices:
        return _choice(name, text, meta.choices, optional=default(item) is None)
    return text


def _integer(name: str, value: t.Any, minimum: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        msg = f"setting '{name}' must be an integer (got {value!r})"
        raise ConfigError(msg) from None
    if number < minimum:
        msg = f"setting '{name}' must be at least {minimum} (got {number})"
        raise ConfigError(msg)
    return number


def _choice(name: str, text: str, choices: tuple[str, ...], *, optional: bool) -> str:
    for choice in choices:
        if text.lower() == choice.lower():
            return choice
    empty = "empty or " if optional else ""
    msg = f"setting '{name}' must be {empty}one of {', '.join(choices)} (got {text!r})"
    raise ConfigError(msg)
