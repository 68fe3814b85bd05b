"""target-s3's run audit, read back from the lake: rows, files and bytes per stream.

Where a client's lake is comes from the environment's erp-quality settings (the plugin
that reads the audit), as `meltano config print erp-quality` resolves them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3

from erp_orchestration.run_log import StreamLoad


@dataclass(frozen=True)
class LakeLocation:
    """s3://{bucket}/{prefix}/{client_id}/ and how to reach it."""

    bucket: str
    client_id: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None

    @property
    def audit_prefix(self) -> str:
        """Key prefix of the client's run audit."""
        return "/".join(p for p in (self.prefix.strip("/"), self.client_id, "_audit") if p) + "/"


def location_from_config(printed: str) -> LakeLocation | None:
    """The lake location in `meltano config print erp-quality` output (None if incomplete)."""
    start = printed.find("{")
    try:
        config = json.loads(printed[start:]) if start >= 0 else {}
    except json.JSONDecodeError:
        return None
    if not config.get("bucket") or not config.get("client_id"):
        return None
    return LakeLocation(
        bucket=config["bucket"],
        client_id=config["client_id"],
        prefix=config.get("prefix") or "",
        endpoint_url=config.get("endpoint_url") or None,
        region=config.get("region") or None,
    )


def _s3(where: LakeLocation, env: Mapping[str, str]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=where.endpoint_url or env.get("AWS_ENDPOINT_URL_S3") or None,
        region_name=where.region or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
        aws_session_token=env.get("AWS_SESSION_TOKEN") or None,
    )


def stream_loads(
    where: LakeLocation, run_id: str, env: Mapping[str, str] = os.environ
) -> dict[str, StreamLoad]:
    """The audit records of one target-s3 run, by stream."""
    s3 = _s3(where, env)
    out: dict[str, StreamLoad] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=where.bucket, Prefix=where.audit_prefix
    ):
        for item in page.get("Contents", []):
            key = item["Key"]
            if f"/{run_id}-" not in key or not key.endswith(".json"):
                continue
            record = json.loads(s3.get_object(Bucket=where.bucket, Key=key)["Body"].read())
            stream = str(record["stream"])
            out[stream] = StreamLoad(stream, *(int(record[k]) for k in ("rows", "files", "bytes")))
    return dict(sorted(out.items()))
