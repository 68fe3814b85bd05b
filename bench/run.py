"""Throughput and memory of every way to land ERP order lines as Parquet on S3.

    .venv/bin/python bench/run.py [--records 1000000] [--rounds 3] [--only meltano,dlt]
    .venv/bin/python bench/run.py --quick          # 50,000 records, 1 round

Starts the sandbox ERP (tenant acme) and a local S3 server on 127.0.0.1, then runs
the contenders round by round (round 1: all of them, round 2: all, …), each as its
own process tree. Per run: wall time → records/s, the peak RSS of every process in
the tree, and a check that exactly the sandbox's number of lines was extracted or
landed. Prints a table (medians, ratios to `baseline`) and the acceptance figures.
See bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from contenders import CONTENDERS as PARQUET_CONTENDERS
from contenders import Bench, BenchError, RunResult, prepare
from delta_contender import meltano_delta
from erp_sandbox.testing import SandboxServer, sandbox_server
from machine import describe_machine
from target_s3.testing import LocalS3, local_s3

# `delta` changes lines in the ERP, so it runs last in each round.
CONTENDERS = {**PARQUET_CONTENDERS, "delta": meltano_delta}
LABELS = {"delta": "meltano (delta)"}
LINES_PER_ORDER = 3.5
GOALS = {"meltano/baseline": 0.5, "meltano/dlt": 3.0, "max RSS MB": 300.0}


@dataclass
class Tally:
    """All rounds of one contender."""

    name: str
    rates: list[float] = field(default_factory=list)
    peak_mb: dict[str, float] = field(default_factory=dict)
    types: str = ""

    def add(self, result: RunResult, records: int) -> None:
        """Remember one round."""
        self.rates.append(records / result.seconds)
        for proc, mb in result.peak_mb.items():
            self.peak_mb[proc] = max(self.peak_mb.get(proc, 0.0), mb)
        self.types = result.types or self.types

    @property
    def median(self) -> float:
        """Median records/s."""
        return statistics.median(self.rates)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="sales order lines")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="", help=f"comma list of {','.join(CONTENDERS)}")
    parser.add_argument("--quick", action="store_true", help="50,000 records, 1 round")
    parser.add_argument("--page-size", type=int, default=5000)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    if args.quick:
        args.records, args.rounds = 50_000, 1
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(CONTENDERS)
    unknown = sorted(set(names) - set(CONTENDERS))
    if unknown:
        parser.error(f"unknown contenders {unknown}; known: {', '.join(CONTENDERS)}")
    if args.records < 1 or args.rounds < 1:
        parser.error("--records and --rounds must be >= 1")
    args.names = names
    return args


@contextlib.contextmanager
def sandbox_with_lines(records: int) -> Iterator[tuple[SandboxServer, int]]:
    """A sandbox serving at least `records` sales order lines, and its exact count."""
    orders = math.ceil(records / LINES_PER_ORDER)
    for _ in range(3):
        # Rendered pages of every line stay cached (~0.5 KB a line): the benchmark
        # measures its contenders, not the sandbox rendering pages again.
        cache_mb = max(512, records * 2 // 1000)
        with sandbox_server(
            orders=orders, tenants=["acme"], startup_timeout=900, cache_mb=cache_mb
        ) as sb:
            lines = int(sb.stats("acme")["counts"]["sales_order_lines"])
            if lines >= records:
                yield sb, lines
                return
        orders = math.ceil(orders * records / lines) + 1
    msg = f"the sandbox never served {records:,} lines"
    raise BenchError(msg)


def run_rounds(bench: Bench, names: list[str], rounds: int) -> dict[str, Tally]:
    """Alternate the contenders round by round; fail on the first wrong row count."""
    tallies = {name: Tally(name) for name in names}
    for index in range(1, rounds + 1):
        for name in names:
            result = CONTENDERS[name](bench, index)
            tallies[name].add(result, bench.expected)
            print(progress_line(index, name, result, bench.expected), flush=True)
            if result.note:
                print(f"    {name}: {result.note}", flush=True)
    return tallies


def progress_line(index: int, name: str, result: RunResult, records: int) -> str:
    """One line per run."""
    procs = ", ".join(f"{p} {mb:,.0f}" for p, mb in sorted(result.peak_mb.items()))
    cpu = ", ".join(
        f"{p} {s:,.1f}" for p, s in sorted(result.cpu_seconds.items(), key=lambda i: -i[1])
    )
    label = LABELS.get(name, name)
    return (
        f"  round {index} {label:<9} {result.seconds:7.2f} s {records / result.seconds:10,.0f} "
        f"rec/s  rows OK  peak RSS MB: {procs}  CPU s: {cpu}"
    )


def fmt_rss(peaks: dict[str, float]) -> str:
    """Peak RSS per process, largest first."""
    return ", ".join(f"{p} {mb:,.0f}" for p, mb in sorted(peaks.items(), key=lambda i: -i[1]))


def table(tallies: dict[str, Tally]) -> list[str]:
    """The results table in Markdown."""
    base = tallies.get("baseline")
    lines = [
        "| contender | records/s (median) | min | max | ratio to baseline "
        "| peak RSS MB per process | money / timestamp types |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for t in tallies.values():
        ratio = f"{t.median / base.median:.2f}" if base else "-"
        label = LABELS.get(t.name, t.name)
        lines.append(
            f"| {label} | {t.median:,.0f} | {min(t.rates):,.0f} | {max(t.rates):,.0f} "
            f"| {ratio} | {fmt_rss(t.peak_mb)} | {t.types or '-'} |"
        )
    return lines


def acceptance(tallies: dict[str, Tally]) -> list[str]:
    """The issue's acceptance figures, PASS/FAIL (or n/a when a contender was not run)."""
    melt, base, dlt = (tallies.get(n) for n in ("meltano", "baseline", "dlt"))
    figures: list[tuple[str, float | None, Callable[[float], bool], str]] = [
        (
            "meltano/baseline",
            melt.median / base.median if melt and base else None,
            lambda v: v >= GOALS["meltano/baseline"],
            "≥ 0.5",
        ),
        (
            "meltano/dlt",
            melt.median / dlt.median if melt and dlt else None,
            lambda v: v >= GOALS["meltano/dlt"],
            "≥ 3",
        ),
        (
            "max RSS of one process of `meltano run` (MB)",
            max(melt.peak_mb.values()) if melt else None,
            lambda v: v < GOALS["max RSS MB"],
            "< 300",
        ),
    ]
    out = []
    for label, value, ok, goal in figures:
        if value is None:
            out.append(f"- {label}: n/a (contender not run), goal {goal}")
        else:
            out.append(f"- {label}: {value:,.2f}, goal {goal}: {'PASS' if ok(value) else 'FAIL'}")
    return out


def report(tallies: dict[str, Tally], args: argparse.Namespace, expected: int) -> None:
    """Print the table and the acceptance figures."""
    print(
        f"\n{expected:,} sales order lines, page size {args.page_size}, "
        f"{args.rounds} round(s), contenders alternating per round\n"
    )
    print("\n".join(table(tallies)))
    print("\nAcceptance (issue goals; medians):")
    print("\n".join(acceptance(tallies)))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 1 if a contender fails or lands the wrong row count."""
    args = parse_args(argv)
    print(describe_machine(), flush=True)
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(work_dir(args.keep)))
        sb, expected = stack.enter_context(sandbox_with_lines(args.records))
        s3: LocalS3 = stack.enter_context(local_s3(bucket="bench"))
        print(f"sandbox {sb.url}: {expected:,} lines; S3 {s3.endpoint_url}; work {work}")
        bench = Bench(sb, s3, "bench", work, expected, args.page_size)
        try:
            prepare(bench, args.names)
            tallies = run_rounds(bench, args.names, args.rounds)
        except BenchError as exc:
            print(f"\nFAILED: {exc}", file=sys.stderr)
            return 1
    report(tallies, args, expected)
    print(f"\n(total {time.monotonic() - started:,.0f} s)")
    return 0


@contextlib.contextmanager
def work_dir(keep: bool) -> Iterator[str]:
    """A scratch directory in memory (/dev/shm) when available."""
    base = "/dev/shm" if Path("/dev/shm").is_dir() else None
    if keep:
        yield tempfile.mkdtemp(prefix="erp-elt-bench-", dir=base)
        return
    with tempfile.TemporaryDirectory(prefix="erp-elt-bench-", dir=base) as path:
        yield path


if __name__ == "__main__":
    raise SystemExit(main())
