"""Every setting is declared once (``target_s3.settings``); all else agrees with it.

Checked against the declaration: the JSON schema the SDK validates and ``--about``
prints, a run's parsed settings, the loader's settings in the project's
``meltano.yml``, the README (its generated settings table and every default its
prose names), and the rest of the package (no default literal repeated).
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest
import target_s3
import yaml
from singer_sdk.about import AboutFormatter
from target_s3.errors import ConfigError
from target_s3.settings import Settings, config_schema, default, info
from target_s3.target import TargetS3

PLUGIN = Path(__file__).resolve().parents[1]
MELTANO_YML = PLUGIN.parents[1] / "meltano.yml"
README = PLUGIN / "README.md"
ABOUT_HEADING = "## `target-s3 --about --format=markdown`"
DECLARED = {item.name: item for item in dataclasses.fields(Settings)}
REQUIRED = {"bucket": "b", "client_id": "c"}


def accepted() -> dict[str, dict]:
    """Every setting the target accepts (the declaration and the SDK's built-ins)."""
    return TargetS3._get_about_info().settings["properties"]


def schema_default(name: str) -> object:
    value = default(DECLARED[name])
    return None if value == {} else value


def rendered(value: object) -> str:
    """A default as the README writes it: `true`, `500000`, `_staging`."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def test_the_sdk_validates_the_declared_schema():
    properties = TargetS3.config_jsonschema["properties"]
    assert TargetS3.config_jsonschema["required"] == [
        name for name, item in DECLARED.items() if info(item).required
    ]
    assert list(config_schema()["properties"]) == list(DECLARED)
    for name, item in DECLARED.items():
        prop = properties[name]
        assert prop.get("default") == schema_default(name), name
        assert prop["description"] == info(item).description
        assert bool(prop.get("secret")) == info(item).secret


def test_a_run_gets_the_declared_defaults():
    settings = Settings.from_config(REQUIRED)
    for name in DECLARED.keys() - REQUIRED.keys():
        assert getattr(settings, name) == default(DECLARED[name]), name
    empty = Settings.from_config({**REQUIRED, **dict.fromkeys(DECLARED.keys() - REQUIRED, "")})
    assert empty == settings


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({"sse": "rot13"}, "setting 'sse' must be empty or one of AES256, aws:kms"),
        ({"compression": "lz4"}, "setting 'compression' must be one of zstd, snappy"),
        ({"run_lease_seconds": 5}, "setting 'run_lease_seconds' must be at least 10"),
        ({"batch_max_rows": "many"}, "setting 'batch_max_rows' must be an integer"),
        ({"stream_partition_fields": "x"}, "setting 'stream_partition_fields' must be an object"),
        ({"client_id": ""}, "setting 'client_id' is required"),
        ({"sse_kms_key_id": "k"}, "setting 'sse_kms_key_id' requires sse = aws:kms"),
        ({"aws_access_key_id": "k"}, "must be set together"),
    ],
)
def test_bad_values_name_the_setting(config, needle):
    with pytest.raises(ConfigError, match=re.escape(needle)):
        Settings.from_config({**REQUIRED, **config})


def test_values_are_read_as_declared():
    settings = Settings.from_config(
        {
            **REQUIRED,
            "prefix": "/lake/",
            "compression": "ZSTD",
            "compression_level": "-3",
            "write_audit": "false",
            "stream_partition_fields": {"orders": None},
            "aws_access_key_id": "key",
            "aws_secret_access_key": "not-in-repr",
        }
    )
    assert (settings.prefix, settings.compression, settings.compression_level) == (
        "lake",
        "zstd",
        -3,
    )
    assert settings.write_audit is False
    assert settings.stream_partition_fields == {"orders": ""}
    assert "not-in-repr" not in repr(settings)


def loader() -> dict:
    if not MELTANO_YML.exists():
        pytest.skip("no meltano.yml: the plugin is not inside its project")
    project = yaml.safe_load(MELTANO_YML.read_text())
    (plugin,) = [p for p in project["plugins"]["loaders"] if p["name"] == "target-s3"]
    return plugin


def test_meltano_yml_lists_the_settings_as_declared():
    listed = {entry["name"]: entry for entry in loader()["settings"]}
    properties = accepted()
    assert not DECLARED.keys() - listed.keys(), "declared settings missing from meltano.yml"
    assert not listed.keys() - properties.keys(), "meltano.yml lists unknown settings"
    for name, entry in listed.items():
        prop = properties[name]
        kinds = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
        assert entry.get("kind") == next(k for k in kinds if k != "null"), name
        assert bool(entry.get("sensitive")) == bool(prop.get("secret")), name
        assert entry.get("description") == prop.get("description"), name
        if "value" in entry:  # a default stated in meltano.yml must be the declared one
            assert entry["value"] == prop.get("default"), name


def test_meltano_yml_config_does_not_restate_defaults():
    for name, value in (loader().get("config") or {}).items():
        if name in DECLARED:
            assert value != default(DECLARED[name]), f"{name}: the declared default already"


def about_section() -> str:
    """The README's generated section, as scripts/update_about.py writes it."""
    text = AboutFormatter.get_formatter("markdown").format_about(TargetS3._get_about_info())
    lines = text.strip().splitlines()[1:]
    body = "\n".join(f"#{line}" if line.startswith("#") else line for line in lines)
    return f"{ABOUT_HEADING}\n{body}\n"


def test_readme_settings_table_is_the_generated_one():
    readme = README.read_text()
    assert readme[readme.index(ABOUT_HEADING) :] == about_section(), (
        "refresh it: .venv/bin/python scripts/update_about.py"
    )
    for name in DECLARED:
        assert f"| {name} |" in readme


def test_defaults_the_readme_names_are_the_declared_ones():
    prose = README.read_text().split(ABOUT_HEADING)[0]
    named = re.findall(r"`([a-z0-9_]+)` \(default\s+`([^`]*)`", prose)
    assert len(named) >= 4
    for name, value in named:
        assert name in DECLARED, name
        assert value == rendered(default(DECLARED[name])), name
    loose = [n for n in re.findall(r"`([a-z0-9_]+)` \(default(?!\s*`)", prose) if n in DECLARED]
    assert not loose, f"write defaults as (default `value`): {loose}"


def test_defaults_are_written_only_in_the_declaration():
    """No other module repeats a default: it reads the run's Settings instead."""
    distinctive = {
        v
        for v in map(default, DECLARED.values())
        if (isinstance(v, str) and len(v) > 2)
        or (isinstance(v, int) and not isinstance(v, bool) and v >= 100)
    }
    assert {"_staging", "zstd", 500_000} <= distinctive
    package = Path(target_s3.__file__).parent
    for path in package.glob("*.py"):
        if path.name == "settings.py":
            continue
        constants = {
            node.value
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant)
        }
        assert not constants & distinctive, f"{path.name} repeats {constants & distinctive}"
