"""The matrix's report: a pytest plugin that prints the table at the end of the run.

Each trial's test puts its counts in its report's `user_properties` (they travel from
xdist workers to the main process); this plugin sums them per row and prints the
fault table, the one line each refused input showed, and the checks.
"""

from __future__ import annotations

import dataclasses
import typing as t

import pytest

from reliability.lake import Tally
from reliability.scenarios import SCENARIOS

ROW = "matrix_row"  # user property: (row name, Tally fields, error line)
CHECK = "matrix_check"  # user property: (name, ok, detail)


def record_row(node: pytest.Item, name: str, tally: Tally, line: str = "") -> None:
    node.user_properties.append((ROW, (name, dataclasses.asdict(tally), line)))


def record_check(node: pytest.Item, name: str, ok: bool, detail: str) -> None:
    node.user_properties.append((CHECK, (name, ok, detail)))


class MatrixReport:
    def __init__(self) -> None:
        self.rows: dict[str, Tally] = {}
        self.lines: dict[str, str] = {}
        self.checks: list[tuple[str, bool, str]] = []

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for key, value in report.user_properties:
            if key == ROW and report.when == "call":
                name, fields, line = value
                self.rows.setdefault(name, Tally()).add(Tally(**fields))
                if line:
                    self.lines[name] = line
            elif key == CHECK and report.when == "call":
                self.checks.append(tuple(value))  # type: ignore[arg-type]

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: t.Any) -> None:
        if not (self.rows or self.checks):
            return
        order = {s.name: i for i, s in enumerate(SCENARIOS)}
        rows = dict(sorted(self.rows.items(), key=lambda item: order.get(item[0], len(order))))
        write = terminalreporter.write_line
        terminalreporter.section("fault matrix")
        for text in format_report(rows, self.lines, self.checks):
            write(text)


def verdict(tally: Tally) -> str:
    return "pass" if tally.passed else "FAIL"


def format_report(
    rows: dict[str, Tally], lines: dict[str, str], checks: list[tuple[str, bool, str]]
) -> list[str]:
    head = ("scenario", "trials", "expected", "landed", "lost", "duplicated")
    head += ("quarantined", "older versions", "state ahead", "silent", "verdict")
    table = [head]
    for name, tl in rows.items():
        counts = (tl.trials, tl.expected, tl.landed, tl.lost, tl.duplicated, tl.quarantined)
        table.append((name, *counts, tl.extra_versions, tl.state_ahead, tl.silent, verdict(tl)))
    out = [*markdown(table)]
    if lines:
        out += ["", "The one line each refused (or warned) run showed:"]
        out += markdown([("scenario", "line")] + [(n, line[:150]) for n, line in lines.items()])
    notes = [(name, n) for name, tl in rows.items() for n in dict.fromkeys(tl.notes)]
    if notes:
        out += ["", "Notes:"] + [f"- {name}: {n}" for name, n in notes]
    if checks:
        out += ["", "Security and controls:"]
        out += markdown(
            [("check", "ok", "detail")]
            + [(c, "yes" if ok else "NO", detail[:160]) for c, ok, detail in checks]
        )
    failed = [n for n, tl in rows.items() if not tl.passed] + [c for c, ok, _ in checks if not ok]
    out += ["", f"{len(rows)} rows, {len(checks)} checks: " + ("FAILED" if failed else "PASSED")]
    return out


def markdown(rows: list[tuple]) -> list[str]:
    cells = [[str(c).replace("|", "\\|") for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return lines
