"""Read the Parquet lake of one client back over the S3 API (DuckDB + boto3)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import boto3
import duckdb

HTTPFS_VERSION = "v1.4.4"
CURRENT_FOLDER = "_current"  # target-s3 `table_format: delta`: current-state tables


class LakeError(Exception):
    """A problem reaching the lake that the user must fix (bucket, endpoint, credentials)."""


@dataclass(frozen=True)
class LakeConfig:
    """Where one client's data lives: s3://{bucket}/{prefix}/{client_id}/{stream}/…"""

    bucket: str
    client_id: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] = os.environ, *, namespace: str = "ERP_QUALITY_"
    ) -> LakeConfig:
        """Settings as Meltano passes them (ERP_QUALITY_BUCKET, …), then the AWS variables."""

        def get(name: str, *fallbacks: str) -> str | None:
            for key in (namespace + name.upper(), *fallbacks):
                if env.get(key):
                    return env[key]
            return None

        bucket, client_id = get("bucket"), get("client_id")
        missing = [n for n, v in (("bucket", bucket), ("client_id", client_id)) if not v]
        if missing:
            names = ", ".join(f"{namespace}{m.upper()}" for m in missing)
            raise LakeError(f"missing setting(s) {', '.join(missing)} (environment: {names})")
        return cls(
            bucket=bucket or "",
            client_id=client_id or "",
            prefix=(get("prefix") or "").strip("/"),
            endpoint_url=get("endpoint_url", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
            region=get("region", "AWS_DEFAULT_REGION", "AWS_REGION") or "us-east-1",
            access_key_id=get("aws_access_key_id", "AWS_ACCESS_KEY_ID"),
            secret_access_key=get("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"),
            session_token=get("aws_session_token", "AWS_SESSION_TOKEN"),
        )

    @property
    def root(self) -> str:
        """Key prefix of this client's data, without a trailing slash."""
        return "/".join(p for p in (self.prefix, self.client_id) if p)


def _extension_path(name: str) -> Path:
    import duckdb_ext  # the PyPI packages duckdb-ext-httpfs/-delta: extensions, offline

    for base in duckdb_ext.__path__:
        found = sorted(Path(base).glob(f"extensions/{HTTPFS_VERSION}/*/{name}.duckdb_extension"))
        if found:
            return found[0]
    raise LakeError(f"the DuckDB {name} extension is not installed (package duckdb-ext-{name})")


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class Lake:
    """One client's tables in S3, queried with DuckDB, listed and written with boto3."""

    def __init__(self, config: LakeConfig) -> None:
        self.config = config
        self._s3 = boto3.client(
            "s3",
            endpoint_url=config.endpoint_url,
            region_name=config.region,
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            aws_session_token=config.session_token,
        )
        self._db: duckdb.DuckDBPyConnection | None = None

    # --- listing and small objects -------------------------------------------------
    def keys(self, under: str) -> Iterator[str]:
        """Every object key below `{root}/{under}`."""
        prefix = f"{self.config.root}/{under}".strip("/") + "/"
        paginator = self._s3.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.config.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield item["Key"]
        except self._s3.exceptions.NoSuchBucket as exc:
            raise LakeError(f"bucket {self.config.bucket!r} does not exist") from exc
        except Exception as exc:  # botocore raises many kinds; one clear line for the user
            if isinstance(exc, LakeError):
                raise
            raise LakeError(f"cannot list s3://{self.config.bucket}/{prefix}: {exc}") from exc

    def streams(self) -> list[str]:
        """Names of the streams that have Parquet files (folders not starting with `_`)."""
        found = set()
        for key in self.keys(""):
            rest = key[len(self.config.root) + 1 :] if self.config.root else key
            stream = rest.split("/", 1)[0]
            if not stream.startswith("_") and key.endswith(".parquet"):
                found.add(stream)
        return sorted(found)

    def exists(self, under: str) -> bool:
        """Whether the object `{root}/{under}` exists."""
        key = f"{self.config.root}/{under}".strip("/")
        found = self._s3.list_objects_v2(Bucket=self.config.bucket, Prefix=key, MaxKeys=1)
        return any(item["Key"] == key for item in found.get("Contents", []))

    def read_json(self, key: str) -> object:
        """A JSON object stored at a full key."""
        body = self._s3.get_object(Bucket=self.config.bucket, Key=key)["Body"].read()
        return json.loads(body)

    def write_json(self, under: str, payload: object) -> str:
        """Store a JSON document at `{root}/{under}` and return its key."""
        key = f"{self.config.root}/{under}".strip("/")
        body = json.dumps(payload, indent=2, default=str).encode()
        self._s3.put_object(Bucket=self.config.bucket, Key=key, Body=body)
        return key

    # --- SQL over the Parquet files -----------------------------------------------
    @property
    def db(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection that reads this bucket."""
        if self._db is None:
            self._db = self._connect()
        return self._db

    def _connect(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect()
        con.execute(f"LOAD {_sql_literal(str(_extension_path('httpfs')))}")
        con.execute(f"LOAD {_sql_literal(str(_extension_path('delta')))}")
        cfg = self.config
        options = ["TYPE s3", f"REGION {_sql_literal(cfg.region)}"]
        if cfg.access_key_id:
            options.append(f"KEY_ID {_sql_literal(cfg.access_key_id)}")
            options.append(f"SECRET {_sql_literal(cfg.secret_access_key or '')}")
        if cfg.session_token:
            options.append(f"SESSION_TOKEN {_sql_literal(cfg.session_token)}")
        if cfg.endpoint_url:
            url = urlparse(cfg.endpoint_url)
            options.append(f"ENDPOINT {_sql_literal(url.netloc)}")
            options.append("URL_STYLE 'path'")
            options.append(f"USE_SSL {'true' if url.scheme == 'https' else 'false'}")
        con.execute(f"CREATE SECRET lake ({', '.join(options)})")
        return con

    def table(self, stream: str) -> str:
        """A DuckDB table expression over every Parquet file of a stream."""
        glob = f"s3://{self.config.bucket}/{self.config.root}/{stream}/**/*.parquet"
        return f"read_parquet({_sql_literal(glob)}, union_by_name = true)"

    def has_current(self, stream: str) -> bool:
        """Whether the stream has a current-state (Delta) table."""
        log = f"{CURRENT_FOLDER}/{stream}/_delta_log/"
        return next(iter(self.keys(log)), None) is not None

    def current_table(self, stream: str) -> str:
        """A DuckDB table expression over a stream's current-state Delta table."""
        uri = f"s3://{self.config.bucket}/{self.config.root}/{CURRENT_FOLDER}/{stream}"
        return f"delta_scan({_sql_literal(uri)})"

    def checked_table(self, stream: str) -> str:
        """The current table where there is one, else the history (every version)."""
        return self.current_table(stream) if self.has_current(stream) else self.table(stream)

    def query(self, sql: str) -> list[tuple]:
        """Run SQL (use `table()` for streams) and return all rows."""
        try:
            return self.db.execute(sql).fetchall()
        except duckdb.Error as exc:
            raise LakeError(f"query failed: {exc}") from exc

    def columns(self, stream: str, table: str | None = None) -> list[str]:
        """Column names of a stream (union over its files, or of ``table``)."""
        table = table or self.table(stream)
        return [row[0] for row in self.query(f"DESCRIBE SELECT * FROM {table}")]
