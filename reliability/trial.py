"""One trial: the faulted run, its judging, the repair, an ordinary rerun, the lake."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from erp_testing.processes import Run, error_line

from reliability.expect import Expect, Scenario
from reliability.lake import Tally
from reliability.workspace import SECRETS, Lab


@dataclass
class Outcome:
    """What one trial saw: its counts, the faulted run and the error line it showed."""

    tally: Tally
    first: Run
    line: str


def judge_first(expect: Expect, run: Run, injected: bool) -> tuple[Tally, str]:
    """Exit code, the one line, tracebacks and secrets of the faulted run."""
    tally = Tally(trials=1)
    line = error_line(run, expect.line) if expect.line else error_line(run)
    if run.rc is None:
        tally.unclear += 1
        tally.notes.append(f"faulted run still running after {run.seconds:.0f} s")
    elif expect.first == "fails" and run.rc == 0 and injected:
        tally.silent += 1
        tally.notes.append("faulted run exited 0")
    elif expect.first == "ok" and run.rc != 0:
        tally.notes.append(f"faulted run exit {run.rc} where it had to succeed: {line[:140]}")
        tally.failed_runs += 1
    elif run.rc != 0 and expect.first == "any":
        tally.notes.append(f"faulted run exit {run.rc}: {line[:140]}")
    if expect.says:
        said = [x for x in run.output.splitlines() if re.search(expect.says, x)]
        line = said[0] if said else ""
        if len(said) != 1:
            tally.unclear += 1
            tally.notes.append(f"{expect.says!r} said {len(said)} times, not once")
    shown = [s for s in SECRETS if s in run.output]
    if shown:
        tally.unclear += 1
        tally.notes.append(f"{len(shown)} secret(s) shown in the output")
    if expect.never and re.search(expect.never, run.output):
        tally.unclear += 1
        tally.notes.append(f"the output says {expect.never!r}")
    if expect.line and (run.rc in (0, None) or not line or "Traceback" in run.output):
        tally.unclear += 1
        tally.notes.append(
            f"not one clear line matching {expect.line!r}"
            + (" (traceback)" if "Traceback" in run.output else "")
        )
    return tally, line


def trial(scenario: Scenario, index: int, lab: Lab) -> Outcome:
    """Run scenario `scenario`'s trial number `index` (its random draws seeded by both)."""
    rng = random.Random(f"{lab.seed}:{scenario.name}:{index}")
    fault, expect = scenario.fault, scenario.expect
    with fault.workspace(lab, index) as ws:
        fault.prepare(ws)
        first = fault.inject(ws, rng)
        injected = fault.injected(first)
        tally, line = judge_first(expect, first, injected)
        if not injected:
            tally.notes.append(f"no fault happened (run exit {first.rc})")
        problems = fault.state_problems(ws, expect.lands, first)
        tally.state_ahead += int(bool(problems))
        tally.notes += problems
        if not expect.lands:
            files = ws.data_files()
            tally.phantom += len(files)
            if files:
                tally.notes.append(f"landed although it failed: {', '.join(files[:3])}")
        if expect.rerun:
            fault.repair(ws)
            rerun = ws.run()
            if rerun.rc != 0:
                tally.failed_runs += 1
                tally.notes.append(f"rerun exit {rerun.rc}: {error_line(rerun)[:140]}")
            tally.add(ws.compare())
        elif expect.first == "ok":  # no rerun: the faulted run alone must land everything
            tally.add(ws.compare())
        if tally.quarantined != expect.quarantined:
            tally.unclear += 1
            tally.notes.append(f"{tally.quarantined} rows quarantined, not {expect.quarantined}")
    tally.notes = [re.sub(r"\s+", " ", n) for n in tally.notes]
    return Outcome(tally, first, line)
