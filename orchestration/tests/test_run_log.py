"""The one-line error and the summary read from a run's log."""

from __future__ import annotations

import pytest
from erp_orchestration.run_log import error_line, loads_from_log, target_run_id

T = "2026-12-02T00:37:07.887294Z"
AUTH = f"""{T} [info     ] meltano      Running catalog discovery
{T} [info     ] tap-erp      Skipping parse of env var settings...
{T} [info     ] tap-erp      authentication failed for http://h/acme: HTTP 401 invalid API key
{T} [error    ] meltano      Cannot start plugin tap-erp: Catalog discovery failed: command [...]
{T} [error    ] meltano      Block run completed"""
PLUGIN_ERROR = f"""{T} [info     ] target-s3    Stream 'customers': batch 1, 20 rows
{T} [error    ] target-s3    S3 bucket 'nope' does not exist
{T} [info     ] target-s3    Summary r1: stream=customers rows=0 files=0 bytes=0 duration=1s
{T} [error    ] meltano      Run invocation could not be completed as block failed"""
MELTANO_ONLY = f"{T} [error    ] meltano      Environment 'nobody' was not found."
SUMMARY = f"""{T} [info     ] target-s3    Summary r0: stream=customers rows=1 files=1 bytes=5 d
{T} [info     ] target-s3    Summary r1: stream=customers rows=20 files=1 bytes=11155 d
{T} [info     ] target-s3    Summary r1: stream=vendors rows=5 rejected=0 files=2 bytes=6717 d"""


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        (AUTH, "tap-erp: authentication failed for http://h/acme: HTTP 401 invalid API key"),
        (PLUGIN_ERROR, "S3 bucket 'nope' does not exist"),
        (MELTANO_ONLY, "Environment 'nobody' was not found."),
        ("", "meltano exited with status 2"),
    ],
)
def test_error_line(log, expected):
    assert error_line(log, 2) == expected


def test_the_last_summary_of_the_log_stands_for_the_run():
    assert target_run_id(SUMMARY) == "r1"
    loads = loads_from_log(SUMMARY)
    assert [(s.stream, s.rows, s.files, s.bytes) for s in loads.values()] == [
        ("customers", 20, 1, 11155),
        ("vendors", 5, 2, 6717),
    ]
