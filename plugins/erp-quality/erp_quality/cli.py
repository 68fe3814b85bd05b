"""`erp-quality`: data-quality checks and the run audit of a client's lake."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from erp_quality import audit, checks, table
from erp_quality.lake import Lake, LakeConfig, LakeError
from erp_quality.rules import Rules, RulesError

LATEST = "_quality/latest.json"


def _default_rules() -> Path:
    if os.environ.get("ERP_QUALITY_RULES"):
        return Path(os.environ["ERP_QUALITY_RULES"])
    root = Path(os.environ.get("MELTANO_PROJECT_ROOT", "."))
    return root / "transforms" / "quality.yml"


def _print_audit(lake: Lake) -> str | None:
    run_id, records = audit.last_run(audit.audit_records(lake))
    if not records:
        print("run audit: no load recorded yet")
        return None
    print(f"run audit: client {lake.config.client_id}, run {run_id}")
    rows = [[r.get(c) for c in audit.AUDIT_COLUMNS] for r in records]
    print(table.render(audit.AUDIT_COLUMNS, rows))
    return run_id


def _previous_rows(lake: Lake) -> dict[str, int]:
    if not lake.exists(LATEST):
        return {}
    report = lake.read_json(f"{lake.config.root}/{LATEST}")
    streams = report.get("streams", {}) if isinstance(report, dict) else {}
    return {name: int(m.get("rows", 0)) for name, m in streams.items()}


def cmd_check(lake: Lake, rules_path: Path, fail_on: str) -> int:
    """Print the audit, run the checks, store the report, exit by the worst finding."""
    rules = Rules.load(rules_path)
    run_id = _print_audit(lake) or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    metrics, findings = checks.run_checks(lake, rules, _previous_rows(lake))
    print(f"\ndata quality: client {lake.config.client_id}")
    print(
        table.render(
            ("stream", "rows", "keys", "duplicates"),
            [(m.stream, m.rows, m.distinct_keys, m.duplicate_versions) for m in metrics],
        )
    )
    flagged = [f for f in findings if f.level != checks.OK]
    for f in flagged:
        print(f"{f.level.upper()}: {f.stream}: {f.check}: {f.detail}")
    report = checks.as_report(run_id, metrics, findings)
    report["checked_at"] = datetime.now(UTC).isoformat()
    key = lake.write_json(f"_quality/{run_id}.json", report)
    lake.write_json(LATEST, report)
    print(
        f"quality {report['status']}: {len(flagged)} finding(s); report s3://{lake.config.bucket}/{key}"
    )
    levels = {"error": {checks.ERROR}, "warning": {checks.ERROR, checks.WARNING}, "never": set()}
    return 1 if any(f.level in levels[fail_on] for f in findings) else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="erp-quality", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="audit of the last load, then the quality checks")
    check.add_argument(
        "--rules", type=Path, default=None, help="rules file (transforms/quality.yml)"
    )
    check.add_argument("--fail-on", choices=["error", "warning", "never"], default="error")
    sub.add_parser("audit", help="the audit of the last load")
    args = parser.parse_args(argv)
    try:
        lake = Lake(LakeConfig.from_env())
        if args.command == "audit":
            _print_audit(lake)
            return 0
        return cmd_check(lake, args.rules or _default_rules(), args.fail_on)
    except (LakeError, RulesError) as exc:
        print(f"erp-quality: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
