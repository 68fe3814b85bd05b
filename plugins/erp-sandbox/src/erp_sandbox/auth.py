"""Authentication: API keys, static bearer tokens, HTTP Basic, OAuth2 client credentials."""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from erp_sandbox.tenants import Tenant

DEFAULT_TOKEN_TTL = 300.0


@dataclass
class AuthFailure:
    """Why a data request was rejected (401)."""

    message: str
    www_authenticate: str


@dataclass
class TokenStore:
    """OAuth2 access tokens issued by one tenant, with wall-clock expiry."""

    tokens: dict[str, float] = field(default_factory=dict)

    def issue(self, ttl: float) -> str:
        """A new token valid for `ttl` seconds."""
        now = time.monotonic()
        # Forget long-expired tokens so the table stays small.
        if len(self.tokens) > 1000:
            self.tokens = {t: exp for t, exp in self.tokens.items() if exp > now - 3600}
        token = secrets.token_urlsafe(24)
        self.tokens[token] = now + ttl
        return token

    def check(self, token: str) -> str:
        """'ok', 'expired' or 'unknown'."""
        exp = self.tokens.get(token)
        if exp is None:
            return "unknown"
        return "ok" if time.monotonic() < exp else "expired"

    def revoke_all(self) -> None:
        """Invalidate every issued token."""
        self.tokens.clear()


def _basic(header: str) -> tuple[str, str] | None:
    try:
        raw = base64.b64decode(header.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = raw.partition(":")
    return (user, password) if sep else None


def _challenge(tenant: Tenant, error: str | None = None) -> str:
    if tenant.basic:
        return f'Basic realm="{tenant.name}"'
    extra = f', error="{error}"' if error else ""
    if tenant.api_keys and not tenant.bearer_tokens:
        return f'ApiKey realm="{tenant.name}"'
    return f'Bearer realm="{tenant.name}"{extra}'


def authenticate(
    tenant: Tenant, headers: Mapping[str, str], tokens: TokenStore
) -> AuthFailure | None:
    """None if the request carries valid credentials for the tenant."""
    if tenant.api_keys:
        key = headers.get("x-api-key")
        if key is not None:
            if key in tenant.api_keys:
                return None
            return AuthFailure("invalid API key", _challenge(tenant))
    authz = headers.get("authorization", "")
    scheme, _, value = authz.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer" and (tenant.bearer_tokens or tenant.oauth_clients):
        value = value.strip()
        if value in tenant.bearer_tokens:
            return None
        if tenant.oauth_clients:
            state = tokens.check(value)
            if state == "ok":
                return None
            if state == "expired":
                return AuthFailure("access token expired", _challenge(tenant, "invalid_token"))
        return AuthFailure("invalid bearer token", _challenge(tenant, "invalid_token"))
    if scheme == "basic" and tenant.basic:
        creds = _basic(value)
        if creds is not None and creds in tenant.basic:
            return None
        return AuthFailure("invalid user name or password", _challenge(tenant))
    kinds = {
        "api_key": "an X-API-Key header",
        "bearer": "a bearer token",
        "basic": "HTTP Basic credentials",
        "oauth2_client_credentials": "an OAuth2 access token (POST oauth/token)",
    }
    wanted = " or ".join(kinds[k] for k in tenant.auth_kinds)
    return AuthFailure(f"authentication required: send {wanted}", _challenge(tenant))


def parse_token_request(
    body: bytes, headers: Mapping[str, str]
) -> tuple[str | None, str | None, str | None]:
    """(grant_type, client_id, client_secret) of an OAuth2 token request."""
    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    client_id, secret = form.get("client_id"), form.get("client_secret")
    authz = headers.get("authorization", "")
    scheme, _, value = authz.partition(" ")
    if scheme.lower() == "basic":
        creds = _basic(value)
        if creds is not None:
            client_id, secret = creds
    return form.get("grant_type"), client_id, secret
