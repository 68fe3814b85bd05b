"""What the benchmark ran on: cores, memory, load, Python and package versions."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAIN_PACKAGES = ("meltano", "dlt", "pyarrow", "orjson", "requests", "boto3", "moto")
PLUGIN_PYTHONS = {
    "tap-erp": ROOT / ".meltano/extractors/tap-erp/venv/bin/python",
    "target-s3": ROOT / ".meltano/loaders/target-s3/venv/bin/python",
}
PLUGIN_PACKAGES = ("singer-sdk", "pyarrow", "msgspec")


def mem_total_gib() -> float:
    """MemTotal from /proc/meminfo, in GiB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 2**20
    return 0.0


def versions(python: Path | None, packages: tuple[str, ...]) -> str:
    """`name version` of installed packages, in this interpreter or another one."""
    if python is None:
        found = []
        for name in packages:
            try:
                found.append(f"{name} {importlib.metadata.version(name)}")
            except importlib.metadata.PackageNotFoundError:
                continue
        return ", ".join(found)
    code = (
        "import importlib.metadata as m\n"
        f"for n in {packages!r}:\n"
        "    try: print(n, m.version(n))\n"
        "    except m.PackageNotFoundError: pass\n"
    )
    try:
        out = subprocess.run(
            [str(python), "-c", code], capture_output=True, text=True, timeout=60, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return "not installed"
    return ", ".join(out.stdout.split("\n")[:-1])


def describe_machine() -> str:
    """A few lines for the report."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"machine: {os.cpu_count()} cores, {mem_total_gib():.1f} GiB, load {load}, "
        f"Python {platform.python_version()} ({platform.system()} {platform.release()})",
        f"project venv: {versions(None, MAIN_PACKAGES)}",
    ]
    for plugin, python in PLUGIN_PYTHONS.items():
        if python.exists():
            lines.append(f"{plugin} venv: {versions(python, PLUGIN_PACKAGES)}")
    return "\n".join(lines)
