"""How the repository's code finds each other: packages, never `sys.path` edits."""

from __future__ import annotations

import re
import subprocess

from erp_testing.project import ROOT

# Built from parts so that this file does not match itself.
SYS_PATH_EDIT = re.compile(r"\bsys\.path\s*\.\s*(" + "insert|append|extend" + r")\b")


def python_files() -> list[str]:
    """Every Python file of the checkout (tracked or new), ignored ones left out."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return [name for name in listed if (ROOT / name).is_file()]


def test_the_pattern_finds_an_edit():
    assert SYS_PATH_EDIT.search("sys.path." + "insert(0, str(ROOT))")
    assert SYS_PATH_EDIT.search("sys.path." + "append(here)")
    assert not SYS_PATH_EDIT.search("print(sys.path)")


def test_no_module_edits_sys_path():
    files = python_files()
    assert len(files) > 50
    offenders = [
        f"{name}:{number}"
        for name in files
        for number, line in enumerate((ROOT / name).read_text().splitlines(), 1)
        if SYS_PATH_EDIT.search(line)
    ]
    assert not offenders, f"import shared helpers from a package instead: {offenders}"
