"""What a row of the fault matrix expects of its trials.

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

from dataclasses import dataclass, field

from reliability.faults import Fault


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
