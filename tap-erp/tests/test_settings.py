"""Settings and profile validation, and how the CLI reports failures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from singer_sdk.exceptions import ConfigValidationError
from tap_erp.settings_text import coerce_numeric_settings
from tap_erp.tap import TapERP, build_runtime

BASE = {"base_url": "http://127.0.0.1:9/acme", "api_key": "k-123"}


def tap_cmd():
    exe = Path(sys.executable).with_name("tap-erp")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "tap_erp"]


@pytest.mark.parametrize(
    ("override", "setting", "hint"),
    [
        ({"pagination_style": "keyset"}, "pagination_style", "offset"),
        ({"auth_method": "kerberos"}, "auth_method", "api_key"),
        ({"backfill_window": "year"}, "backfill_window", "day"),
        ({"unmapped_custom_fields": "keep"}, "unmapped_custom_fields", "pass"),
        ({"page_size": 99999}, "page_size", "5000"),
        ({"base_url": "ftp://x"}, "base_url", "http"),
        ({"start_date": "yesterday"}, "start_date", "ISO 8601"),
        ({"auth_method": "basic", "username": "u"}, "password", "basic"),
        ({"profile": "no_such_erp"}, "profile", "erp_sandbox"),
    ],
)
def test_bad_settings_name_the_setting(override, setting, hint):
    config = {**BASE, **override}
    with pytest.raises(ConfigValidationError) as info:
        TapERP(config=config)
    text = " ".join(info.value.errors)
    assert setting in text
    assert hint in text


def test_cli_bad_setting_is_one_line_without_traceback(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**BASE, "pagination_style": "keyset"}))
    proc = subprocess.run(
        [*tap_cmd(), "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "pagination_style" in proc.stderr
    assert "k-123" not in proc.stderr + proc.stdout


def test_cli_unreachable_server_fails_cleanly(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**BASE, "max_retries": 1, "backoff_max_seconds": 0}))
    proc = subprocess.run(
        [*tap_cmd(), "--config", str(config), "--discover"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "giving up on GET" in proc.stderr


def test_about_lists_capabilities_and_settings():
    proc = subprocess.run(
        [*tap_cmd(), "--about", "--format=json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    about = json.loads(proc.stdout)
    for capability in ("catalog", "discover", "state", "about", "stream-maps", "schema-flattening"):
        assert capability in about["capabilities"]
    settings = about["settings"]["properties"]
    for name in ("api_key", "bearer_token", "password", "client_secret"):
        assert settings[name].get("secret") is True
    assert all(prop.get("description") for prop in settings.values())


def test_profile_overrides_and_defaults():
    runtime = build_runtime({**BASE})
    assert runtime.pagination_style == "offset"
    assert runtime.page_size == 1000
    runtime = build_runtime({**BASE, "pagination_style": "cursor", "page_size": 250})
    assert (runtime.pagination_style, runtime.page_size) == ("cursor", 250)


def test_numeric_text_is_read_as_numbers():
    """Orchestrators pass environment variables as text: "0.05" means 0.05."""
    config = {
        **BASE,
        "backoff_base_seconds": "0.05",
        "rate_limit_per_minute": " 120 ",
        "max_retries": "3",
        "rate_limit_per_second": "",
        "api_key": "12345",
    }
    coerce_numeric_settings(config, TapERP.config_jsonschema)
    assert config["backoff_base_seconds"] == 0.05
    assert config["rate_limit_per_minute"] == 120
    assert config["max_retries"] == 3
    assert isinstance(config["max_retries"], int)
    assert "rate_limit_per_second" not in config
    assert config["api_key"] == "12345"  # text settings stay text
    assert build_runtime(config).http.backoff_base == 0.05


@pytest.mark.parametrize(
    ("override", "setting"),
    [
        ({"backoff_base_seconds": "fast"}, "backoff_base_seconds"),
        ({"max_retries": "2.5"}, "max_retries"),
        ({"rate_limit_per_second": "0"}, "rate_limit_per_second"),
    ],
)
def test_bad_numeric_text_names_the_setting(override, setting):
    with pytest.raises(ConfigValidationError) as info:
        TapERP(config={**BASE, **override})
    assert setting in " ".join(info.value.errors)


# Every default declared once (tap_erp.settings); code reads it from there.

DECLARED_DEFAULTS = {
    "request_timeout_seconds": "timeout",
    "max_retries": "max_retries",
    "backoff_base_seconds": "backoff_base",
    "backoff_max_seconds": "backoff_max",
    "verify_tls": "verify",
    "user_agent": "user_agent",
}


@pytest.mark.parametrize(("name", "parameter"), DECLARED_DEFAULTS.items())
def test_the_transport_defaults_are_the_declared_ones(name, parameter):
    import inspect

    from tap_erp.http import HttpClient
    from tap_erp.settings import DEFAULTS

    assert inspect.signature(HttpClient).parameters[parameter].default == DEFAULTS[name]


def test_a_run_without_settings_gets_the_declared_defaults():
    from tap_erp.settings import DEFAULTS

    runtime = build_runtime({**BASE, **dict.fromkeys(DEFAULTS, "")})
    assert runtime.profile.name == DEFAULTS["profile"]
    assert runtime.backfill_window == DEFAULTS["backfill_window"]
    assert runtime.lookback_seconds == DEFAULTS["lookback_seconds"]
    http = runtime.http
    assert (http.timeout, http.max_retries) == (
        DEFAULTS["request_timeout_seconds"],
        DEFAULTS["max_retries"],
    )
    assert (http.backoff_base, http.backoff_max, http.verify) == (
        DEFAULTS["backoff_base_seconds"],
        DEFAULTS["backoff_max_seconds"],
        DEFAULTS["verify_tls"],
    )
    assert http.headers["User-Agent"] == DEFAULTS["user_agent"]


def test_defaults_are_written_only_in_the_declaration():
    """No other module of the tap repeats a distinctive default: it reads the setting."""
    import ast

    import tap_erp
    from tap_erp.settings import BACKFILL_WINDOWS, DEFAULTS

    distinctive = {
        v
        for v in DEFAULTS.values()
        if (isinstance(v, str) and len(v) > 2 and v not in BACKFILL_WINDOWS)
        or (isinstance(v, int | float) and not isinstance(v, bool) and v not in (0, 1, 2))
    }
    assert {"erp_sandbox", 600, 0.5} <= distinctive
    for path in Path(tap_erp.__file__).parent.glob("*.py"):
        if path.name == "settings.py":
            continue
        tree = ast.parse(path.read_text())
        literals = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
        calls = [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr == "get"
            and len(n.args) == 2
            and isinstance(n.args[0], ast.Constant)
            and n.args[0].value in DEFAULTS
        ]
        assert not calls, f"{path.name}: config.get(<setting>, <default>); use settings.setting"
        assert not literals & {v for v in distinctive if isinstance(v, str)}, path.name
        repeated = [
            n.values[-1].value
            for n in ast.walk(tree)
            if isinstance(n, ast.BoolOp)
            and isinstance(n.op, ast.Or)
            and isinstance(n.values[-1], ast.Constant)
            and n.values[-1].value in distinctive
        ]
        assert not repeated, f"{path.name} repeats defaults {repeated} (`or <default>`)"
