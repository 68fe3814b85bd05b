"""The default secret store: encrypted at rest, readable only with its key."""

from __future__ import annotations

import stat

import pytest
from cryptography.fernet import Fernet
from erp_control_plane.errors import SettingError
from erp_control_plane.secret_store import EncryptedFileStore, open_secret_store
from erp_control_plane.settings import Settings

TOKEN = "t" * 24


def settings(tmp_path, **env: str) -> Settings:
    return Settings.from_env(
        {"ERP_CONTROL_PLANE_TOKEN": TOKEN, "ERP_CONTROL_PLANE_PROJECT_DIR": str(tmp_path), **env}
    )


def test_values_are_encrypted_at_rest_and_the_file_is_private(tmp_path):
    store = EncryptedFileStore(tmp_path / "s.json", Fernet.generate_key())
    store.put("c1", {"api_key": "plain-value-123"})
    assert "plain-value-123" not in (tmp_path / "s.json").read_text()
    assert stat.S_IMODE((tmp_path / "s.json").stat().st_mode) == 0o600
    assert store.get("c1") == {"api_key": "plain-value-123"}
    store.delete("c1")
    assert store.get("c1") == {}


def test_another_key_reads_nothing_and_says_which_setting(tmp_path):
    EncryptedFileStore(tmp_path / "s.json", Fernet.generate_key()).put("c1", {"password": "p"})
    other = EncryptedFileStore(tmp_path / "s.json", Fernet.generate_key())
    with pytest.raises(SettingError, match="ERP_CONTROL_PLANE_SECRET_KEY"):
        other.get("c1")


def test_without_a_key_one_is_created_in_a_private_file_and_kept(tmp_path):
    first = open_secret_store(settings(tmp_path))
    first.put("c1", {"api_key": "k"})
    key_file = tmp_path / ".meltano" / "control-plane" / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert open_secret_store(settings(tmp_path)).get("c1") == {"api_key": "k"}


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ERP_CONTROL_PLANE_SECRET_KEY": "short"}, "ERP_CONTROL_PLANE_SECRET_KEY"),
        (
            {"ERP_CONTROL_PLANE_SECRET_STORE": "no_such_module:make"},
            "ERP_CONTROL_PLANE_SECRET_STORE",
        ),
    ],
)
def test_a_bad_store_setting_is_one_line_naming_it(tmp_path, env, named):
    with pytest.raises(SettingError, match=named):
        open_secret_store(settings(tmp_path, **env))


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "ERP_CONTROL_PLANE_TOKEN"),
        ({"ERP_CONTROL_PLANE_TOKEN": "short"}, "ERP_CONTROL_PLANE_TOKEN"),
        ({"ERP_CONTROL_PLANE_TOKEN": TOKEN, "ERP_CONTROL_PLANE_MAX_RUNS": "0"}, "MAX_RUNS"),
    ],
)
def test_bad_settings_name_the_variable(tmp_path, env, named):
    with pytest.raises(SettingError, match=named):
        Settings.from_env({"ERP_CONTROL_PLANE_PROJECT_DIR": str(tmp_path), **env})


def test_the_token_file_serves_when_the_variable_is_unset(tmp_path):
    token_file = tmp_path / ".meltano" / "control-plane" / "token"
    token_file.parent.mkdir(parents=True)
    token_file.write_text("from-the-token-file-123\n")
    assert Settings.from_env({"ERP_CONTROL_PLANE_PROJECT_DIR": str(tmp_path)}).token == (
        "from-the-token-file-123"
    )
