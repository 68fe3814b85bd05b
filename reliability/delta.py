"""kill -9 of target-s3 while it commits to a current-state Delta table.

The loader gets 120 keys in two versions each, some deleted at the end of their
life, with a STATE every 40 records; it is killed at a seeded point, then fed again
from its last STATE (what an orchestrator does). The current table must equal each
key's last event: nothing lost, no key twice, and what the last STATE covered is in.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from erp_testing.processes import After, Run, run_cli

from reliability.faults import TARGET_EXE, Fault
from reliability.lake import Tally
from reliability.workspace import Lab

ROWS = 120  # keys
VERSIONS = 2  # versions per key, in increasing updated_at
STATE_EVERY = 40
KILL_AFTER_STATES = 4  # of the 5 a whole load emits (after commits of 60 records)
Current = tuple[int | None, datetime]  # amount, updated_at

SCHEMA = {
    "type": "SCHEMA",
    "stream": "orders",
    "key_properties": ["id"],
    "bookmark_properties": ["updated_at"],
    "schema": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "amount": {"type": ["null", "integer"]},
            "updated_at": {"type": "string", "format": "date-time"},
            "_sdc_deleted_at": {"type": ["null", "string"], "format": "date-time"},
        },
    },
}


def events() -> list[dict]:
    """Order rows in versions, some keys deleted at the end of their life."""
    rng = random.Random(7)
    out = []
    for version in range(VERSIONS):
        for key in range(1, ROWS + 1):
            stamp = f"2024-01-0{version + 1}T{key % 24:02d}:00:00+00:00"
            out.append({"id": key, "amount": rng.randint(1, 10**6), "updated_at": stamp})
    for key in range(1, ROWS + 1, 13):
        gone = "2024-01-09T00:00:00+00:00"
        out.append({"id": key, "amount": None, "updated_at": gone, "_sdc_deleted_at": gone})
    return out


EVENTS = events()


def singer(start: int) -> bytes:
    """SCHEMA, then EVENTS[start:] with STATE {"pos": n} after every STATE_EVERY-th."""
    lines: list[dict] = [SCHEMA]
    for n in range(start, len(EVENTS)):
        lines.append({"type": "RECORD", "stream": "orders", "record": EVENTS[n]})
        if (n + 1) % STATE_EVERY == 0 or n + 1 == len(EVENTS):
            lines.append({"type": "STATE", "value": {"pos": n + 1}})
    return "".join(json.dumps(m) + "\n" for m in lines).encode()


def after(pos: int) -> dict[int, dict | None]:
    """Each key's last event among the first `pos` (None: deleted)."""
    out: dict[int, dict | None] = {}
    for event in EVENTS[:pos]:
        out[event["id"]] = None if event.get("_sdc_deleted_at") else event
    return out


def as_row(event: dict) -> Current:
    return (event["amount"], datetime.fromisoformat(event["updated_at"]))


FINAL = {k: as_row(v) for k, v in after(len(EVENTS)).items() if v}


@dataclass
class DeltaWorkspace:
    """A bucket and a loader config; `pos` is where the last STATE said the input was."""

    lab: Lab
    bucket: str
    config: Path
    env: dict[str, str]
    pos: int = 0
    killed_at: int | None = None  # `pos` when the loader was killed

    def run(self, **kw: object) -> Run:
        """The loader fed from the last STATE on (kw: kill options)."""
        run = run_cli(
            [str(TARGET_EXE), "--config", str(self.config)],
            self.env,
            stdin=singer(self.pos),
            timeout=120,
            **kw,  # type: ignore[arg-type]
        )
        # A target writes each STATE's value as a line of its own: {"pos": n}.
        states = [json.loads(line)["pos"] for line in run.stdout.splitlines() if '"pos"' in line]
        self.pos = states[-1] if states else self.pos
        return run

    def current(self) -> tuple[dict[int, Current], int]:
        """The current table (key -> amount, updated_at) and how many rows it has."""
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        s3 = self.lab.s3
        options = {
            "AWS_ENDPOINT_URL": s3.endpoint_url,
            "AWS_ACCESS_KEY_ID": s3.access_key_id,
            "AWS_SECRET_ACCESS_KEY": s3.secret_access_key,
            "AWS_REGION": s3.region,
            "AWS_ALLOW_HTTP": "true",
        }
        uri = f"s3://{self.bucket}/lake/acme/_current/orders"
        try:
            table = DeltaTable(uri, storage_options=options)
        except TableNotFoundError:
            return {}, 0
        rows = table.to_pyarrow_table(columns=["id", "amount", "updated_at"]).to_pylist()
        return {r["id"]: (r["amount"], r["updated_at"]) for r in rows}, len(rows)

    def state(self) -> dict | None:
        return {"pos": self.pos} if self.pos else None

    def state_ahead(self) -> list[str]:
        """Keys whose event the last STATE covers but the table does not show."""
        table, _ = self.current()
        behind = []
        for key, event in after(self.pos).items():
            if event is None:
                wrong = key in table
            elif key not in table:
                wrong = key in FINAL  # a later delete may already be committed
            else:
                wrong = table[key][1] < as_row(event)[1]
            if wrong:
                behind.append(key)
        return [f"STATE at {self.pos} covers {len(behind)} keys not in the table"] if behind else []

    def compare(self) -> Tally:
        table, rows = self.current()
        lost = [k for k, row in FINAL.items() if table.get(k) != row]
        phantom = table.keys() - FINAL.keys()
        tally = Tally(
            expected=len(FINAL),
            landed=len(FINAL) - len(lost),
            lost=len(lost),
            duplicated=rows - len(table),
            phantom=len(phantom),
        )
        if lost:
            tally.notes.append(f"orders: {len(lost)} keys not at their last version {lost[:3]}")
        if phantom:
            tally.notes.append(f"orders: deleted keys present {sorted(phantom)[:3]}")
        if self.killed_at is not None:
            tally.notes.append(f"killed after STATE {self.killed_at}")
        return tally


@dataclass(frozen=True)
class DeltaKill(Fault):
    """kill -9 of the loader up to a second after its k-th STATE (k seeded, from 0:
    during start-up, to 3): while it commits the next batch."""

    @contextlib.contextmanager
    def workspace(self, lab: Lab, index: int = 0) -> Iterator[DeltaWorkspace]:
        bucket = lab.s3.create_bucket(f"delta-{uuid.uuid4().hex[:12]}")
        with tempfile.TemporaryDirectory(prefix="delta-kill-") as tmp:
            config = Path(tmp) / "target.json"
            settings = lab.s3.target_config(
                bucket=bucket, table_format="delta", batch_max_rows=60, run_lease_seconds=10
            )
            config.write_text(json.dumps(settings))
            yield DeltaWorkspace(lab, bucket, config, env=dict(os.environ))

    def inject(self, ws: DeltaWorkspace, rng: random.Random) -> Run:  # type: ignore[override]
        states = rng.randrange(KILL_AFTER_STATES)
        point = After('"pos"', states) if states else None
        run = ws.run(victim="target-s3", delay=rng.uniform(0.0, 1.0), after=point)
        ws.killed_at = ws.pos if run.killed else None
        return run

    def injected(self, run: Run) -> bool:
        return run.killed is not None

    def repair(self, ws: DeltaWorkspace) -> None:  # type: ignore[override]
        """Nothing to repair: the rerun starts from the last STATE."""
