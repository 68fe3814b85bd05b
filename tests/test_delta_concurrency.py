"""Two runs merging into the same current-state Delta table at once lose nothing.

Measured with deltalake 1.6.6 on the local S3 server: commits use conditional writes,
so of two merges started from the same table version the second fails with
`CommitFailedError` ("a concurrent transaction added new data"), never silently.
target-s3 then merges that batch again on the new version (jittered, up to
`DELTA_ATTEMPTS` times); if a run still cannot commit it fails with one line and its
last STATE covers only what it committed, so the rerun from that STATE completes it.
Writers overlap on some keys, the second with newer versions: the result must not
depend on which commit lands first.
"""

from __future__ import annotations

import io
import itertools
import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from deltalake import DeltaTable

TARGET = str(Path(sys.executable).with_name("target-s3"))
BATCH = 50  # rows per batch, one commit each
STATE_EVERY = BATCH

# writer, its keys, the minute its versions were changed (later = newer)
WRITERS = [
    ("a", range(1, 401), 1),
    ("b", range(301, 701), 2),  # keys 301..400 also come from a, older there
]

SCHEMA = {
    "type": "SCHEMA",
    "stream": "orders",
    "key_properties": ["id"],
    "bookmark_properties": ["updated_at"],
    "schema": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "writer": {"type": "string"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    },
}


def messages(writer: str, keys: range, minute: int, start: int = 0) -> bytes:
    """SCHEMA, then the writer's records from `start`, a STATE {writer: n} every batch."""
    lines: list[dict] = [SCHEMA]
    for n in range(start, len(keys)):
        stamp = f"2024-01-01T00:{minute:02d}:00+00:00"
        record = {"id": keys[n], "writer": writer, "updated_at": stamp}
        lines.append({"type": "RECORD", "stream": "orders", "record": record})
        if (n + 1) % STATE_EVERY == 0 or n + 1 == len(keys):
            lines.append({"type": "STATE", "value": {writer: n + 1}})
    return "".join(json.dumps(m) + "\n" for m in lines).encode()


def expected_rows(done: dict[str, int]) -> dict[int, str]:
    """Each key's newest writer after each writer's first `done[writer]` records."""
    rows: dict[int, str] = {}
    for writer, keys, _minute in WRITERS:  # in increasing minute: later wins
        for key in keys[: done[writer]]:
            rows[key] = writer
    return rows


FIRST = 2 * BATCH  # records each writer commits before both go on at once


class Loader:
    """One target-s3 process fed in parts; its STATE lines read as they come."""

    def __init__(self, config: Path) -> None:
        self.process = subprocess.Popen(
            [TARGET, "--config", str(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.states: queue.Queue[bytes] = queue.Queue()
        self.stdout: list[bytes] = []
        self.stderr = b""
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        for line in self.process.stdout or ():
            self.stdout.append(line)
            self.states.put(line)

    def _read_stderr(self) -> None:
        self.stderr = (self.process.stderr or io.BytesIO()).read()

    def feed(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def wait_for_state(self) -> None:
        """Until the loader says it committed (a STATE comes only after the commit)."""
        self.states.get(timeout=300)

    def finish(self) -> subprocess.CompletedProcess:
        assert self.process.stdin is not None
        self.process.stdin.close()
        code = self.process.wait(timeout=600)
        time.sleep(0.2)  # the readers take the last lines
        return subprocess.CompletedProcess(
            self.process.args, code, b"".join(self.stdout), self.stderr
        )


def run_together(config: Path) -> dict[str, subprocess.CompletedProcess]:
    """Both writers' loaders at once: each commits its first batches in turn (a, then
    b), then both send the rest at the same time, so their commits interleave."""
    loaders = {writer: Loader(config) for writer, *_ in WRITERS}
    for writer, keys, minute in WRITERS:
        loaders[writer].feed(messages(writer, keys[:FIRST], minute))
        loaders[writer].wait_for_state()
    rest = [
        threading.Thread(
            target=loaders[writer].feed, args=(messages(writer, keys, minute, start=FIRST),)
        )
        for writer, keys, minute in WRITERS
    ]
    for thread in rest:
        thread.start()
    for thread in rest:
        thread.join()
    return {writer: loader.finish() for writer, loader in loaders.items()}


def last_state(result: subprocess.CompletedProcess, writer: str) -> int:
    states = [json.loads(line) for line in result.stdout.decode().splitlines() if line.strip()]
    return states[-1][writer] if states else 0


def table_rows(table: DeltaTable) -> dict[int, str]:
    rows = table.to_pyarrow_table(columns=["id", "writer"]).to_pylist()
    assert len(rows) == len({r["id"] for r in rows}), "a key twice in the current table"
    return {r["id"]: r["writer"] for r in rows}


def commit_runs(table: DeltaTable) -> list[str]:
    """The run id of each merge commit, oldest first."""
    history = reversed(table.history())
    return [c["target_s3.run_id"] for c in history if c.get("target_s3.action") == "merge"]


def test_two_runs_merging_one_table_at_once_lose_nothing(s3, tmp_path):
    bucket = s3.create_bucket("concurrent-merges")
    config = tmp_path / "config.json"
    settings = s3.target_config(bucket=bucket, table_format="delta", batch_max_rows=BATCH)
    config.write_text(json.dumps(settings))
    results = run_together(config)

    table = DeltaTable(
        f"s3://{bucket}/lake/acme/_current/orders",
        storage_options={
            "AWS_ENDPOINT_URL": s3.endpoint_url, "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
        },
    )  # fmt: skip
    runs = commit_runs(table)
    switches = sum(1 for before, after in itertools.pairwise(runs) if before != after)
    assert switches >= 2, f"the two runs did not commit at the same time: {runs}"

    done = {writer: last_state(results[writer], writer) for writer, *_ in WRITERS}
    landed = table_rows(table)
    for writer, keys, _minute in WRITERS:
        result = results[writer]
        errors = result.stderr.decode()
        assert "Traceback" not in errors, writer
        if result.returncode != 0:  # failed cleanly: one line, and only after its retries
            assert errors.count("was changed by another run") == 1, errors[-2000:]
        else:
            assert done[writer] == len(keys), writer
        # nothing its last STATE covers is missing (a newer writer's version may win)
        for key in keys[: done[writer]]:
            assert key in landed, (writer, key)
    for writer, keys, minute in WRITERS:  # the orchestrator resends from the last STATE
        if results[writer].returncode != 0:
            again = subprocess.run(
                [TARGET, "--config", str(config)],
                input=messages(writer, keys, minute, start=done[writer]),
                capture_output=True,
                check=False,
            )
            assert again.returncode == 0, again.stderr.decode()[-2000:]
    table.update_incremental()
    assert table_rows(table) == expected_rows({w: len(k) for w, k, _ in WRITERS})
