"""Where connection secrets live: write-only through the API, read at run time.

The default store is one file of Fernet tokens (AES-128-CBC + HMAC), one per
connection, under a key from `ERP_CONTROL_PLANE_SECRET_KEY` (or a key file created
with mode 0600). A vault plugs in through `ERP_CONTROL_PLANE_SECRET_STORE=module:factory`:
the factory takes the Settings and returns an object with `put`, `get` and `delete`.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
from pathlib import Path
from typing import Protocol

from cryptography.fernet import Fernet, InvalidToken

from erp_control_plane.errors import SettingError
from erp_control_plane.settings import Settings


class SecretStore(Protocol):
    """Secrets of one connection, by setting name."""

    def put(self, key: str, values: dict[str, str]) -> None:
        """Replace the secrets stored under `key`."""

    def get(self, key: str) -> dict[str, str]:
        """The secrets stored under `key` ({} if none)."""

    def delete(self, key: str) -> None:
        """Forget the secrets stored under `key`."""


def _write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    tmp.replace(path)


class EncryptedFileStore:
    """Secrets in one JSON file of Fernet tokens."""

    def __init__(self, path: Path, key: bytes) -> None:
        self.path = path
        self.fernet = Fernet(key)
        self.lock = threading.Lock()

    def _load(self) -> dict[str, str]:
        if not self.path.is_file():
            return {}
        return json.loads(self.path.read_text(encoding="utf-8"))

    def put(self, key: str, values: dict[str, str]) -> None:
        """Encrypt and store the secrets of `key`."""
        with self.lock:
            tokens = self._load()
            tokens[key] = self.fernet.encrypt(json.dumps(values).encode()).decode()
            _write_private(self.path, json.dumps(tokens, indent=1).encode())

    def get(self, key: str) -> dict[str, str]:
        """Decrypt the secrets of `key`."""
        with self.lock:
            token = self._load().get(key)
        if token is None:
            return {}
        try:
            return json.loads(self.fernet.decrypt(token.encode()))
        except InvalidToken:
            raise SettingError(
                f"ERP_CONTROL_PLANE_SECRET_KEY: does not decrypt {self.path} (another key?)"
            ) from None

    def delete(self, key: str) -> None:
        """Remove the secrets of `key`."""
        with self.lock:
            tokens = self._load()
            if tokens.pop(key, None) is not None:
                _write_private(self.path, json.dumps(tokens, indent=1).encode())


def _fernet_key(settings: Settings) -> bytes:
    if settings.secret_key:
        key = settings.secret_key.encode()
    elif settings.secret_key_file.is_file():
        key = settings.secret_key_file.read_bytes().strip()
    else:
        key = Fernet.generate_key()
        _write_private(settings.secret_key_file, key)
    try:
        Fernet(key)
    except ValueError:
        raise SettingError(
            "ERP_CONTROL_PLANE_SECRET_KEY: a Fernet key (32 url-safe base64-encoded bytes)"
        ) from None
    return key


def open_secret_store(settings: Settings) -> SecretStore:
    """The configured store: a vault's factory, or the encrypted file."""
    if settings.secret_store:
        module, _, name = settings.secret_store.partition(":")
        try:
            factory = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError, ValueError):
            raise SettingError(
                f"ERP_CONTROL_PLANE_SECRET_STORE: cannot import '{settings.secret_store}' "
                "(expected module:factory)"
            ) from None
        return factory(settings)
    return EncryptedFileStore(settings.secrets_file, _fernet_key(settings))
