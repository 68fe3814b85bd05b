"""Object key layout: key template, Hive-style date partitions, staging keys."""

from __future__ import annotations

import datetime as dt
import re
import string
from dataclasses import dataclass

from target_s3.errors import ConfigError

KEY_FIELDS = {"prefix", "client", "stream", "partition", "run_id", "batch", "part", "run_date"}
REQUIRED_KEY_FIELDS = {"client", "stream", "run_id", "batch", "part"}
PARTITION_FIELDS = {"year", "month", "day"}
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"

_CLIENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_UNSAFE_RE = re.compile(r"[^A-Za-z0-9_.=-]+")


def _fields(template: str, setting: str) -> set[str]:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        msg = f"setting '{setting}' is not a valid template: {exc}"
        raise ConfigError(msg) from None
    return {name for _, name, _, _ in parsed if name is not None}


def safe_segment(name: str) -> str:
    """A stream name as one key segment: letters, digits, `_ . = -` only."""
    cleaned = _UNSAFE_RE.sub("_", name).strip(".")
    return cleaned or "_"


def join_key(*parts: str) -> str:
    """Join key parts with '/', dropping empty segments."""
    segments = [s for p in parts for s in p.split("/") if s]
    return "/".join(segments)


@dataclass(frozen=True)
class Layout:
    """Where one run writes (templates and prefixes from its settings)."""

    prefix: str
    client: str
    run_id: str
    run_date: dt.date
    key_template: str
    partition_template: str
    staging_prefix: str

    def __post_init__(self) -> None:
        """Validate templates and the client id once."""
        if not _CLIENT_RE.match(self.client):
            msg = (
                f"setting 'client_id' must be 1-128 letters, digits, '_', '.' or '-' "
                f"and start with a letter or digit (got {self.client!r})"
            )
            raise ConfigError(msg)
        used = _fields(self.key_template, "key_template")
        unknown = used - KEY_FIELDS
        if unknown:
            msg = f"setting 'key_template' uses unknown fields: {', '.join(sorted(unknown))}"
            raise ConfigError(msg)
        missing = REQUIRED_KEY_FIELDS - used
        if missing:
            msg = (
                "setting 'key_template' must contain "
                + ", ".join("{" + m + "}" for m in sorted(missing))
                + " so that keys are unique per client, stream, run and batch"
            )
            raise ConfigError(msg)
        unknown = _fields(self.partition_template, "partition_template") - PARTITION_FIELDS
        if unknown:
            msg = f"setting 'partition_template' uses unknown fields: {', '.join(sorted(unknown))}"
            raise ConfigError(msg)
        try:
            self.data_key("s", "p", 1, 1)
        except (ValueError, KeyError, IndexError) as exc:
            msg = f"setting 'key_template' cannot be rendered: {exc}"
            raise ConfigError(msg) from None

    def partition(self, day: dt.date | None) -> str:
        """Hive-style partition path of a date (the default partition for null)."""
        if day is None:
            values = dict.fromkeys(PARTITION_FIELDS, NULL_PARTITION)
        else:
            values = {
                "year": f"{day.year:04d}",
                "month": f"{day.month:02d}",
                "day": f"{day.day:02d}",
            }
        return self.partition_template.format(**values)

    def data_key(self, stream: str, partition: str, batch: int, part: int) -> str:
        """Final key of one data file."""
        key = self.key_template.format(
            prefix=self.prefix,
            client=self.client,
            stream=safe_segment(stream),
            partition=partition,
            run_id=self.run_id,
            batch=batch,
            part=part,
            run_date=self.run_date.isoformat(),
        )
        return join_key(key)

    @property
    def client_staging(self) -> str:
        """Staging area of this client (outside the data tree)."""
        return join_key(self.prefix, self.staging_prefix, self.client) + "/"

    def run_staging(self, run_id: str | None = None) -> str:
        """Staging area of one run."""
        return f"{self.client_staging}{run_id or self.run_id}/"

    def staged_key(self, batch: int, part: int) -> str:
        """Staging key of one data file of this run."""
        return f"{self.run_staging()}data/{batch:06d}-{part:03d}.parquet"

    def journal_key(self, batch: int) -> str:
        """Journal of one batch of this run."""
        return f"{self.run_staging()}journal/{batch:06d}.json"

    @property
    def lease_key(self) -> str:
        """Liveness record of this run."""
        return f"{self.run_staging()}lease.json"

    def rejected_key(self, stream: str, batch: int) -> str:
        """Quarantined rows of one stream and batch of this run."""
        return join_key(
            self.prefix,
            self.client,
            "_rejected",
            safe_segment(stream),
            f"run_date={self.run_date.isoformat()}",
            f"part-{self.run_id}-{batch:06d}.parquet",
        )

    def audit_key(self, stream: str) -> str:
        """Audit record of one stream of this run."""
        return join_key(
            self.prefix,
            self.client,
            "_audit",
            f"run_date={self.run_date.isoformat()}",
            f"{self.run_id}-{safe_segment(stream)}.json",
        )
