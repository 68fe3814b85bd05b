"""The package's shape: modules import each other one way only, and stay small."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import target_s3

PACKAGE = Path(target_s3.__file__).resolve().parent
MODULES = sorted(f"target_s3.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem != "__init__")
MAX_LINES = 400


def package_imports(module: str) -> set[str]:
    """Modules of the package that `module` imports anywhere (also for type checking)."""
    tree = ast.parse((PACKAGE / f"{module.split('.', 1)[1]}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("target_s3."))
        elif isinstance(node, ast.ImportFrom):
            base = "target_s3" if node.level else node.module or ""
            if node.level and node.module:
                base = f"target_s3.{node.module}"
            if base == "target_s3":
                found.update(f"target_s3.{a.name}" for a in node.names)
            elif base.startswith("target_s3."):
                found.add(base)
    return found & set(MODULES)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of the graph as a path, or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for child in sorted(graph[node]):
            cycle = visit(child, [*path, node])
            if cycle:
                return cycle
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start, [])
        if cycle:
            return cycle
    return None


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycle_between_the_loaders_modules():
    graph = {module: package_imports(module) for module in MODULES}
    assert graph["target_s3.target"] >= {"target_s3.sinks", "target_s3.settings"}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


@pytest.mark.parametrize("module", MODULES)
def test_every_module_imports(module):
    assert importlib.import_module(module).__doc__


def test_no_module_is_longer_than_the_limit():
    lengths = {p.name: len(p.read_text().splitlines()) for p in PACKAGE.glob("*.py")}
    assert {name: n for name, n in lengths.items() if n > MAX_LINES} == {}


def test_memory_pool_is_chosen_when_the_target_starts_not_at_import():
    script = textwrap.dedent(
        """
        import pyarrow as pa
        default = pa.default_memory_pool().backend_name
        import target_s3.target
        imported = pa.default_memory_pool().backend_name
        target_s3.target.TargetS3(config={"bucket": "b", "client_id": "c"})
        print(default, imported, pa.default_memory_pool().backend_name)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    default, imported, started = result.stdout.split()[-3:]
    assert default != "system"
    assert imported == default, "importing the target must not change the memory pool"
    assert started == "system"


def test_a_parquet_only_loader_never_loads_deltalake():
    """deltalake costs every process ~25 MB; only `table_format: delta` imports it."""
    script = textwrap.dedent(
        """
        import sys
        import target_s3.target
        target_s3.target.TargetS3(config={"bucket": "b", "client_id": "c"})
        print("deltalake" in sys.modules)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-1] == "False"
