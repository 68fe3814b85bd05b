"""Refresh the `--about --format=markdown` section at the end of each plugin's README.

Run after changing settings: `.venv/bin/python scripts/update_about.py`.
`--check` exits non-zero when a README is out of date (the test suite uses it).
"""

from __future__ import annotations

import subprocess
import sys

from erp_testing.project import BIN, ROOT

# README, executable, heading that starts the generated section
SECTIONS = (
    ("tap-erp/README.md", "tap-erp", "## `tap-erp --about --format=markdown`"),
    ("plugins/target-s3/README.md", "target-s3", "## `target-s3 --about --format=markdown`"),
)


def about(executable: str) -> str:
    """The plugin's about text with its headings one level down."""
    out = subprocess.run(
        [str(BIN / executable), "--about", "--format=markdown"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    lines = out.strip().splitlines()[1:]  # its own title is the section heading
    return "\n".join(f"#{line}" if line.startswith("#") else line for line in lines)


def refreshed(text: str, heading: str, body: str) -> str:
    """The README with everything after `heading` replaced by `body`."""
    if heading not in text:
        msg = f"heading {heading!r} not found"
        raise SystemExit(msg)
    return text[: text.index(heading)] + f"{heading}\n{body}\n"


def main(check: bool) -> int:
    """Rewrite (or check) every README."""
    stale = []
    for readme, executable, heading in SECTIONS:
        path = ROOT / readme
        text = path.read_text()
        new = refreshed(text, heading, about(executable))
        if new != text:
            stale.append(readme)
            if not check:
                path.write_text(new)
    verb = "out of date" if check else "refreshed"
    for readme in stale:
        print(f"{readme}: {verb}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(check="--check" in sys.argv[1:]))
