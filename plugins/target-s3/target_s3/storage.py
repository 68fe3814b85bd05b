"""S3 access: a thin client whose every failure is one clear line.

The exactly-once protocol built on it (stage, journal, publish, commit) is in
``publish``.
"""

from __future__ import annotations

import io
import json
import typing as t

import boto3
import botocore.exceptions as bexc
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig

from target_s3.errors import StorageError

if t.TYPE_CHECKING:
    from target_s3.settings import Settings

MULTIPART_THRESHOLD = 64 << 20
_DENIED = {"AccessDenied", "403", "AllAccessDisabled", "AccountProblem"}
_BAD_CREDENTIALS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
}


class Storage:
    """Thin S3 client: every failure becomes one clear ``StorageError`` line."""

    def __init__(self, settings: Settings) -> None:
        """Create the client (no request yet); secrets are never logged."""
        self.endpoint_url = settings.endpoint_url
        self.bucket = settings.bucket
        try:
            session = boto3.session.Session(
                aws_access_key_id=settings.aws_access_key_id or None,
                aws_secret_access_key=settings.aws_secret_access_key or None,
                aws_session_token=settings.aws_session_token or None,
                profile_name=settings.aws_profile or None,
            )
            self.client = session.client(
                "s3",
                region_name=settings.region or None,
                endpoint_url=settings.endpoint_url or None,
                config=BotoConfig(
                    retries={"max_attempts": settings.s3_max_attempts, "mode": "standard"},
                    connect_timeout=settings.s3_connect_timeout_seconds,
                    read_timeout=settings.s3_read_timeout_seconds,
                    s3={"addressing_style": settings.s3_addressing_style},
                    max_pool_connections=16,
                ),
            )
        except bexc.ProfileNotFound:
            msg = f"AWS profile {settings.aws_profile!r} not found (setting 'aws_profile')"
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
        endpoint = self.endpoint_url or "the AWS S3 endpoint"
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
