"""Fault matrix of the whole pipeline: real Meltano, tap-erp, target-s3, the sandbox
ERP and a local S3 server.

    .venv/bin/python reliability/matrix.py [--soak] [--seed N] [--trials N] [--jobs N]

Every scenario gets a fresh sandbox state, a fresh bucket and its own Meltano system
database; it injects one fault into `meltano --environment=demo run tap-erp target-s3`,
does an ordinary rerun, then compares what landed (read back over S3 with DuckDB) with
the sandbox's own rows. Prints the fault matrix, the bad-input table and the security
checks; exits 1 if any row lost or duplicated a record, saved state ahead of the data,
or a bad input was not reported as one clear line (exit 0, traceback or secret shown).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import queue
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from erp_quality.lake import Lake, LakeConfig
from erp_sandbox.testing import CREDENTIALS, SandboxServer, free_port, sandbox_server
from erp_testing.project import MELTANO, ROOT, STREAMS, Endpoints, meltano_env, state_id
from erp_testing.standard_model import KEYS
from target_s3.fault_proxy import fault_proxy
from target_s3.testing import LocalS3, local_s3

DEMO_RUN = ("--environment=demo", "run", "tap-erp", "target-s3")
STATE_ID = state_id("demo")
ORDERS = 300
PAGE_SIZE = 50
RUN_TIMEOUT = 240.0
SNAPSHOT_STREAMS = frozenset({"inventory"})  # landed whole by every run
TAP_EXE = ROOT / ".meltano" / "extractors" / "tap-erp" / "venv" / "bin" / "tap-erp"
TARGET_EXE = ROOT / ".meltano" / "loaders" / "target-s3" / "venv" / "bin" / "target-s3"
GLOBEX_MAPS = json.dumps(
    [
        str(ROOT / "transforms" / "erp_sandbox" / "standard_model.yml"),
        str(ROOT / "transforms" / "erp_sandbox" / "clients" / "globex.yml"),
    ]
)
SLOWED = {"slow": {"every": 3, "seconds": 0.2}}  # makes a run last a few seconds
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
PLUGIN_PREFIX = re.compile(r"^.*?\|\s*(?:ERROR|INFO)\s*\|\s*\S+\s*\|\s*")
MELTANO_PREFIX = re.compile(r"^\S+Z \[\w+\s*\] (?:\S+\s{2,})?")


def micros(value: str | dt.datetime) -> int:
    """Microseconds since the epoch of an ISO 8601 timestamp with offset."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (value - EPOCH) // dt.timedelta(microseconds=1)


# --- running the real command lines ---------------------------------------------------


@dataclass
class Run:
    """One finished (or killed) command."""

    rc: int | None
    stdout: str
    stderr: str
    seconds: float
    killed: str | None = None  # executable killed with SIGKILL
    lifetimes: dict[str, float] = field(default_factory=dict)  # plugin -> seconds seen

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _group(pgid: int) -> Iterator[tuple[int, set[str]]]:
    """Processes of a process group with the names of their executable (argv 0 and 1)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")[:2]
        except (OSError, ValueError, IndexError):
            continue
        yield int(entry.name), {Path(a.decode(errors="replace")).name for a in argv}


def run_cli(
    cmd: list[str],
    env: dict[str, str],
    *,
    stdin: bytes | None = None,
    timeout: float = RUN_TIMEOUT,
    victim: str | None = None,
    delay: float = 0.0,
    watch: bool = False,
) -> Run:
    """Run a command in its own process group, optionally `kill -9` one of its plugin
    processes `delay` seconds after it appears; the group is always killed at the end."""
    watched = ("tap-erp", "target-s3") if (victim or watch) else ()
    seen: dict[str, list[float]] = {}
    killed = None
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        try:
            if stdin is not None:
                assert proc.stdin is not None
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.write(stdin)
                proc.stdin.close()
            while proc.poll() is None and time.monotonic() - start < timeout:
                if watched:
                    now = time.monotonic()
                    for pid, names in _group(proc.pid):
                        for name in watched:
                            if name in names:
                                seen.setdefault(name, [now, now])[1] = now
                                if (
                                    name == victim
                                    and killed is None
                                    and now >= seen[name][0] + delay
                                ):
                                    with contextlib.suppress(ProcessLookupError):
                                        os.kill(pid, signal.SIGKILL)
                                        killed = name
                time.sleep(0.01)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, timeout - (time.monotonic() - start)))
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        seconds = time.monotonic() - start
        rc = proc.returncode if seconds < timeout else None
        out.seek(0)
        err.seek(0)
        return Run(
            rc=rc,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
            seconds=seconds,
            killed=killed,
            lifetimes={k: v[1] - v[0] for k, v in seen.items()},
        )


# --- one isolated use of the project ---------------------------------------------------


@dataclass
class Ctx:
    """A fresh bucket and Meltano system database on one sandbox."""

    erp: SandboxServer
    s3: LocalS3
    tenant: str
    bucket: str
    env: dict[str, str]
    workdir: Path
    prefix: str = "rel"

    def meltano(self, *args: str, **kw: t.Any) -> Run:
        return run_cli([MELTANO, *args], self.env, **kw)

    def run(self, **kw: t.Any) -> Run:
        return self.meltano(*DEMO_RUN, **kw)

    def lake(self) -> Lake:
        return Lake(
            LakeConfig(
                bucket=self.bucket,
                prefix=self.prefix,
                client_id=self.tenant,
                endpoint_url=self.s3.endpoint_url,
                access_key_id=self.env["AWS_ACCESS_KEY_ID"],
                secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            )
        )

    def state(self) -> dict | None:
        """Meltano's saved state (`meltano state get`); None when there is none."""
        got = self.meltano("--environment=demo", "state", "get", STATE_ID, timeout=120)
        text = got.stdout
        if got.rc != 0 or "{" not in text:
            return None
        return json.loads(text[text.index("{") :])


def private_sys_dir(tmp: Path) -> str:
    """A `.meltano` of its own (the installed plugins linked in), so that runs in
    parallel do not share Meltano's run folder, where each run writes its catalog."""
    sys_dir = tmp / "meltano-sys"
    sys_dir.mkdir()
    for kind in ("extractors", "loaders", "utilities"):
        if (ROOT / ".meltano" / kind).is_dir():
            (sys_dir / kind).symlink_to(ROOT / ".meltano" / kind)
    return str(sys_dir)


@contextlib.contextmanager
def new_ctx(erp: SandboxServer, s3: LocalS3, tenant: str = "acme", **env: str) -> Iterator[Ctx]:
    """Reset the sandbox; a new bucket, system database and environment."""
    erp.reset()
    bucket = f"rel-{uuid.uuid4().hex[:12]}"
    s3.client().create_bucket(Bucket=bucket)
    endpoints = Endpoints(
        erp_url=erp.tenant_url(tenant),
        s3_endpoint_url=s3.endpoint_url,
        bucket=bucket,
        prefix="rel",
        client_id=tenant,
    )
    base = meltano_env(endpoints)
    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
        base.update(
            {
                "MELTANO_SYS_DIR_ROOT": private_sys_dir(Path(tmp)),
                "XDG_STATE_HOME": f"{tmp}/xdg-state",
                "MELTANO_DATABASE_URI": f"sqlite:///{tmp}/meltano.db",
                "TAP_ERP_PAGE_SIZE": str(PAGE_SIZE),
                "TAP_ERP_BACKOFF_BASE_SECONDS": "0.05",
                "TAP_ERP_BACKOFF_MAX_SECONDS": "0.5",
                "TARGET_S3_BATCH_MAX_ROWS": "200",
                "TAP_ERP_BATCH_CONFIG_BATCH_SIZE": "250",  # several BATCH files per stream
            }
        )
        if tenant == "globex":
            creds = CREDENTIALS["globex"]
            base.update(
                {
                    "TAP_ERP_AUTH_METHOD": "oauth2",
                    "TAP_ERP_CLIENT_ID": creds["client_id"],
                    "TAP_ERP_CLIENT_SECRET": creds["client_secret"],
                    "TAP_ERP_PAGINATION_STYLE": "cursor",
                    "TAP_ERP_STREAM_MAP_FILES": GLOBEX_MAPS,
                }
            )
        base.update(env)
        yield Ctx(erp, s3, tenant, bucket, base, Path(tmp))


# --- comparing the lake with the source -------------------------------------------------


@dataclass
class Tally:
    """Counts of one row of the matrix (summed over trials and streams)."""

    trials: int = 0
    expected: int = 0
    landed: int = 0
    lost: int = 0
    duplicated: int = 0  # rows beyond one per (key, updated_at) (+ run for snapshots)
    extra_versions: int = 0  # rows beyond one per key (older versions are legitimate)
    state_ok: int = 0
    state_checked: int = 0
    failed_reruns: int = 0  # an ordinary rerun (after the fault) must succeed
    notes: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        for name in (
            "trials",
            "expected",
            "landed",
            "lost",
            "duplicated",
            "extra_versions",
            "state_ok",
            "state_checked",
            "failed_reruns",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.notes += other.notes

    @property
    def passed(self) -> bool:
        return (
            self.trials > 0
            and self.lost == 0
            and self.duplicated == 0
            and self.state_ok == self.state_checked
            and self.landed == self.expected
            and self.failed_reruns == 0
        )


def source_versions(erp: SandboxServer, tenant: str, stream: str) -> dict[tuple, int]:
    """Primary key -> ModifiedOn (µs) of every current source row."""
    native, _ = KEYS[stream]
    return {
        tuple(r[k] for k in native): micros(r["ModifiedOn"]) for r in erp.records(tenant, stream)
    }


def landed_rows(lake: Lake, stream: str) -> list[tuple[tuple, int, str]]:
    """(key, updated_at µs, run id) of every landed row of a stream."""
    if not any(k.endswith(".parquet") for k in lake.keys(f"{stream}/")):
        return []
    _, std = KEYS[stream]
    sql = f"SELECT {', '.join(std)}, epoch_us(updated_at), _run_id FROM {lake.table(stream)}"
    n = len(std)
    return [(tuple(r[:n]), r[n], r[n + 1]) for r in lake.query(sql)]


def latest(rows: list[tuple[tuple, int, str]]) -> dict[tuple, int]:
    newest: dict[tuple, int] = {}
    for key, ts, _ in rows:
        if ts > newest.get(key, -1):
            newest[key] = ts
    return newest


def compare(ctx: Ctx) -> Tally:
    """Lake against source, every stream."""
    tally = Tally(trials=1)
    lake = ctx.lake()
    for stream in STREAMS:
        source = source_versions(ctx.erp, ctx.tenant, stream)
        rows = landed_rows(lake, stream)
        newest = latest(rows)
        tally.expected += len(source)
        tally.landed += len(newest.keys() & source.keys())
        lost = [k for k, ts in source.items() if newest.get(k, -1) < ts]
        tally.lost += len(lost)
        if lost:
            tally.notes.append(f"{stream}: lost {len(lost)} e.g. {lost[:3]}")
        if stream in SNAPSHOT_STREAMS:
            versions = {(k, ts, run) for k, ts, run in rows}
            per_key = {(k, run) for k, _, run in rows}
        else:
            versions = {(k, ts) for k, ts, _ in rows}
            per_key = {k for k, _, _ in rows}
        dups = len(rows) - len(versions)
        tally.duplicated += dups
        if dups:
            tally.notes.append(f"{stream}: {dups} duplicate rows")
        tally.extra_versions += len(rows) - len(per_key)
        phantom = newest.keys() - source.keys()
        if phantom:
            tally.notes.append(f"{stream}: {len(phantom)} keys not in the source")
    return tally


def state_ahead(ctx: Ctx) -> list[str]:
    """Records the saved state claims done that are not in the lake (empty: state ok).

    A record is covered by a stream's bookmark when its ModifiedOn is before the
    bookmark, or equal to it with its key in `bookmark_keys`.
    """
    state = ctx.state()
    if not state:
        return []
    bookmarks = (state.get("singer_state") or {}).get("bookmarks") or {}
    lake = ctx.lake()
    problems = []
    for stream, mark in bookmarks.items():
        value = mark.get("replication_key_value") if isinstance(mark, dict) else None
        if not value or stream not in KEYS:
            continue
        at = micros(str(value))
        keys_at = {
            tuple(k) if isinstance(k, list) else (k,) for k in mark.get("bookmark_keys") or []
        }
        newest = latest(landed_rows(lake, stream))
        source = source_versions(ctx.erp, ctx.tenant, stream)
        missing = [
            k
            for k, ts in source.items()
            if (ts < at or (ts == at and k in keys_at)) and newest.get(k, -1) < ts
        ]
        if missing:
            problems.append(f"{stream}: bookmark {value} covers {len(missing)} unlanded rows")
    return problems


def last_error_line(run: Run, pattern: str | None = None) -> str:
    """The user-facing line of a failed run (matching `pattern` if given)."""
    lines = [MELTANO_PREFIX.sub("", line).strip() for line in run.output.splitlines()]
    lines = [line for line in lines if line]
    if pattern:
        # The last matching line: errors come after the informational lines.
        errors = [PLUGIN_PREFIX.sub("", line).strip() for line in lines if "| ERROR" in line]
        for line in reversed(lines + errors):
            if re.search(pattern, line, re.IGNORECASE):
                return line
        return ""
    # The plugins' own error lines first (SDK log format "| ERROR | plugin | text"),
    # then Meltano's summary lines.
    for line in lines:
        if "| ERROR" in line or "target-s3 failed:" in line:
            return PLUGIN_PREFIX.sub("", line).strip()
    for line in reversed(lines):
        if re.search(r"error|failed|invalid|denied|not exist", line, re.IGNORECASE):
            return line
    return lines[-1] if lines else ""


# --- scenarios -------------------------------------------------------------------------


@dataclass
class Env:
    """What every scenario shares: a pool of sandboxes and the local S3 server."""

    sandboxes: queue.Queue[SandboxServer]
    s3: LocalS3
    seed: int

    @contextlib.contextmanager
    def sandbox(self) -> Iterator[SandboxServer]:
        erp = self.sandboxes.get()
        try:
            yield erp
        finally:
            with contextlib.suppress(Exception):
                erp.reset()
            self.sandboxes.put(erp)


def faulted_run(
    env: Env,
    faults: dict,
    *,
    tenant: str = "acme",
    settings: dict[str, str] | None = None,
    during: Callable[[SandboxServer], None] | None = None,
    during_after: float = 0.0,
    before: Callable[[Ctx], None] | None = None,
    after_first: Callable[[Ctx], None] | None = None,
) -> Tally:
    """One trial of an API fault: faulted run, state check, ordinary rerun, compare."""
    with env.sandbox() as erp, new_ctx(erp, env.s3, tenant, **(settings or {})) as ctx:
        if before:
            before(ctx)
        erp.set_faults(tenant, faults)
        timer = threading.Timer(during_after, during, args=(erp,)) if during else None
        if timer:
            timer.start()
        try:
            first = ctx.run()
        finally:
            if timer:
                timer.cancel()
        erp.set_faults(tenant, {})
        notes = []
        if first.rc != 0:
            notes.append(f"faulted run exit {first.rc}: {last_error_line(first)[:140]}")
        problems = state_ahead(ctx)
        if after_first:
            after_first(ctx)
        rerun = ctx.run()
        if rerun.rc != 0:
            notes.append(f"rerun exit {rerun.rc}: {last_error_line(rerun)[:140]}")
        tally = compare(ctx)
        tally.state_checked, tally.state_ok = 1, int(not problems)
        tally.notes += notes + problems
        tally.failed_reruns += int(rerun.rc != 0)
        return tally


def kill_trial(env: Env, victim: str, delay: float) -> Tally:
    """kill -9 of one plugin `delay` s after it starts, state check, ordinary rerun."""
    with env.sandbox() as erp, new_ctx(erp, env.s3) as ctx:
        erp.set_faults("acme", SLOWED)
        killed = ctx.run(victim=victim, delay=delay)
        problems = state_ahead(ctx)
        erp.set_faults("acme", {})
        rerun = ctx.run()
        tally = compare(ctx)
        tally.state_checked, tally.state_ok = 1, int(not problems)
        tally.notes += problems
        if killed.killed is None:
            tally.notes.append(f"{victim} finished before {delay:.2f}s (run exit {killed.rc})")
        elif killed.rc == 0:
            tally.notes.append(f"{victim} killed at {delay:.2f}s but the run exited 0")
        if rerun.rc != 0:
            tally.notes.append(f"rerun exit {rerun.rc}: {last_error_line(rerun)[:140]}")
        tally.failed_reruns += int(rerun.rc != 0)
        return tally


def calibrate(env: Env) -> tuple[Tally, dict[str, float], list[Check]]:
    """The clean baseline (slowed like the kill trials): also how long each plugin
    lives, and proof that the comparison sees a copied and a deleted file."""
    with env.sandbox() as erp, new_ctx(erp, env.s3) as ctx:
        erp.set_faults("acme", SLOWED)
        run = ctx.run(watch=True)
        problems = state_ahead(ctx)
        erp.set_faults("acme", {})
        rerun = ctx.run()
        tally = compare(ctx)
        tally.state_checked, tally.state_ok = 1, int(not problems)
        for r in (run, rerun):
            if r.rc != 0:
                tally.notes.append(f"exit {r.rc}: {last_error_line(r)[:140]}")
        return tally, run.lifetimes, detector_checks(ctx)


def detector_checks(ctx: Ctx) -> list[Check]:
    """Tamper with a landed table: the matrix must count the duplicates and the loss."""
    client = ctx.s3.client()
    stream = "sales_order_lines"
    keys = sorted(k for k in ctx.lake().keys(f"{stream}/") if k.endswith(".parquet"))
    if not keys:
        return [Check("matrix sees a copied and a deleted file", False, "nothing landed")]
    victim = keys[0]
    copy = victim.replace(".parquet", "-copy.parquet")
    client.copy_object(
        Bucket=ctx.bucket, Key=copy, CopySource={"Bucket": ctx.bucket, "Key": victim}
    )
    copied = compare(ctx)
    client.delete_object(Bucket=ctx.bucket, Key=copy)
    client.delete_object(Bucket=ctx.bucket, Key=victim)
    deleted = compare(ctx)
    return [
        Check(
            "matrix counts the rows of a copied file as duplicated",
            copied.duplicated > 0,
            f"duplicated={copied.duplicated}",
        ),
        Check(
            "matrix counts the rows of a deleted file as lost",
            deleted.lost > 0,
            f"lost={deleted.lost}",
        ),
    ]


def s3_trial(env: Env, rule_factory: Callable[[], t.Any], max_attempts: str) -> Tally:
    """A run whose S3 requests go through a failing proxy, then an ordinary rerun."""
    port = int(env.s3.endpoint_url.rsplit(":", 1)[1])
    with (
        env.sandbox() as erp,
        new_ctx(erp, env.s3, TARGET_S3_S3_MAX_ATTEMPTS=max_attempts) as ctx,
        fault_proxy(port, rule_factory()) as proxy,
    ):
        faulty = dict(ctx.env, TARGET_S3_ENDPOINT_URL=proxy.url)
        first = run_cli([MELTANO, *DEMO_RUN], faulty)
        problems = state_ahead(ctx)
        rerun = ctx.run()
        tally = compare(ctx)
        tally.state_checked, tally.state_ok = 1, int(not problems)
        tally.notes.append(f"{len(proxy.failed)} S3 requests failed; faulted run exit {first.rc}")
        if first.rc != 0:
            tally.notes.append(last_error_line(first)[:140])
        tally.notes += problems
        if rerun.rc != 0:
            tally.notes.append(f"rerun exit {rerun.rc}: {last_error_line(rerun)[:140]}")
        return tally


def _puts_rule(fail: Callable[[int], bool], status: int, code: str) -> Callable[[], t.Any]:
    """A rule failing the n-th PUT (uploads, copies, parts) when `fail(n)`."""

    def factory() -> t.Any:
        puts = [0]

        def rule(
            method: str, path: str, headers: t.Mapping[str, str], count: int
        ) -> tuple[int, str] | None:
            if method != "PUT" or ("?" not in path and path.count("/") < 2):
                return None  # bucket-level requests pass
            puts[0] += 1
            return (status, code) if fail(puts[0]) else None

        return rule

    return factory


def api_scenarios(page_size: int) -> list[tuple[str, Callable[[Env], Tally]]]:
    """(row name, trial) of every API fault."""
    ps = {"TAP_ERP_PAGE_SIZE": str(page_size)}
    mutate = {
        "after": 4,
        "change": {
            "updated_orders": 40,
            "new_orders": 5,
            "updated_lines": 60,
            "updated_customers": 5,
        },
    }

    def ties_then_change(ctx: Ctx) -> None:
        # A new tie group of changed rows (one timestamp) for the rerun to page through.
        ctx.erp.advance("acme", seconds=60, updated_orders=60, updated_lines=120, new_orders=3)

    def revoke(erp: SandboxServer) -> None:
        with contextlib.suppress(Exception):
            erp.revoke_tokens("globex")

    globex = {"TAP_ERP_REQUEST_TIMEOUT_SECONDS": "10", **ps}
    return [
        (
            "429 + Retry-After (every 9th)",
            lambda e: faulted_run(e, {"rate_limit": {"every": 9, "retry_after": 1}}, settings=ps),
        ),
        (
            "5xx bursts (3 after every 5)",
            lambda e: faulted_run(
                e, {"errors": {"every": 5, "burst": 3, "statuses": [500, 502, 503]}}, settings=ps
            ),
        ),
        (
            "connection reset mid-body (every 6th)",
            lambda e: faulted_run(e, {"drop": {"every": 6}}, settings=ps),
        ),
        (
            "page slower than timeout (2 s > 1 s)",
            lambda e: faulted_run(
                e,
                {"slow": {"every": 7, "seconds": 2.0}},
                settings={"TAP_ERP_REQUEST_TIMEOUT_SECONDS": "1", **ps},
            ),
        ),
        (
            "malformed JSON page (every 7th)",
            lambda e: faulted_run(e, {"malformed": {"every": 7}}, settings=ps),
        ),
        (
            "token expiry (ttl 1 s) + revoke, oauth2",
            lambda e: faulted_run(
                e,
                {"token_ttl_seconds": 1, "slow": {"every": 4, "seconds": 0.4}},
                tenant="globex",
                settings=globex,
                during=revoke,
                during_after=5.0,
            ),
        ),
        (
            "rows inserted/updated while paging",
            lambda e: faulted_run(e, {"mutate_after_requests": mutate}, settings=ps),
        ),
        (
            "rows changed while cursor paging, oauth2",
            lambda e: faulted_run(
                e, {"mutate_after_requests": mutate}, tenant="globex", settings=globex
            ),
        ),
        (
            "tie groups across pages (page 7) + new tie",
            lambda e: faulted_run(
                e, {}, settings={"TAP_ERP_PAGE_SIZE": "7"}, after_first=ties_then_change
            ),
        ),
    ]


def s3_scenarios() -> list[tuple[str, Callable[[Env], Tally]]]:
    return [
        (
            "S3 5xx on every 3rd PUT/COPY (retried)",
            lambda e: s3_trial(e, _puts_rule(lambda n: n % 3 == 0, 503, "SlowDown"), "5"),
        ),
        (
            "S3 outage mid-run (PUT/COPY 500) + rerun",
            lambda e: s3_trial(e, _puts_rule(lambda n: n > 6, 500, "InternalError"), "2"),
        ),
    ]


# --- bad input -------------------------------------------------------------------------


@dataclass
class BadInput:
    case: str
    rc: int | None
    line: str
    traceback: bool
    secret: bool
    ok: bool
    note: str = ""


SECRETS_OF_RUN = ("acme-key-123", "globex-secret", "wrong-key-9f3", "reliability-aws-secret")


def _judge(case: str, run: Run, pattern: str, note: str = "") -> BadInput:
    line = last_error_line(run, pattern)
    traceback = "Traceback" in run.output
    secret = any(s in run.output for s in SECRETS_OF_RUN)
    ok = run.rc not in (0, None) and bool(line) and not traceback and not secret
    return BadInput(case, run.rc, line or last_error_line(run), traceback, secret, ok, note)


def bad_inputs(env: Env) -> list[BadInput]:
    results: list[BadInput] = []
    aws = {"AWS_SECRET_ACCESS_KEY": "reliability-aws-secret"}
    with env.sandbox() as erp, new_ctx(erp, env.s3, **aws) as ctx:
        runs: list[tuple[str, dict[str, str], str]] = [
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
                {
                    "TAP_ERP_BASE_URL": f"http://127.0.0.1:{free_port()}/acme",
                    "TAP_ERP_MAX_RETRIES": "1",
                },
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
        profiles = Path(tempfile.mkdtemp(prefix="bad-profiles-"))
        runs += [
            (case, {"TAP_ERP_PROFILE": str(broken_profile(profiles, case, edit))}, pattern)
            for case, edit, pattern in BROKEN_PROFILES
        ]
        for case, extra, pattern in runs:
            run = run_cli([MELTANO, *DEMO_RUN], dict(ctx.env, **extra), timeout=120)
            result = _judge(case, run, pattern)
            if "404" in case and "retry" in run.output:
                result.ok, result.note = False, "a 404 was retried"
            results.append(result)
        landed = [k for k in ctx.lake().keys("") if "/_audit/" not in k]
        if landed:
            results.append(
                BadInput("(bad inputs landed data)", 0, ", ".join(landed[:3]), False, False, False)
            )
    with env.sandbox() as erp, new_ctx(erp, env.s3, "globex") as ctx:
        wrong = dict(ctx.env, TAP_ERP_CLIENT_SECRET="wrong-key-9f3")
        run = run_cli([MELTANO, *DEMO_RUN], wrong, timeout=120)
        results.append(
            _judge("wrong OAuth2 client secret", run, r"401|invalid_client|credential|rejected")
        )
    results.append(denied_write(env))
    results.append(schema_violation(env))
    return results


SANDBOX_PROFILE = ROOT / "tap-erp" / "tap_erp" / "profiles" / "erp_sandbox.yaml"

#: (case, edit of the sandbox profile, pattern of the one line that must name it)
BROKEN_PROFILES: list[tuple[str, Callable[[dict], None], str]] = [
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


def broken_profile(folder: Path, case: str, edit: Callable[[dict], None]) -> Path:
    """The sandbox profile with one edit, as a file of one's own."""
    import yaml

    profile = yaml.safe_load(SANDBOX_PROFILE.read_text())
    profile["schemas_dir"] = str(SANDBOX_PROFILE.parent.parent / "schemas" / "erp_sandbox")
    edit(profile)
    path = folder / (re.sub(r"\W+", "_", case).strip("_") + ".yaml")
    path.write_text(yaml.safe_dump(profile))
    return path


def denied_write(env: Env) -> BadInput:
    port = int(env.s3.endpoint_url.rsplit(":", 1)[1])
    factory = _puts_rule(lambda n: True, 403, "AccessDenied")
    with env.sandbox() as erp, new_ctx(erp, env.s3, TARGET_S3_S3_MAX_ATTEMPTS="1") as ctx:
        with fault_proxy(port, factory()) as proxy:
            run = run_cli(
                [MELTANO, *DEMO_RUN], dict(ctx.env, TARGET_S3_ENDPOINT_URL=proxy.url), timeout=120
            )
        landed = sum(1 for k in ctx.lake().keys("") if k.endswith(".parquet"))
        result = _judge("denied write (403 AccessDenied)", run, r"AccessDenied|denied|403")
        result.note = f"{landed} data files landed"
        result.ok = result.ok and landed == 0 and not ctx.state()
        return result


def schema_violation(env: Env) -> BadInput:
    """A string in an integer column, straight into target-s3."""
    with env.sandbox() as erp, new_ctx(erp, env.s3) as ctx:
        config = ctx.s3.target_config(
            bucket=ctx.bucket,
            prefix=ctx.prefix,
            client_id="acme",
            aws_secret_access_key="reliability-aws-secret",
        )
        path = ctx.workdir / "target.json"
        path.write_text(json.dumps(config))
        schema = {
            "type": "SCHEMA",
            "stream": "sales_orders",
            "key_properties": ["order_id"],
            "schema": {
                "type": "object",
                "properties": {
                    "order_id": {"type": "integer"},
                    "updated_at": {"type": "string", "format": "date-time"},
                },
            },
        }
        good = [
            {
                "type": "RECORD",
                "stream": "sales_orders",
                "record": {"order_id": i, "updated_at": "2025-01-01T00:00:00Z"},
            }
            for i in range(1, 4)
        ]
        bad = {
            "type": "RECORD",
            "stream": "sales_orders",
            "record": {"order_id": "four", "updated_at": "2025-01-01T00:00:00Z"},
        }
        state = {"type": "STATE", "value": {"bookmarks": {"sales_orders": {"n": 4}}}}
        lines = [schema, *good, bad, state]
        stdin = "".join(json.dumps(m) + "\n" for m in lines).encode()
        run = run_cli([str(TARGET_EXE), "--config", str(path)], ctx.env, stdin=stdin, timeout=60)
        landed = sum(1 for k in ctx.lake().keys("") if k.endswith(".parquet"))
        result = _judge(
            "schema violation ('four' in integer order_id)", run, r"order_id|integer|four"
        )
        state_out = '"STATE"' in run.stdout or "bookmarks" in run.stdout
        result.note = f"{landed} data files landed, state emitted: {state_out}"
        result.ok = result.ok and landed == 0 and not state_out
        return result


# --- security --------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def security(env: Env) -> list[Check]:
    checks: list[Check] = []
    secrets = {
        "api key": CREDENTIALS["acme"]["api_key"],
        "bearer token": "bearer-SECRET-7c1e0f",
        "password": "password-SECRET-52ab",
        "client secret": "client-SECRET-e93d",
        "s3 secret key": "s3-SECRET-1b7f44",
    }
    started = time.time()
    with (
        env.sandbox() as erp,
        new_ctx(
            erp,
            env.s3,
            TAP_ERP_AUTH_METHOD="api_key",
            TAP_ERP_BEARER_TOKEN=secrets["bearer token"],
            TAP_ERP_USERNAME="someone",
            TAP_ERP_PASSWORD=secrets["password"],
            TAP_ERP_CLIENT_SECRET=secrets["client secret"],
            AWS_SECRET_ACCESS_KEY=secrets["s3 secret key"],
            TARGET_S3_AWS_ACCESS_KEY_ID="local",
            TARGET_S3_AWS_SECRET_ACCESS_KEY=secrets["s3 secret key"],
        ) as ctx,
    ):
        run = ctx.meltano("--log-level=debug", *DEMO_RUN)
        state = ctx.meltano("--environment=demo", "state", "get", STATE_ID, timeout=120)
        places: dict[str, bytes] = {
            "run stdout": run.stdout.encode(),
            "run stderr": run.stderr.encode(),
            "meltano state": state.output.encode(),
        }
        for logs in (Path(ctx.env["XDG_STATE_HOME"]), Path(ctx.env["MELTANO_SYS_DIR_ROOT"])):
            for path in logs.rglob("*.log") if logs.exists() else ():
                if path.stat().st_mtime >= started:
                    places[f"log {path}"] = path.read_bytes()
        client = ctx.s3.client()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=ctx.bucket):
            for item in page.get("Contents", []):
                body = client.get_object(Bucket=ctx.bucket, Key=item["Key"])["Body"].read()
                places[f"s3 {item['Key']}"] = body + parquet_metadata(body)
        leaks = [
            f"{what} in {where}"
            for where, blob in places.items()
            for what, s in secrets.items()
            if s.encode() in blob
        ]
        objects = sum(1 for p in places if p.startswith("s3 "))
        checks.append(
            Check("normal run with 5 secrets set succeeds", run.rc == 0, f"exit {run.rc}")
        )
        checks.append(
            Check(
                "no secret in stdout/stderr/logs/state/S3 objects",
                not leaks and run.rc == 0,
                "; ".join(leaks)
                or f"searched {len(places)} places ({objects} objects, debug log level)",
            )
        )
    about = subprocess.run(
        [str(TAP_EXE), "--about", "--format=json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    default = json.loads(about.stdout)["settings"]["properties"]["verify_tls"].get("default")
    checks.append(
        Check("verify_tls defaults to true (tap --about)", default is True, f"default={default!r}")
    )
    checks += injection(env)
    return checks


def parquet_metadata(body: bytes) -> bytes:
    """Key/value metadata and schema of a Parquet file, as text (empty otherwise)."""
    if not body.startswith(b"PAR1"):
        return b""
    import io

    import pyarrow.parquet as pq

    meta = pq.ParquetFile(io.BytesIO(body)).metadata
    text = str(meta.metadata) + str(meta.schema)
    return text.encode()


ALLOWED_PARAMS = {
    "offset",
    "limit",
    "modified_since",
    "modified_before",
    "cursor",
    "page",
    "page_size",
}


def injection(env: Env) -> list[Check]:
    """Hostile values in start_date reach the ERP encoded or are rejected."""
    checks = []
    hostile = [
        "2024-01-01T00:00:00Z&foo=1",
        "2024-01-01T00:00:00+02:00#limit=1",
        "2024-01-01T00:00:00Z limit=1&offset=5",
    ]
    with env.sandbox() as erp:
        for value in hostile:
            with fault_proxy(erp.port) as proxy, tempfile.TemporaryDirectory() as tmp:
                config = {
                    "base_url": f"{proxy.url}/acme",
                    "api_key": CREDENTIALS["acme"]["api_key"],
                    "page_size": 50,
                    "start_date": value,
                    "max_retries": 0,
                }
                path = Path(tmp) / "tap.json"
                path.write_text(json.dumps(config))
                run = run_cli([str(TAP_EXE), "--config", str(path)], dict(os.environ), timeout=120)
                params: set[str] = set()
                for _, target in proxy.requests:
                    params |= set(
                        urllib.parse.parse_qs(
                            urllib.parse.urlsplit(target).query, keep_blank_values=True
                        )
                    )
                injected = params - ALLOWED_PARAMS
                rejected = run.rc not in (0, None) and "Traceback" not in run.output
                ok = not injected and (rejected or run.rc == 0)
                message = last_error_line(run, r"start_date") or last_error_line(run)
                how = (
                    f"rejected: {message[:120]}"
                    if run.rc
                    else f"sent encoded ({len(proxy.requests)} requests, params {sorted(params)})"
                )
                checks.append(
                    Check(
                        f"start_date {value!r} cannot inject",
                        ok,
                        how + (f"; injected {sorted(injected)}" if injected else ""),
                    )
                )
    return checks


# --- the matrix ------------------------------------------------------------------------


@dataclass
class Report:
    rows: list[tuple[str, Tally]]
    bad: list[BadInput]
    checks: list[Check]
    seconds: float

    @property
    def passed(self) -> bool:
        return (
            all(t.passed for _, t in self.rows)
            and all(b.ok for b in self.bad)
            and all(c.ok for c in self.checks)
        )


def run_matrix(
    *,
    soak: bool = False,
    seed: int = 7,
    trials: int | None = None,
    jobs: int = 2,
    api_trials: int | None = None,
    only: str = "",
    log: Callable[[str], None] = lambda s: None,
) -> Report:
    """Run every scenario; `trials` = kill -9 trials (half tap, half target).

    `only`: a regular expression; just the rows whose name matches it (with
    "bad input" and "security" standing for those tables).
    """

    def wanted(name: str) -> bool:
        return not only or re.search(only, name, re.IGNORECASE) is not None

    started = time.monotonic()
    kills = trials if trials is not None else (50 if soak else 20)
    api_n = api_trials if api_trials is not None else (3 if soak else 1)
    rng = random.Random(seed)
    with contextlib.ExitStack() as stack:
        s3 = stack.enter_context(local_s3())
        pool: queue.Queue[SandboxServer] = queue.Queue()
        for _ in range(max(1, jobs)):
            pool.put(stack.enter_context(sandbox_server(orders=ORDERS, seed=seed)))
        env = Env(pool, s3, seed)
        executor = stack.enter_context(ThreadPoolExecutor(max_workers=max(1, jobs)))

        baseline, lifetimes, controls = calibrate(env)
        log(f"baseline done, plugin lifetimes {lifetimes}")
        rows: dict[str, Tally] = {"none (baseline, slowed)": baseline}
        futures: list[tuple[str, t.Any]] = []
        page_sizes = [PAGE_SIZE, 37, 23, 61, 45]
        for i in range(api_n):
            for name, trial in api_scenarios(page_sizes[i % len(page_sizes)]):
                if wanted(name):
                    futures.append((name, executor.submit(trial, env)))
        for name, trial in s3_scenarios():
            for _ in range(api_n if wanted(name) else 0):
                futures.append((name, executor.submit(trial, env)))
        for i in range(kills):
            victim = "tap-erp" if i % 2 == 0 else "target-s3"
            if not wanted(f"kill -9 {victim}"):
                continue
            life = lifetimes.get(victim) or 3.0
            delay = rng.uniform(0.02, 0.95) * life
            futures.append(
                (
                    f"kill -9 {victim} (random point)",
                    executor.submit(kill_trial, env, victim, delay),
                )
            )
        bad_future = executor.submit(bad_inputs, env) if wanted("bad input") else None
        sec_future = executor.submit(security, env) if wanted("security") else None
        for name, future in futures:
            try:
                tally = future.result()
            except Exception as exc:  # a scenario that crashed counts as failed, loudly
                tally = Tally(
                    trials=1, lost=1, notes=[f"scenario error: {type(exc).__name__}: {exc}"]
                )
            rows.setdefault(name, Tally()).add(tally)
            log(f"{name}: lost={tally.lost} dup={tally.duplicated} notes={tally.notes[:2]}")
        bad = bad_future.result() if bad_future else []
        checks = controls + (sec_future.result() if sec_future else [])
    return Report(list(rows.items()), bad, checks, time.monotonic() - started)


def format_report(report: Report) -> str:
    out = []
    head = (
        "fault",
        "trials",
        "expected",
        "landed",
        "lost",
        "duplicated",
        "extra versions",
        "state-ok",
    )
    table = [head]
    for name, tl in report.rows:
        state = "yes" if tl.state_ok == tl.state_checked else f"NO {tl.state_ok}/{tl.state_checked}"
        table.append(
            (
                name,
                tl.trials,
                tl.expected,
                tl.landed,
                tl.lost,
                tl.duplicated,
                tl.extra_versions,
                state,
            )
        )
    out.append(_markdown(table))
    notes = [(name, n) for name, tl in report.rows for n in dict.fromkeys(tl.notes)]
    if notes:
        out.append("\nNotes:")
        out += [f"- {name}: {n}" for name, n in notes]
    out.append("\nBad input:")
    bad = [("case", "exit", "message", "ok")]
    bad += [
        (b.case, b.rc, b.line[:150] + (f" [{b.note}]" if b.note else ""), "yes" if b.ok else "NO")
        for b in report.bad
    ]
    out.append(_markdown(bad))
    out.append("\nSecurity and controls:")
    out.append(
        _markdown(
            [("check", "ok", "detail")]
            + [(c.name, "yes" if c.ok else "NO", c.detail[:160]) for c in report.checks]
        )
    )
    out.append(f"\n{'PASSED' if report.passed else 'FAILED'} in {report.seconds:.0f} s")
    return "\n".join(out)


def _markdown(rows: list[tuple]) -> str:
    cells = [[str(c).replace("|", "\\|") for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--soak", action="store_true", help="long run: 50 kill trials, 3 per API fault"
    )
    parser.add_argument(
        "--seed", type=int, default=7, help="seed of the kill points and the sandbox data"
    )
    parser.add_argument("--trials", type=int, help="kill -9 trials (default 20, --soak 50)")
    parser.add_argument(
        "--jobs", type=int, default=2, help="scenarios run in parallel (one sandbox each)"
    )
    parser.add_argument(
        "--only", default="", help="regex: only matching rows ('bad input', 'security' too)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print each trial as it ends")
    args = parser.parse_args(argv)
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if args.verbose else (lambda s: None)
    report = run_matrix(
        soak=args.soak,
        seed=args.seed,
        trials=args.trials,
        jobs=args.jobs,
        only=args.only,
        log=log,
    )
    print(format_report(report))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
