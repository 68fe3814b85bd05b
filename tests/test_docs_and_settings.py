"""The documentation and meltano.yml agree with what the plugins really accept."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import yaml
from erp_testing.project import BIN, ROOT
from tap_erp.settings import CONFIG_SCHEMA, DEFAULTS

# SDK built-ins that the project does not expose through meltano.yml.
SDK_BUILTINS = {
    "faker_config",
    "flattening_max_key_length",
    "flattening_separator",
}


def plugin_settings(kind: str, name: str) -> set[str]:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    (plugin,) = [p for p in project["plugins"][kind] if p["name"] == name]
    return {s["name"] for s in plugin["settings"]}


def about_settings(executable: str) -> set[str]:
    out = subprocess.run(
        [str(BIN / executable), "--about", "--format=json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return set(json.loads(out)["settings"]["properties"])


def profile_settings() -> set[str]:
    """Settings the shipped ERP profiles declare for themselves (`{config.<name>}`)."""
    from tap_erp.profiles import available_profiles, load_profile

    return {name for p in available_profiles() for name in load_profile(p).settings}


@pytest.mark.parametrize(("kind", "name"), [("extractors", "tap-erp"), ("loaders", "target-s3")])
def test_meltano_yml_declares_exactly_the_plugin_settings(kind, name):
    declared = plugin_settings(kind, name)
    accepted = about_settings(name) - SDK_BUILTINS
    if name == "tap-erp":
        accepted |= profile_settings()
    assert declared == accepted


def test_readme_about_sections_are_current():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "update_about.py"), "--check"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"run scripts/update_about.py: {result.stdout}"


def test_env_example_lists_every_variable_the_client_environments_use():
    example = (ROOT / ".env.example").read_text()
    defined = {line.split("=", 1)[0].lstrip("# ") for line in example.splitlines() if "=" in line}
    for path in (ROOT / "clients").glob("*.meltano.yml"):
        text = path.read_text()
        used = {word[1:] for word in text.split() if word.startswith("$") and word[1:].isupper()}
        used = {u.split("/")[0] for u in used} - {"MELTANO_PROJECT_ROOT"}
        assert used <= defined, f"{path.name} uses {sorted(used - defined)}"


def test_numeric_settings_from_environment_variables_reach_the_tap(project):
    """Environment variables are text; Meltano passes them and the tap reads numbers."""
    project.env.update(
        {
            "TAP_ERP_BACKOFF_BASE_SECONDS": "0.05",
            "TAP_ERP_BACKOFF_MAX_SECONDS": "0.5",
            "TAP_ERP_RATE_LIMIT_PER_SECOND": "500",
            "TAP_ERP_RATE_LIMIT_PER_MINUTE": "60000.5",
        }
    )
    listed = project.run("--environment=demo", "config", "list", "tap-erp")
    assert "TAP_ERP_BACKOFF_BASE_SECONDS" in listed.stdout
    catalog = project.run("--environment=demo", "invoke", "tap-erp", "--discover")
    assert '"sales_order_lines"' in catalog.stdout


def test_a_wrong_choice_is_one_line_that_lists_the_choices(project):
    project.env["TAP_ERP_PAGINATION_STYLE"] = "sideways"
    result = project.run("--environment=demo", "invoke", "tap-erp", "--discover", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output
    assert "pagination_style" in output
    assert "cursor" in output


def client_environments() -> list[str]:
    names = []
    for path in sorted((ROOT / "clients").glob("*.meltano.yml")):
        names += [e["name"] for e in yaml.safe_load(path.read_text())["environments"]]
    return [n for n in names if n != "demo"]  # demo needs no .env


def test_the_env_file_alone_configures_every_client(tmp_path):
    """The README's recipe: `cp .env.example .env`, nothing exported, then run a client."""
    import shutil

    shutil.copy(ROOT / "meltano.yml", tmp_path / "meltano.yml")
    shutil.copytree(ROOT / "clients", tmp_path / "clients")
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
    }
    for client in client_environments():
        for plugin, names in (
            ("target-s3", ("bucket", "prefix", "client_id", "endpoint_url")),
            ("erp-quality", ("bucket", "prefix", "client_id", "endpoint_url")),
            ("tap-erp", ("base_url",)),
        ):
            out = subprocess.run(
                [str(BIN / "meltano"), f"--environment={client}", "config", "print", plugin],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            config = json.loads(out[out.index("{") :])
            missing = [n for n in names if not config.get(n)]
            assert not missing, f"{client}: {plugin} gets no {missing} from .env"


# --- tap-erp: every setting and default declared once (tap_erp.settings) -------------

TAP_SETTINGS = CONFIG_SCHEMA["properties"]
TAP_README = ROOT / "tap-erp" / "README.md"
TAP_ABOUT_HEADING = "## `tap-erp --about --format=markdown`"
#: Keys a setting entry of meltano.yml may have (an unquoted comma in a flow mapping
#: splits a description into a stray key).
ENTRY_KEYS = {"name", "kind", "value", "description", "sensitive", "label"}


def extractor() -> dict:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    (plugin,) = [p for p in project["plugins"]["extractors"] if p["name"] == "tap-erp"]
    return plugin


def meltano_kind(prop: dict) -> str:
    """The Meltano kind a declared type is passed as: numbers go as text (Meltano has
    no number kind; the tap reads the number), date-times as ISO dates."""
    kind = next(k for k in prop["type"] if k != "null")
    if prop.get("format") == "date-time":
        return "date_iso8601"
    return "string" if kind == "number" else kind


def rendered(value: object, *, table: bool = False) -> str:
    """A default as the README writes it: prose `true`, `0.5`; the --about table `True`."""
    if isinstance(value, bool) and not table:
        return str(value).lower()
    return str(value)


def test_meltano_yml_setting_entries_of_the_tap_are_well_formed():
    for entry in extractor()["settings"]:
        assert set(entry) <= ENTRY_KEYS, f"{entry['name']}: unexpected {set(entry) - ENTRY_KEYS}"
        assert isinstance(entry.get("description"), str), entry["name"]


def test_meltano_yml_lists_every_declared_tap_setting_with_its_default():
    listed = {entry["name"]: entry for entry in extractor()["settings"]}
    assert not TAP_SETTINGS.keys() - listed.keys(), "declared settings missing from meltano.yml"
    for name, prop in TAP_SETTINGS.items():
        entry = listed[name]
        assert entry.get("kind") == meltano_kind(prop), name
        assert bool(entry.get("sensitive")) == bool(prop.get("secret")), name
        if "value" in entry:  # a default stated in meltano.yml must be the declared one
            assert entry["value"] == prop.get("default"), name


def test_meltano_yml_tap_config_keeps_the_declared_defaults():
    """Project-wide config may state a declared default, never contradict it (a client's
    environment overrides settings; a new default belongs in the declaration)."""
    config = extractor().get("config") or {}
    stated = {name: value for name, value in config.items() if name in DEFAULTS}
    for name, value in stated.items():
        assert value == DEFAULTS[name], f"{name}: {value!r}, declared {DEFAULTS[name]!r}"


def test_tap_readme_table_names_every_setting_with_its_declared_default():
    readme = TAP_README.read_text()
    table = readme[readme.index(TAP_ABOUT_HEADING) :]
    for name, prop in TAP_SETTINGS.items():
        row = re.search(rf"^\| {re.escape(name)} \| (?:True|False) \| ([^|]*) \|", table, re.M)
        assert row, f"{name} missing from the README's settings table"
        assert row[1].strip() == rendered(prop.get("default"), table=True), name


def test_defaults_the_tap_readme_names_are_the_declared_ones():
    prose = TAP_README.read_text().split(TAP_ABOUT_HEADING)[0]
    named = re.findall(r"`([a-z0-9_]+)`\s+\(default\s+`([^`]*)`", prose)
    assert len(named) >= 4
    for name, value in named:
        assert name in TAP_SETTINGS, name
        assert value == rendered(DEFAULTS[name]), name
    loose = re.findall(r"`([a-z0-9_]+)`\s+\(default(?!\s+`)", prose)
    assert not [n for n in loose if n in TAP_SETTINGS], f"write (default `value`): {loose}"
