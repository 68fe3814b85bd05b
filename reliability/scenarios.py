"""The fault matrix as data: each row a fault, how many trials, the expected outcome.

`Expect.first`: the faulted run must fail ("fails": exit ≠ 0, never silently 0),
must succeed ("ok": the fault is retried away), or may do either ("any").
`Expect.line`: the one line a failed run must show (a regular expression).
`Expect.says`: a line the faulted run must show exactly once even when it succeeds
(a warning: nothing passes silently).
`Expect.quarantined`: source rows that must end in `_rejected/` instead of the lake.
`lands`: whether the faulted run may land data and save state at all.
`rerun`: an ordinary rerun follows (after the fault is repaired) and the lake must then
hold every source row exactly once per version (without a rerun, a run that must
succeed is judged alone).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from erp_sandbox.testing import SandboxServer, free_port
from erp_testing.drift import batch_root_under_a_file, map_files

from reliability.delta import DeltaKill
from reliability.faults import (
    UPDATED_PRODUCTS,
    ApiFault,
    BadProfile,
    BadSettings,
    Drift,
    Fault,
    HandState,
    Kill,
    LoaderInput,
    S3Fault,
    Slowed,
    failing_puts,
)


@dataclass(frozen=True)
class Expect:
    first: str = "any"  # "ok" | "fails" | "any"
    line: str | None = None
    never: str | None = None  # a regular expression the faulted run's output must not match
    lands: bool = True
    rerun: bool = True
    says: str | None = None
    quarantined: int = 0


RECOVERS = Expect(first="ok")
FAILS_THEN_RECOVERS = Expect(first="fails")


def rejected(line: str, rerun: bool = False, never: str | None = None) -> Expect:
    """A run that must stop at once with one line, landing nothing and saving no state."""
    return Expect(first="fails", line=line, never=never, lands=False, rerun=rerun)


@dataclass(frozen=True)
class Scenario:
    name: str
    fault: Fault
    expect: Expect = field(default_factory=Expect)
    trials: int = 1  # `make reliability`
    soak_trials: int = 3  # `make soak`
    short_trials: int | None = None  # `make test` (None: as many as `make reliability`)

    def count(self, form: str) -> int:
        """Trials in the matrix's form: "short", "full" or "soak"."""
        if form == "soak":
            return max(self.soak_trials, self.trials)
        if form == "short" and self.short_trials is not None:
            return self.short_trials
        return self.trials


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

QUARANTINE = {"TARGET_S3_ON_SCHEMA_VIOLATION": "quarantine"}
WEIGHT_AS_TEXT = {"products": {"types": {"U_WeightKg": "string"}}}
#: Text that converts back to the contract's decimal lands; this does not.
WEIGHT_NOT_A_NUMBER = {
    "products": {"types": {"U_WeightKg": "string"}, "set": {"U_WeightKg": "n/a"}}
}
NULL_PRICE = {"products": {"set": {"ListPrice": None}, "keys": [1, 2]}}
OUT_OF_RANGE = {
    "products": {"set": {"CreatedOn": "9999-12-31T23:59:59.999999-05:00"}, "keys": [1]},
    "customers": {"set": {"CreatedOn": "0001-01-01T00:00:00+02:00"}, "keys": [1]},
}
BOTH = {
    "products": {
        "set": {"ListPrice": None, "CreatedOn": "9999-12-31T23:59:59.999999-05:00"},
        "keys": [1, 2],
    },
    "customers": OUT_OF_RANGE["customers"],
}
TYPE_CHANGE = (
    r"(?=.*stream 'products')(?=.*column 'spec_weight_kg')(?=.*decimal128\(38, 3\))"
    r"(?=.*to string)"
)
OUT_OF_RANGE_LINE = (
    r"(?=.*stream '(products|customers)')(?=.*column 'created_at')"
    r"(?=.*(9999-12-31T23:59:59.999999-05:00|0001-01-01T00:00:00\+02:00))"
)
DROPPED = r"'products': custom field 'U_Voltage' is dropped by the stream maps"
PASSED = r"'products': custom field 'U_Voltage' is not in the stream maps; landed as column"


def without_voltage(folder: Path) -> dict[str, str]:
    return {"TAP_ERP_STREAM_MAP_FILES": map_files(folder, voltage=False)}


def batch_folder_under_a_file(folder: Path) -> dict[str, str]:
    return {"TAP_ERP_BATCH_CONFIG": batch_root_under_a_file(folder)}


def drift_fails(line: str) -> Expect:
    """The drifting stream fails with one line; the others may land (state checked)."""
    return Expect(first="fails", line=line)


DRIFT = [
    Scenario(
        "drift: new custom field, dropped by the maps",
        Drift(run_env=without_voltage),
        Expect(first="ok", says=DROPPED, rerun=False),
        soak_trials=1,
    ),
    Scenario(
        "drift: new custom field, unmapped_custom_fields: pass",
        Drift(run_env=without_voltage, settings={"TAP_ERP_UNMAPPED_CUSTOM_FIELDS": "pass"}),
        Expect(first="ok", says=PASSED, rerun=False),
        soak_trials=1,
    ),
    Scenario(
        "drift: custom decimal becomes text",
        Drift(drift=WEIGHT_AS_TEXT, clean_first=True),
        drift_fails(TYPE_CHANGE),
        soak_trials=1,
    ),
    Scenario(
        "drift: custom decimal becomes text ('n/a'), quarantine",
        Drift(drift=WEIGHT_NOT_A_NUMBER, clean_first=True, settings=QUARANTINE),
        Expect(first="ok", quarantined=UPDATED_PRODUCTS, rerun=False),
        soak_trials=1,
    ),
    Scenario(
        "drift: null in never-null ListPrice",
        Drift(drift=NULL_PRICE),
        drift_fails(r"(?=.*stream 'products')(?=.*column 'list_price')(?=.*null)"),
        soak_trials=1,
    ),
    Scenario(
        "drift: instants in 0001 (+02:00) and 9999-12-31 (-05:00)",
        Drift(drift=OUT_OF_RANGE),
        drift_fails(OUT_OF_RANGE_LINE),
        soak_trials=1,
    ),
    Scenario(
        "drift: null price + out-of-range instant, quarantine",
        Drift(drift=BOTH, settings=QUARANTINE),
        Expect(first="ok", quarantined=3, rerun=False),
        soak_trials=1,
    ),
    Scenario(
        "batch folder not writable (ENOTDIR: folder under a file)",
        Drift(run_env=batch_folder_under_a_file),
        drift_fails(r"(?=.*cannot create folder .*not-a-folder)(?=.*batch_config\.storage\.root)"),
        soak_trials=1,
    ),
]

SCENARIOS = [BASELINE, *API, *S3, *KILLS, *DELTA, *BAD_INPUT, *HAND_STATE, *DRIFT]
