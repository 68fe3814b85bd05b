"""When a STATE message may be emitted: the rule behind exactly-once landing.

STATE messages are numbered in input order (1, 2, ...). Every buffered record and
every batch knows how many STATEs had arrived before its first and its last record.

**Rule.** STATE number k may be emitted only when

1. no stream buffer and no batch still being converted or uploaded holds a record
   that arrived before STATE k (everything STATE k covers is durable), and
2. no published batch that is not yet committed holds records from both before and
   after STATE k (so rolling back uncommitted batches after a failure never removes
   a record that an emitted STATE covers).

Of the STATEs that may go out, only the newest is emitted; older pending ones are
dropped, since it supersedes them. Emitting it first commits (deletes the journals
of) every published batch whose records all arrived before it, then writes the line.
A STATE equal to the last one emitted is not written again.
"""

from __future__ import annotations

import copy
import typing as t


class StateGate:
    """Holds received STATE messages until the rule lets the newest one out."""

    def __init__(self) -> None:
        """No STATE received yet."""
        self.seq = 0  # STATE messages received so far
        self._pending: list[tuple[int, dict]] = []
        self._last_emitted: dict | None = None

    @property
    def emitted_any(self) -> bool:
        """Whether any STATE has been emitted."""
        return self._last_emitted is not None

    @property
    def holding(self) -> bool:
        """Whether any received STATE is still held back."""
        return bool(self._pending)

    def received(self, value: dict) -> int:
        """Hold one STATE message's value; returns its number."""
        self.seq += 1
        self._pending.append((self.seq, value))
        return self.seq

    def ready(
        self, oldest_held: int | None, straddles: t.Callable[[int], bool]
    ) -> tuple[int, dict] | None:
        """The newest held STATE the rule lets out now, as (number, value).

        ``oldest_held``: the fewest STATEs seen before the first record of any buffer
        or in-flight batch (None when nothing is held); ``straddles(k)``: whether an
        uncommitted batch holds records from both sides of STATE k.
        """
        for seq, value in reversed(self._pending):
            if (oldest_held is None or seq <= oldest_held) and not straddles(seq):
                return seq, value
        return None

    def emitted(self, seq: int, value: dict) -> bool:
        """Forget STATEs up to ``seq``; True if ``value`` differs from the last one out."""
        self._pending = [(s, v) for s, v in self._pending if s > seq]
        if value == self._last_emitted:
            return False
        self._last_emitted = copy.deepcopy(value)
        return True
