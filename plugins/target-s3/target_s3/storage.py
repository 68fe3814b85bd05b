"""S3 access with clear errors, and the staged publish / journal protocol.

Protocol for one batch (all files of one stream flushed together):

1. upload every Parquet file to the run's staging area
   ``{prefix}/{staging_prefix}/{client}/{run_id}/data/…`` (outside the data tree);
2. write the batch journal ``…/{run_id}/journal/{batch}.json`` listing the final and
   staged keys;
3. publish each file by server-side copy to its final key (each S3 object appears
   atomically, fully written or not at all), then delete the staged copies;
4. keep the journal until a STATE covering every record of the batch is emitted;
   the journal is deleted just before that STATE line is written.

A run that dies before step 4 leaves its journals. The next run for the client
deletes the final keys they list and the run's staging area ("rollback"), because
the STATE covering that data never reached the orchestrator, which will send the
data again. A run is considered dead when its lease is missing, expired, or names a
process on this host that no longer exists; leases of live runs are renewed by a
background thread, so concurrent runs never roll each other back.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import io
import json
import logging
import os
import socket
import threading
import typing as t
from dataclasses import dataclass, field

import boto3
import botocore.exceptions as bexc
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig

from target_s3.errors import StorageError
from target_s3.layout import Layout

logger = logging.getLogger("target-s3")

MULTIPART_THRESHOLD = 64 << 20
_DENIED = {"AccessDenied", "403", "AllAccessDisabled", "AccountProblem"}
_BAD_CREDENTIALS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
}


@dataclass(frozen=True)
class S3Settings:
    """Connection settings (secrets are never logged)."""

    bucket: str
    region: str | None = None
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    profile: str | None = None
    addressing_style: str = "auto"
    sse: str | None = None
    sse_kms_key_id: str | None = None
    max_attempts: int = 5
    connect_timeout: float = 10.0
    read_timeout: float = 60.0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Storage:
    """Thin S3 client: every failure becomes one clear ``StorageError`` line."""

    def __init__(self, settings: S3Settings) -> None:
        """Create the client (no request yet)."""
        self.settings = settings
        self.bucket = settings.bucket
        try:
            session = boto3.session.Session(
                aws_access_key_id=settings.access_key_id or None,
                aws_secret_access_key=settings.secret_access_key or None,
                aws_session_token=settings.session_token or None,
                profile_name=settings.profile or None,
            )
            self.client = session.client(
                "s3",
                region_name=settings.region or None,
                endpoint_url=settings.endpoint_url or None,
                config=BotoConfig(
                    retries={"max_attempts": settings.max_attempts, "mode": "standard"},
                    connect_timeout=settings.connect_timeout,
                    read_timeout=settings.read_timeout,
                    s3={"addressing_style": settings.addressing_style},
                    max_pool_connections=16,
                ),
            )
        except bexc.ProfileNotFound:
            msg = f"AWS profile {settings.profile!r} not found (setting 'aws_profile')"
            raise StorageError(msg) from None
        except ValueError as exc:
            msg = f"invalid S3 connection settings (endpoint_url/region): {exc}"
            raise StorageError(msg) from None
        self.extra: dict[str, str] = {}
        if settings.sse:
            self.extra["ServerSideEncryption"] = settings.sse
            if settings.sse == "aws:kms" and settings.sse_kms_key_id:
                self.extra["SSEKMSKeyId"] = settings.sse_kms_key_id
        self._transfer = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD)

    # --- errors -------------------------------------------------------------------

    def describe(self, exc: BaseException, action: str, key: str | None = None) -> str:
        """One line saying what failed, naming the bucket/key and the setting."""
        where = f"s3://{self.bucket}/{key}" if key else f"bucket '{self.bucket}'"
        endpoint = self.settings.endpoint_url or "the AWS S3 endpoint"
        if isinstance(exc, bexc.ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("NoSuchBucket", "404") and (key is None or code == "NoSuchBucket"):
                return f"bucket '{self.bucket}' does not exist (setting 'bucket')"
            if code in _BAD_CREDENTIALS:
                return (
                    f"S3 rejected the credentials while trying to {action} {where} ({code}); "
                    "check aws_access_key_id / aws_secret_access_key or the AWS credential chain"
                )
            if code in _DENIED or status == 403:
                return (
                    f"access denied: cannot {action} {where}; check the credentials and the "
                    "bucket policy (settings 'bucket', 'aws_access_key_id')"
                )
            if code in ("KMS.NotFoundException", "KMS.DisabledException", "InvalidArgument"):
                return f"S3 refused to {action} {where}: {code} {error.get('Message', '')}"
            return f"S3 failed to {action} {where}: {code or status} {error.get('Message', '')}"
        if isinstance(exc, bexc.NoCredentialsError | bexc.PartialCredentialsError):
            return (
                "no AWS credentials found: set aws_access_key_id and aws_secret_access_key "
                "or configure the standard AWS credential chain"
            )
        if isinstance(exc, bexc.EndpointConnectionError | bexc.ConnectTimeoutError):
            return (
                f"cannot reach S3 endpoint {endpoint} (setting 'endpoint_url') to {action} {where}"
            )
        if isinstance(exc, bexc.ReadTimeoutError | bexc.ConnectionClosedError):
            return (
                f"S3 endpoint {endpoint} timed out or closed the connection during {action} {where}"
            )
        if isinstance(exc, bexc.BotoCoreError):
            return f"S3 request to {action} {where} failed: {exc}"
        return f"S3 request to {action} {where} failed: {type(exc).__name__}: {exc}"

    def _call(self, action: str, key: str | None, fn: t.Callable[..., t.Any], **kw: t.Any) -> t.Any:
        try:
            return fn(**kw)
        except (bexc.BotoCoreError, bexc.ClientError) as exc:
            raise StorageError(self.describe(exc, action, key)) from None

    # --- primitives ---------------------------------------------------------------

    def check_bucket(self) -> None:
        """Fail fast when the bucket is missing, denied or unreachable."""
        self._call("access", None, self.client.head_bucket, Bucket=self.bucket)

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Upload one object (multipart above 64 MiB; aborted by boto3 on failure)."""
        if len(data) < MULTIPART_THRESHOLD:
            self._call(
                "write",
                key,
                self.client.put_object,
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                **self.extra,
            )
            return
        extra = {"ContentType": content_type, **self.extra}
        self._call(
            "write",
            key,
            self.client.upload_fileobj,
            Fileobj=io.BytesIO(data),
            Bucket=self.bucket,
            Key=key,
            ExtraArgs=extra,
            Config=self._transfer,
        )

    def put_json(self, key: str, document: dict) -> None:
        """Upload a small JSON document."""
        self.put(key, json.dumps(document, default=str).encode(), "application/json")

    def get_json(self, key: str) -> dict | None:
        """A JSON document, or None when it does not exist."""
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except bexc.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise StorageError(self.describe(exc, "read", key)) from None
        except bexc.BotoCoreError as exc:
            raise StorageError(self.describe(exc, "read", key)) from None
        try:
            return json.loads(body)
        except ValueError:
            return None

    def head(self, key: str) -> dict | None:
        """Object metadata, or None when it does not exist."""
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)
        except bexc.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise StorageError(self.describe(exc, "read", key)) from None
        except bexc.BotoCoreError as exc:
            raise StorageError(self.describe(exc, "read", key)) from None

    def copy(self, source: str, dest: str) -> None:
        """Server-side copy; the destination appears atomically."""
        self._call(
            "publish",
            dest,
            self.client.copy_object,
            Bucket=self.bucket,
            Key=dest,
            CopySource={"Bucket": self.bucket, "Key": source},
            MetadataDirective="COPY",
            **self.extra,
        )

    def delete(self, keys: t.Iterable[str]) -> None:
        """Delete keys (missing keys are fine); fail on any per-key error."""
        pending = list(dict.fromkeys(keys))
        for start in range(0, len(pending), 1000):
            chunk = pending[start : start + 1000]
            response = self._call(
                "delete objects in",
                None,
                self.client.delete_objects,
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True},
            )
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                msg = (
                    f"S3 failed to delete s3://{self.bucket}/{first.get('Key')}: "
                    f"{first.get('Code')} {first.get('Message', '')}"
                )
                raise StorageError(msg)

    def list_keys(self, prefix: str) -> list[dict]:
        """Objects under a prefix (key, size, last modified)."""
        out: list[dict] = []
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                out.extend(page.get("Contents") or [])
        except (bexc.BotoCoreError, bexc.ClientError) as exc:
            raise StorageError(self.describe(exc, "list", prefix)) from None
        return out

    def list_dirs(self, prefix: str) -> list[str]:
        """Immediate 'sub-folders' of a prefix."""
        out: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
                out.extend(p["Prefix"] for p in page.get("CommonPrefixes") or [])
        except (bexc.BotoCoreError, bexc.ClientError) as exc:
            raise StorageError(self.describe(exc, "list", prefix)) from None
        return out

    def abort_uploads(self, prefix: str) -> int:
        """Abort multipart uploads left under a prefix; returns how many."""
        count = 0
        try:
            paginator = self.client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for upload in page.get("Uploads") or []:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    count += 1
        except (bexc.BotoCoreError, bexc.ClientError) as exc:
            raise StorageError(self.describe(exc, "abort uploads under", prefix)) from None
        return count


@dataclass
class Batch:
    """One published batch whose journal is kept until a STATE covers it."""

    number: int
    stream: str
    journal_key: str
    first_state_seq: int
    last_state_seq: int
    rows: int
    files: int
    bytes: int


@dataclass
class StreamTotals:
    """Committed totals of one stream for the run audit."""

    rows: int = 0
    files: int = 0
    bytes: int = 0


class Publisher:
    """Runs the staged publish protocol for one target run."""

    def __init__(self, storage: Storage, layout: Layout, lease_seconds: float = 300.0) -> None:
        """Prepare; nothing is written until ``start``."""
        self.storage = storage
        self.layout = layout
        self.lease_seconds = lease_seconds
        self.pending: list[Batch] = []
        self.totals: dict[str, StreamTotals] = {}
        self._batch = 0
        self._pool = cf.ThreadPoolExecutor(max_workers=8, thread_name_prefix="s3")
        self._stop = threading.Event()
        self._lease_thread: threading.Thread | None = None
        self._host = socket.gethostname()

    # --- run lifecycle ------------------------------------------------------------

    def start(self) -> None:
        """Check the bucket, write this run's lease and roll back dead runs."""
        self.storage.check_bucket()
        self._write_lease()
        self._lease_thread = threading.Thread(target=self._renew, name="lease", daemon=True)
        self._lease_thread.start()
        self.recover()

    def close(self, *, success: bool) -> None:
        """Stop renewing the lease; on success remove this run's staging area."""
        self._stop.set()
        if self._lease_thread is not None:
            self._lease_thread.join(timeout=5)
        self._pool.shutdown(wait=True)
        if success:
            keys = [o["Key"] for o in self.storage.list_keys(self.layout.run_staging())]
            self.storage.delete(keys)

    def _write_lease(self) -> None:
        self.storage.put_json(
            self.layout.lease_key,
            {
                "run_id": self.layout.run_id,
                "host": self._host,
                "pid": os.getpid(),
                "renewed_at": _now().isoformat(),
            },
        )

    def _renew(self) -> None:
        interval = max(1.0, self.lease_seconds / 3)
        while not self._stop.wait(interval):
            try:
                self._write_lease()
            except Exception as exc:
                logger.warning("Could not renew the run lease: %s", exc)

    def _is_alive(self, run_prefix: str) -> bool:
        lease = self.storage.get_json(run_prefix + "lease.json")
        head = self.storage.head(run_prefix + "lease.json") if lease else None
        if not lease or not head:
            return False
        age = (_now() - head["LastModified"]).total_seconds()
        if age > self.lease_seconds:
            return False
        if lease.get("host") == self._host:
            return _pid_alive(int(lease.get("pid") or 0))
        return True

    def recover(self) -> int:
        """Roll back journals of dead runs of this client; returns files removed."""
        removed = 0
        own = self.layout.run_staging()
        for run_prefix in self.storage.list_dirs(self.layout.client_staging):
            if run_prefix == own or self._is_alive(run_prefix):
                continue
            objects = self.storage.list_keys(run_prefix)
            journals = [o["Key"] for o in objects if o["Key"].startswith(run_prefix + "journal/")]
            finals: list[str] = []
            for key in journals:
                doc = self.storage.get_json(key) or {}
                finals.extend(doc.get("final_keys") or [])
            self.storage.delete(finals)
            aborted = self.storage.abort_uploads(run_prefix)
            others = [o["Key"] for o in objects if o["Key"] not in set(journals)]
            self.storage.delete(others)
            self.storage.delete(journals)
            removed += len(finals)
            logger.warning(
                "Rolled back unfinished run %s: removed %d published file(s) whose STATE was "
                "never emitted, %d staged object(s), %d multipart upload(s)",
                run_prefix.rstrip("/").rsplit("/", 1)[-1],
                len(finals),
                len(others),
                aborted,
            )
        return removed

    # --- batches ------------------------------------------------------------------

    def next_batch_number(self) -> int:
        """Run-wide batch counter (part of every file name)."""
        self._batch += 1
        return self._batch

    def publish(
        self,
        stream: str,
        batch: int,
        files: list[tuple[str, bytes]],
        rows: int,
        state_seqs: tuple[int, int],
    ) -> Batch:
        """Stage, journal and publish one batch's files (final key, content)."""
        staged = [self.layout.staged_key(batch, part) for part in range(1, len(files) + 1)]
        finals = [key for key, _ in files]
        list(
            self._pool.map(
                lambda kv: self.storage.put(kv[0], kv[1]),
                zip(staged, [d for _, d in files], strict=True),
            )
        )
        journal = self.layout.journal_key(batch)
        self.storage.put_json(
            journal,
            {
                "run_id": self.layout.run_id,
                "batch": batch,
                "stream": stream,
                "rows": rows,
                "created_at": _now().isoformat(),
                "final_keys": finals,
                "staged_keys": staged,
            },
        )
        list(self._pool.map(lambda sf: self.storage.copy(*sf), zip(staged, finals, strict=True)))
        self.storage.delete(staged)
        size = sum(len(d) for _, d in files)
        return Batch(batch, stream, journal, *state_seqs, rows, len(files), size)

    def straddles(self, state_seq: int) -> bool:
        """True if a pending batch holds records from both before and after a STATE."""
        return any(b.first_state_seq < state_seq <= b.last_state_seq for b in self.pending)

    def commit(self, state_seq: int | None = None) -> None:
        """Delete journals of batches covered by STATE number ``state_seq`` (all if None).

        A batch is covered when all its records arrived before that STATE.
        """
        covered = [b for b in self.pending if state_seq is None or b.last_state_seq < state_seq]
        if not covered:
            return
        self.storage.delete(b.journal_key for b in covered)
        for b in covered:
            totals = self.totals.setdefault(b.stream, StreamTotals())
            totals.rows += b.rows
            totals.files += b.files
            totals.bytes += b.bytes
        ids = {id(b) for b in covered}
        self.pending = [b for b in self.pending if id(b) not in ids]

    def rollback_pending(self) -> int:
        """Remove published files no emitted STATE covers (used when the run fails).

        Reads this run's journals from S3, so a batch that failed half-way through
        publishing is removed too.
        """
        prefix = self.layout.run_staging() + "journal/"
        journals = [o["Key"] for o in self.storage.list_keys(prefix)]
        finals: list[str] = []
        for key in journals:
            doc = self.storage.get_json(key) or {}
            finals.extend(doc.get("final_keys") or [])
        self.storage.delete(finals)
        self.storage.delete(journals)
        self.pending = []
        return len(finals)
