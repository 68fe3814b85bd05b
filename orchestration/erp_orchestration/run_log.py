"""What a run's output says: target-s3's run id and summary, the one-line error, the tail."""

from __future__ import annotations

import re
from dataclasses import dataclass

SUMMARY = re.compile(
    r"Summary (?P<run_id>\S+): stream=(?P<stream>\S+) rows=(?P<rows>\d+) "
    r"(?:rejected=\d+ )?files=(?P<files>\d+) bytes=(?P<bytes>\d+)"
)
#: A line as Meltano logs it: `<time> [<level>  ] <name>  <message>`.
LOG_LINE = re.compile(r"^\S+ \[(?P<level>\w+)\s*\] (?P<name>\S+)\s+(?P<message>.*)$")
PLUGINS = ("tap-erp", "target-s3", "erp-quality")
TAIL_LINES = 40
MAX_ERROR_CHARS = 300
#: Plugin lines that never explain a failure.
NOISE = ("METRIC:", "Summary ", "Skipping parse of env var settings")


@dataclass(frozen=True)
class StreamLoad:
    """What one stream landed in one run (target-s3's run audit)."""

    stream: str
    rows: int
    files: int
    bytes: int


def target_run_id(log: str) -> str | None:
    """The run id target-s3 logged in its summary (the audit records' run_id)."""
    found = SUMMARY.findall(log)
    return found[-1][0] if found else None


def loads_from_log(log: str) -> dict[str, StreamLoad]:
    """target-s3's summary lines of the last run id in the log, by stream."""
    run_id = target_run_id(log)
    out = {}
    for m in SUMMARY.finditer(log):
        if m["run_id"] == run_id:
            out[m["stream"]] = StreamLoad(
                m["stream"], int(m["rows"]), int(m["files"]), int(m["bytes"])
            )
    return dict(sorted(out.items()))


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def error_line(log: str, returncode: int) -> str:
    """The one line that says why the run failed.

    A plugin's own error line if it logged one at error level; otherwise the last line
    a plugin wrote before Meltano's first error (tap-erp and target-s3 end with one
    line naming the problem); otherwise Meltano's error; otherwise the exit status.
    """
    lines = [m for m in map(LOG_LINE.match, log.splitlines()) if m]
    first_meltano_error = next(
        (i for i, m in enumerate(lines) if m["name"] == "meltano" and m["level"] == "error"),
        len(lines),
    )
    before = lines[:first_meltano_error]
    for m in reversed(before):
        if m["name"] in PLUGINS and m["level"] in ("error", "critical") and m["message"].strip():
            return _one_line(m["message"])
    for m in reversed(before):
        if m["name"] in PLUGINS and m["message"].strip() and not m["message"].startswith(NOISE):
            return _one_line(f"{m['name']}: {m['message']}")
    if first_meltano_error < len(lines):
        return _one_line(lines[first_meltano_error]["message"])
    return f"meltano exited with status {returncode}"


def tail(log: str, lines: int = TAIL_LINES) -> str:
    """The last lines of the log."""
    return "\n".join(log.rstrip("\n").splitlines()[-lines:])
