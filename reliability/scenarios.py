"""The fault matrix as data: each row a fault, how many trials, the expected outcome.

Each row's `Expect` and `Scenario`: `reliability/expect.py`.
"""

from __future__ import annotations

import contextlib

from erp_sandbox.testing import SandboxServer, free_port

from reliability.delta import DeltaKill
from reliability.drift_scenarios import DRIFT
from reliability.expect import FAILS_THEN_RECOVERS, RECOVERS, Scenario, rejected
from reliability.faults import (
    ApiFault,
    BadProfile,
    BadSettings,
    HandState,
    Kill,
    LoaderInput,
    S3Fault,
    Slowed,
    failing_puts,
)

GLOBEX = {"TAP_ERP_REQUEST_TIMEOUT_SECONDS": "10"}
MUTATE = {
    "after": 4,
    "change": {"updated_orders": 40, "new_orders": 5, "updated_lines": 60, "updated_customers": 5},
}


def revoke(erp: SandboxServer, tenant: str) -> None:
    with contextlib.suppress(Exception):
        erp.revoke_tokens(tenant)


def new_tie_group(erp: SandboxServer, tenant: str) -> None:
    """Changed rows sharing one timestamp, for the rerun to page through."""
    erp.advance(tenant, seconds=60, updated_orders=60, updated_lines=120, new_orders=3)


BASELINE = Scenario("none (baseline, slowed)", Slowed(), RECOVERS, soak_trials=1)

API = [
    Scenario(
        "429 + Retry-After (every 9th)",
        ApiFault(faults={"rate_limit": {"every": 9, "retry_after": 1}}),
        RECOVERS,
    ),
    Scenario(
        "5xx bursts (3 after every 5)",
        ApiFault(faults={"errors": {"every": 5, "burst": 3, "statuses": [500, 502, 503]}}),
        RECOVERS,
    ),
    Scenario(
        "connection reset mid-body (every 6th)",
        ApiFault(faults={"drop": {"every": 6}}),
        RECOVERS,
    ),
    Scenario(
        "page slower than timeout (2 s > 1 s)",
        ApiFault(
            faults={"slow": {"every": 7, "seconds": 2.0}},
            settings={"TAP_ERP_REQUEST_TIMEOUT_SECONDS": "1"},
        ),
        RECOVERS,
    ),
    Scenario(
        "malformed JSON page (every 7th)",
        ApiFault(faults={"malformed": {"every": 7}}),
        RECOVERS,
    ),
    Scenario(
        "token expiry (ttl 1 s) + revoke, oauth2",
        ApiFault(
            tenant="globex",
            settings=GLOBEX,
            faults={"token_ttl_seconds": 1, "slow": {"every": 4, "seconds": 0.4}},
            during=revoke,
            during_after=5.0,
        ),
        RECOVERS,
    ),
    Scenario(
        "rows inserted/updated while paging", ApiFault(faults={"mutate_after_requests": MUTATE})
    ),
    Scenario(
        "rows changed while cursor paging, oauth2",
        ApiFault(tenant="globex", settings=GLOBEX, faults={"mutate_after_requests": MUTATE}),
        RECOVERS,
    ),
    Scenario(
        "tie groups across pages (page 7) + new tie",
        ApiFault(settings={"TAP_ERP_PAGE_SIZE": "7"}, then=new_tie_group),
        RECOVERS,
    ),
]

S3 = [
    Scenario(
        "S3 5xx on every 3rd PUT/COPY (retried)",
        S3Fault(rule=failing_puts(lambda n: n % 3 == 0, 503, "SlowDown"), max_attempts=5),
        RECOVERS,
    ),
    Scenario(
        "S3 outage mid-run (PUT/COPY 500) + rerun",
        S3Fault(rule=failing_puts(lambda n: n > 6, 500, "InternalError"), max_attempts=2),
        FAILS_THEN_RECOVERS,
    ),
]

KILLS = [
    Scenario(f"kill -9 {victim} (random point)", Kill(victim=victim), FAILS_THEN_RECOVERS, 10, 25)
    for victim in ("tap-erp", "target-s3")
]

SHORT_DELTA_TRIALS = 6
DELTA = [
    Scenario(
        "kill -9 target-s3 during Delta commits",
        DeltaKill(),
        FAILS_THEN_RECOVERS,
        trials=20,
        soak_trials=50,
        short_trials=SHORT_DELTA_TRIALS,
    )
]

BAD_SETTINGS = [
    ("missing base_url", {"TAP_ERP_BASE_URL": ""}, r"base_url"),
    (
        "invalid pagination_style",
        {"TAP_ERP_PAGINATION_STYLE": "sideways"},
        r"(?=.*pagination_style)(?=.*offset.*cursor)",
    ),
    ("page_size out of range (0)", {"TAP_ERP_PAGE_SIZE": "0"}, r"page_size"),
    ("page_size out of range (99999)", {"TAP_ERP_PAGE_SIZE": "99999"}, r"page_size"),
    (
        "invalid target compression",
        {"TARGET_S3_COMPRESSION": "lz77"},
        r"(?=.*compression)(?=.*zstd)",
    ),
    (
        "wrong API key (401)",
        {"TAP_ERP_API_KEY": "wrong-key-9f3"},
        r"401|unauthori[sz]ed|credential|rejected",
    ),
    (
        "unreachable host (closed port)",
        {"TAP_ERP_BASE_URL": f"http://127.0.0.1:{free_port()}/acme", "TAP_ERP_MAX_RETRIES": "1"},
        r"127\.0\.0\.1|connect|unreachable|refused",
    ),
    (
        "bad stream-map expression",
        {"TAP_ERP_STREAM_MAPS": '{"sales_orders": {"x": "1 +"}}'},
        r"sales_orders|stream.map|expression|1 \+",
    ),
    (
        "missing bucket",
        {"TARGET_S3_BUCKET": "no-such-bucket-rel", "TARGET_S3_S3_MAX_ATTEMPTS": "1"},
        r"no-such-bucket-rel",
    ),
]

BROKEN_PROFILES = [
    (
        "profile: unknown key",
        lambda p: p["streams"]["sales_orders"]["request"].update(methd="GET"),
        r"streams\.sales_orders\.request.*unknown key 'methd'",
    ),
    (
        "profile: wrong type",
        lambda p: p["streams"]["customers"].update(primary_keys="CustomerKey"),
        r"streams\.customers\.primary_keys.*expected `array`",
    ),
    (
        "profile: unknown placeholder",
        lambda p: p["defaults"]["request"]["query"].update(modified_since="{sincee}"),
        r"'defaults\.request\.query\.modified_since': unknown placeholder \{sincee\}",
    ),
    (
        "profile: selector that matches nothing",
        lambda p: p["defaults"].update(records="rows"),
        r"selector 'rows' matched nothing; the response has keys",
    ),
    (
        "profile: path the ERP does not know (404, not retried; first stream)",
        lambda p: p["streams"]["customers"]["request"].update(path="api/v1/no-such-thing"),
        r"HTTP 404 from GET .*no-such-thing",
    ),
    (
        "profile: delete endpoint the ERP does not have (404, before any row)",
        lambda p: p["streams"]["customers"]["deletes"]["request"].update(
            path="api/v1/no-such-thing/$deleted"
        ),
        r"stream 'customers': the ERP has no endpoint for the profile key "
        r"'streams\.customers\.deletes'",
    ),
]

BAD_INPUT = [
    *(
        Scenario(case, BadSettings(settings=env), rejected(line), soak_trials=1)
        for case, env, line in BAD_SETTINGS
    ),
    *(
        Scenario(
            case,
            BadProfile(edit=edit),
            rejected(line, never=r"retry" if "404" in case else None),
            soak_trials=1,
        )
        for case, edit, line in BROKEN_PROFILES
    ),
    Scenario(
        "wrong OAuth2 client secret",
        BadSettings(tenant="globex", settings={"TAP_ERP_CLIENT_SECRET": "wrong-key-9f3"}),
        rejected(r"401|invalid_client|credential|rejected"),
        soak_trials=1,
    ),
    Scenario(
        "denied write (403 AccessDenied)",
        S3Fault(rule=failing_puts(lambda n: True, 403, "AccessDenied"), max_attempts=1),
        rejected(r"AccessDenied|denied|403"),
        soak_trials=1,
    ),
    Scenario(
        "schema violation ('four' in integer order_id)",
        LoaderInput(),
        rejected(r"order_id|integer|four"),
        soak_trials=1,
    ),
]


def refused_state(stream: str, problem: str) -> str:
    """The one line a refused state must show: the stream, the problem and the fix."""
    return rf"(?=.*state: stream '{stream}')(?=.*{problem})(?=.*fix it with `meltano .*state clear)"


HAND_STATE = [
    Scenario(
        f"hand-set state: {case}",
        HandState(bookmarks={stream: bookmark}),
        rejected(refused_state(stream, problem), rerun=True),
        soak_trials=1,
    )
    for case, stream, bookmark, problem in [
        (
            "bookmark in 2099",
            "sales_orders",
            {"replication_key": "ModifiedOn", "replication_key_value": "2099-01-01T00:00:00+00:00"},
            "later than now",
        ),
        (
            "bookmark under the wrong replication key",
            "customers",
            {"replication_key": "CreateDate", "replication_key_value": "2025-01-01T00:00:00+00:00"},
            "replication key",
        ),
        ("garbage bookmark", "vendors", "garbage", "not an object"),
    ]
]

SCENARIOS = [BASELINE, *API, *S3, *KILLS, *DELTA, *BAD_INPUT, *HAND_STATE, *DRIFT]
