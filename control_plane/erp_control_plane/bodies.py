"""Request and response bodies; every field validated before anything is written."""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from tap_erp.profiles import ProfileError, available_profiles, load_profile
from tap_erp.settings import CONFIG_SCHEMA, SECRET_SETTINGS

#: A client's name is its Meltano environment, file name, S3 folder and variable prefix.
ClientName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,39}$")]
StreamName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,79}$")]
BucketName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")]
Prefix = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$")]
SettingValue = str | int | float | bool

#: Settings the control plane writes itself; a connection cannot set them.
MANAGED_SETTINGS = frozenset(
    {"profile", "base_url", "auth_method", "stream_maps", "stream_map_files", "batch_config"}
)


@cache
def connection_settings() -> frozenset[str]:
    """tap-erp settings a connection may set (secrets go to `secrets`)."""
    declared = set(CONFIG_SCHEMA["properties"])
    return frozenset(declared - MANAGED_SETTINGS - set(SECRET_SETTINGS))


@cache
def profile_streams(profile: str) -> tuple[str, ...]:
    """The streams a shipped profile serves."""
    return tuple(load_profile(profile).streams)


def check_url(value: str, field: str) -> str:
    """An http(s) URL with a host, without credentials, spaces or a fragment."""
    parts = urlsplit(value)
    if (
        parts.scheme not in {"http", "https"}
        or not parts.hostname
        or parts.username
        or parts.password
        or parts.fragment
        or re.search(r"\s", value)
    ):
        raise ValueError(f"{field}: an http:// or https:// URL with a host and no credentials")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError(f"{field}: the port is not a number from 0 to 65535") from None
    return value.rstrip("/")


class Strict(BaseModel):
    """Unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")


class ConnectionIn(Strict):
    """A client company's ERP connection."""

    client: ClientName = Field(description="Client name: the Meltano environment and S3 folder.")
    profile: str = Field(description="A shipped tap-erp profile (erp_sandbox, tryton, …).")
    base_url: str = Field(description="Base URL of the client's ERP API.")
    auth_method: str | None = Field(None, description="One of the profile's auth methods.")
    settings: dict[str, SettingValue] = Field(default_factory=dict)
    secrets: dict[str, Annotated[str, StringConstraints(min_length=1, max_length=8192)]] = Field(
        default_factory=dict,
        description=f"Write-only secret values: {', '.join(SECRET_SETTINGS)}.",
    )

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        if value not in available_profiles():
            raise ValueError(f"unknown profile; one of {', '.join(available_profiles())}")
        return value

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value, "base_url")

    @field_validator("settings")
    @classmethod
    def _settings(cls, value: dict[str, SettingValue]) -> dict[str, SettingValue]:
        unknown = sorted(set(value) - connection_settings())
        if unknown:
            raise ValueError(f"not a connection setting: {', '.join(unknown)}")
        return value

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(SECRET_SETTINGS))
        if unknown:
            raise ValueError(
                f"not a secret setting: {', '.join(unknown)}; one of {', '.join(SECRET_SETTINGS)}"
            )
        return value

    def check_auth_method(self) -> None:
        """The auth method must be the profile's (raises ValueError)."""
        if self.auth_method is None:
            return
        try:
            methods = load_profile(self.profile).auth_methods
        except ProfileError as exc:
            raise ValueError(str(exc)) from None
        if self.auth_method not in methods:
            raise ValueError(f"auth_method: one of {', '.join(methods)}")


class ConnectionOut(BaseModel):
    """A connection as the API shows it: secret names, never values."""

    id: str
    client: str
    profile: str
    base_url: str
    auth_method: str | None
    settings: dict[str, Any]
    secret_names: list[str]
    created_at: datetime
    updated_at: datetime


class StreamFound(BaseModel):
    """A stream discovery found, and its custom fields."""

    name: str
    fields: int
    custom_fields: list[str]


class ConnectionTest(BaseModel):
    """Outcome of checking a connection: auth and discovery."""

    ok: bool
    error: str | None = None
    streams: list[StreamFound] = Field(default_factory=list)


class PipelineIn(Strict):
    """Which streams of a connection to land where, and when."""

    connection_id: str
    streams: list[StreamName] = Field(
        default_factory=list, description="Streams to land; empty: all."
    )
    bucket: BucketName
    prefix: Prefix = Field(description="Key prefix in the bucket; the client's folder is below.")
    table_format: Literal["parquet", "delta"] = "parquet"
    endpoint_url: str | None = Field(None, description="S3 API endpoint; empty for AWS.")
    schedule: str | None = Field(None, description="Cron expression (UTC), e.g. `0 2 * * *`.")

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value, "endpoint_url")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None and (len(value.split()) != 5 or not croniter.is_valid(value)):
            raise ValueError("a cron expression of five fields, e.g. '0 2 * * *'")
        return value


class PipelineOut(BaseModel):
    """A pipeline as stored."""

    id: str
    client: str
    connection_id: str
    streams: list[str]
    bucket: str
    prefix: str
    table_format: str
    endpoint_url: str | None
    schedule: str | None
    environment_file: str
    created_at: datetime
    updated_at: datetime


class RunOut(BaseModel):
    """A run: status, times, what each stream landed, error and log tail."""

    id: str
    pipeline_id: str
    client: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    streams: dict[str, Any]
    error: str | None
    log_tail: str | None


class RunAccepted(BaseModel):
    """Answer to a run request."""

    run_id: str
    status: str
