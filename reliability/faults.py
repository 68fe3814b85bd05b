"""The kinds of fault a trial injects into its first run, and how each is repaired
before the ordinary rerun. A scenario names one of these with its parameters."""

from __future__ import annotations

import contextlib
import json
import random
import re
import threading
import typing as t
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from erp_sandbox.testing import SandboxServer
from erp_testing.processes import Run, run_cli
from target_s3.fault_proxy import fault_proxy

from reliability import workspace as ws_
from reliability.workspace import Lab, Workspace

PAGE_SIZES = (50, 37, 23, 61, 45)  # of the repetitions of an API fault
SLOWED = {"slow": {"every": 3, "seconds": 0.2}}  # makes a run last a few seconds
SANDBOX_PROFILE = ws_.ROOT / "tap-erp" / "tap_erp" / "profiles" / "erp_sandbox.yaml"
TARGET_EXE = ws_.ROOT / ".meltano" / "loaders" / "target-s3" / "venv" / "bin" / "target-s3"


@dataclass(frozen=True)
class Fault:
    """A clean run: the base of every fault (and the baseline row)."""

    tenant: str = "acme"
    settings: dict[str, str] = field(default_factory=dict)

    @contextlib.contextmanager
    def workspace(self, lab: Lab, index: int = 0) -> Iterator[t.Any]:
        """A fresh workspace for trial number `index`."""
        with ws_.workspace(lab, self.tenant, **self.trial_settings(index)) as ws:
            yield ws

    def trial_settings(self, index: int) -> dict[str, str]:
        return dict(self.settings)

    def prepare(self, ws: Workspace) -> None:
        """Before the faulted run."""

    def inject(self, ws: Workspace, rng: random.Random) -> Run:
        """The faulted run."""
        return ws.run()

    def injected(self, run: Run) -> bool:
        """Whether the fault happened during `run` (a kill may come too late)."""
        return True

    def repair(self, ws: Workspace) -> None:
        """Between the faulted run and the ordinary rerun: the fault goes away."""
        ws.erp.set_faults(self.tenant, {})

    def state_problems(self, ws: t.Any, lands: bool, first: Run) -> list[str]:
        """What is wrong with the state saved by the faulted run."""
        if lands:
            return ws.state_ahead()
        saved = ((ws.state() or {}).get("singer_state") or {}).get("bookmarks") or {}
        # the columns a stream lands (kept beside its bookmark) are not a position
        positions = {
            stream: entry
            for stream, entry in saved.items()
            if not (isinstance(entry, dict) and set(entry) <= {"columns"})
        }
        return [f"bookmarks were saved: {positions}"] if positions else []


@dataclass(frozen=True)
class Slowed(Fault):
    """A clean run slowed down by the sandbox, watched: how long each plugin lives."""

    def inject(self, ws: Workspace, rng: random.Random) -> Run:
        ws.erp.set_faults(self.tenant, SLOWED)
        return ws.run(watch=True)


@dataclass(frozen=True)
class ApiFault(Fault):
    """The sandbox misbehaves as `faults` say; `during` runs `during_after` s into the
    run; `then` changes the sandbox before the rerun."""

    faults: dict = field(default_factory=dict)
    during: Callable[[SandboxServer, str], None] | None = None
    during_after: float = 0.0
    then: Callable[[SandboxServer, str], None] | None = None

    def trial_settings(self, index: int) -> dict[str, str]:
        """Each repetition pages differently (unless the scenario sets a page size)."""
        return {"TAP_ERP_PAGE_SIZE": str(PAGE_SIZES[index % len(PAGE_SIZES)]), **self.settings}

    def inject(self, ws: Workspace, rng: random.Random) -> Run:
        ws.erp.set_faults(self.tenant, self.faults)
        timer = None
        if self.during:
            timer = threading.Timer(self.during_after, self.during, args=(ws.erp, self.tenant))
            timer.start()
        try:
            return ws.run()
        finally:
            if timer:
                timer.cancel()

    def repair(self, ws: Workspace) -> None:
        super().repair(ws)
        if self.then:
            self.then(ws.erp, self.tenant)


@dataclass(frozen=True)
class Kill(Fault):
    """`kill -9` of one plugin at a seeded random point of its (slowed) life."""

    victim: str = "tap-erp"

    def inject(self, ws: Workspace, rng: random.Random) -> Run:
        ws.erp.set_faults(self.tenant, SLOWED)
        life = ws.lab.lifetimes.get(self.victim) or 3.0
        return ws.run(victim=self.victim, delay=rng.uniform(0.02, 0.95) * life)

    def injected(self, run: Run) -> bool:
        return run.killed is not None


def failing_puts(fail: Callable[[int], bool], status: int, code: str) -> Callable[[], t.Any]:
    """A fault-proxy rule failing the n-th object PUT (uploads, copies, parts) when
    `fail(n)`; bucket-level requests pass."""

    def factory() -> t.Any:
        puts = [0]

        def rule(method: str, path: str, headers: t.Any, count: int) -> tuple[int, str] | None:
            if method != "PUT" or ("?" not in path and path.count("/") < 2):
                return None
            puts[0] += 1
            return (status, code) if fail(puts[0]) else None

        return rule

    return factory


@dataclass(frozen=True)
class S3Fault(Fault):
    """The loader's S3 requests go through a proxy that fails some of them."""

    rule: Callable[[], t.Any] = lambda: None  # a fault-proxy rule factory (`failing_puts`)
    max_attempts: int = 2

    def inject(self, ws: Workspace, rng: random.Random) -> Run:
        with fault_proxy(ws.lab.s3.port, self.rule()) as proxy:
            return ws.run(
                env={
                    "TARGET_S3_ENDPOINT_URL": proxy.url,
                    "TARGET_S3_S3_MAX_ATTEMPTS": str(self.max_attempts),
                }
            )


@dataclass(frozen=True)
class BadSettings(Fault):
    """A run with wrong settings (given as the plugins' environment variables)."""

    def inject(self, ws: Workspace, rng: random.Random) -> Run:
        return ws.run(timeout=120)


@dataclass(frozen=True)
class BadProfile(Fault):
    """The sandbox profile with one edit, as the tap's profile file."""

    edit: Callable[[dict], None] = lambda profile: None

    def inject(self, ws: Workspace, rng: random.Random) -> Run:
        profile = yaml.safe_load(SANDBOX_PROFILE.read_text())
        profile["schemas_dir"] = str(SANDBOX_PROFILE.parent.parent / "schemas" / "erp_sandbox")
        self.edit(profile)
        path = ws.workdir / "profile.yaml"
        path.write_text(yaml.safe_dump(profile))
        return ws.run(env={"TAP_ERP_PROFILE": str(path)}, timeout=120)


@dataclass(frozen=True)
class HandState(Fault):
    """State set by hand (`meltano state set`) that the tap must refuse; repaired as
    the error line says (`meltano state clear`)."""

    bookmarks: t.Any = None

    def state(self) -> dict:
        return {"singer_state": {"bookmarks": self.bookmarks}}

    def prepare(self, ws: Workspace) -> None:
        got = ws.meltano(*ws_.STATE_ARGS, "set", "--force", ws_.STATE_ID, json.dumps(self.state()))
        if got.rc != 0:
            raise RuntimeError(f"meltano state set failed: {got.output[-500:]}")

    def inject(self, ws: Workspace, rng: random.Random) -> Run:
        return ws.run(timeout=120)

    def repair(self, ws: Workspace) -> None:
        ws.meltano(*ws_.STATE_ARGS, "clear", "--force", ws_.STATE_ID, timeout=120)

    def state_problems(self, ws: t.Any, lands: bool, first: Run) -> list[str]:
        kept = ws.state()
        return [] if kept == self.state() else [f"the state set by hand became {kept}"]


SCHEMA_VIOLATION = [
    {
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
    },
    *(
        {
            "type": "RECORD",
            "stream": "sales_orders",
            "record": {"order_id": i, "updated_at": "2025-01-01T00:00:00Z"},
        }
        for i in (1, 2, 3, "four")
    ),
    {"type": "STATE", "value": {"bookmarks": {"sales_orders": {"n": 4}}}},
]


@dataclass(frozen=True)
class LoaderInput(Fault):
    """Singer messages straight into target-s3 (no STATE may come out)."""

    messages: tuple = tuple(json.dumps(m) for m in SCHEMA_VIOLATION)

    def inject(self, ws: Workspace, rng: random.Random) -> Run:
        config = ws.lab.s3.target_config(
            bucket=ws.bucket,
            prefix=ws_.PREFIX,
            client_id=self.tenant,
            aws_secret_access_key=ws.env["AWS_SECRET_ACCESS_KEY"],
        )
        path = Path(ws.workdir) / "target.json"
        path.write_text(json.dumps(config))
        stdin = "".join(m + "\n" for m in self.messages).encode()
        return run_cli([str(TARGET_EXE), "--config", str(path)], ws.env, stdin=stdin, timeout=60)

    def state_problems(self, ws: t.Any, lands: bool, first: Run) -> list[str]:
        """The loader's own output is its state: no STATE may come out."""
        if re.search(r'"type":\s*"STATE"|bookmarks', first.stdout):
            return ["the loader emitted a STATE"]
        return []


UPDATED_PRODUCTS = 5  # products changed between the clean run and the drifting one


@dataclass(frozen=True)
class Drift(Fault):
    """The ERP's schema drifts (`PUT /_admin/{tenant}/drift`) for the faulted run, after
    a clean run when `clean_first`; `run_env` gives run settings that need the trial's
    folder. Repaired by clearing the drift (the rerun has the usual settings)."""

    drift: dict = field(default_factory=dict)
    clean_first: bool = False
    run_env: Callable[[Path], dict[str, str]] | None = None

    def prepare(self, ws: Workspace) -> None:
        if not self.clean_first:
            return
        clean = ws.run(timeout=180)
        if clean.rc != 0:
            raise RuntimeError(f"the clean run before the drift failed: {clean.output[-500:]}")
        ws.erp.advance(self.tenant, seconds=60, updated_products=UPDATED_PRODUCTS)

    def inject(self, ws: Workspace, rng: random.Random) -> Run:
        ws.erp.set_drift(self.tenant, self.drift)
        return ws.run(env=self.run_env(ws.workdir) if self.run_env else {}, timeout=180)

    def repair(self, ws: Workspace) -> None:
        super().repair(ws)
        ws.erp.set_drift(self.tenant, {})
