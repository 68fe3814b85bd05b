"""The Singer SDK's standard target tests, against the local S3 server."""

from __future__ import annotations

import os

from singer_sdk.testing import get_target_test_class
from target_s3.target import TargetS3

CONFIG = {
    "bucket": "standard-tests",
    "endpoint_url": os.environ["TARGET_S3_TEST_ENDPOINT"],
    "region": "us-east-1",
    "aws_access_key_id": "local",
    "aws_secret_access_key": "local",
    "client_id": "standard",
    "prefix": "sdk",
    "s3_max_attempts": 2,
}

TestTargetS3 = get_target_test_class(TargetS3, config=CONFIG)
