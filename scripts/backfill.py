"""Re-extract one stream of one client, leaving every other stream's bookmark alone.

    .venv/bin/python scripts/backfill.py --environment acme --stream products
    .venv/bin/python scripts/backfill.py --environment acme --stream products --from 2024-01-01
    make backfill ENV=acme STREAM=products [FROM=2024-01-01]

Reads the environment's state (`meltano state get`), drops the stream's bookmark
(the next run reads it from `start_date`) or sets it to the given date, writes the
state back (`meltano state set --force`), then runs `meltano run tap-erp target-s3`
(`--no-run`: only change the state). The other streams resume where they were. Use
it after mapping a custom field: rows landed before lack the new column.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import typing as t

from erp_testing.project import MELTANO, ROOT, STREAMS, state_id


class BackfillError(Exception):
    """A user-facing failure: printed as one line."""


def parse_from(text: str) -> str:
    """`--from` as the tap writes bookmarks: UTC, microseconds, `Z`."""
    try:
        instant = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        msg = f"--from {text!r} is not an ISO 8601 date or date-time (e.g. 2024-01-01)"
        raise BackfillError(msg) from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.UTC)
    return instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def meltano(environment: str, *args: str) -> str:
    """Run a Meltano command in the project; its stdout, or one line on failure."""
    result = subprocess.run(
        [MELTANO, f"--environment={environment}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit code {result.returncode}"
        msg = f"`meltano {' '.join(args[:2])}` failed: {last.strip()}"
        raise BackfillError(msg)
    return result.stdout


def rewound(state: dict[str, t.Any], stream: str, since: str | None) -> tuple[dict, str]:
    """The state with `stream`'s bookmark dropped or set to `since`, and what changed."""
    singer = state.setdefault("singer_state", {})
    bookmarks = singer.setdefault("bookmarks", {})
    bookmark = bookmarks.get(stream)
    key = bookmark.get("replication_key") if isinstance(bookmark, dict) else None
    partitions = bookmark.get("partitions") if isinstance(bookmark, dict) else None
    if since is None or not (key or partitions):
        bookmarks.pop(stream, None)
        note = "" if since is None else f" (it has no bookmark to set to {since})"
        return state, f"'{stream}': bookmark dropped, re-extracted from start_date{note}"
    targets = [p for p in partitions or [] if isinstance(p, dict)] or [bookmark]
    for target in targets:
        target["replication_key_value"] = since
        target.pop("bookmark_keys", None)
    return state, f"'{stream}': bookmark set to {since}, re-extracted from there"


def backfill(environment: str, stream: str, since: str | None, run: bool) -> int:
    """Change one stream's bookmark, then run the pipeline of the environment."""
    sid = state_id(environment)
    text = meltano(environment, "state", "get", sid).strip()
    state = json.loads(text[text.index("{") :]) if "{" in text else {}
    if not isinstance(state, dict):
        msg = f"state {sid} is not a JSON object; see `meltano state get {sid}`"
        raise BackfillError(msg)
    known = set(STREAMS) | set(state.get("singer_state", {}).get("bookmarks", {}))
    if stream not in known:
        msg = f"--stream {stream!r} is not a stream of {environment}; use one of {sorted(known)}"
        raise BackfillError(msg)
    state, what = rewound(state, stream, since)
    meltano(environment, "state", "set", "--force", sid, json.dumps(state))
    print(f"{environment}: {what}; the other streams keep their bookmarks")
    if not run:
        return 0
    command = [MELTANO, f"--environment={environment}", "run", "tap-erp", "target-s3"]
    return subprocess.run(command, cwd=ROOT, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--environment", required=True, help="the client's environment")
    parser.add_argument("--stream", required=True, help="the stream to re-extract")
    parser.add_argument("--from", dest="since", help="only rows changed since (ISO 8601)")
    parser.add_argument("--no-run", action="store_true", help="only change the state")
    args = parser.parse_args(argv)
    try:
        since = parse_from(args.since) if args.since else None
        return backfill(args.environment, args.stream, since, run=not args.no_run)
    except BackfillError as exc:
        print(f"backfill: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
