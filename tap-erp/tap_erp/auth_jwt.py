"""OAuth2 client credentials with a JWT bearer client assertion (RFC 7523), signed with a
private key: NetSuite's machine-to-machine flow, Entra ID's certificate credentials.

Each token request carries a fresh assertion: header `typ: JWT`, `alg`, `kid` (the
certificate id); claims `iss` (client id), `scope`, `aud` (the token URL), `iat` and
`exp`. The key is read once from the `private_key_file` setting and never written out.
"""

from __future__ import annotations

import time
import typing as t
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tap_erp.auth import OAuth2ClientCredentials
from tap_erp.errors import TapERPError

if t.TYPE_CHECKING:
    from collections.abc import Callable

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: EC curve -> the algorithm of its size.
EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


class KeyFileError(TapERPError):
    """The private key file cannot be used (message names the setting)."""


def load_private_key(path: str) -> t.Any:
    """The private key of a PEM file (PKCS#8 or traditional, unencrypted)."""
    try:
        data = Path(path).expanduser().read_bytes()
    except OSError as exc:
        msg = f"setting 'private_key_file': cannot read {path!r} ({exc.strerror or exc})"
        raise KeyFileError(msg) from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        msg = (
            f"setting 'private_key_file': {path!r} is not an unencrypted PEM private key "
            "(RSA or EC)"
        )
        raise KeyFileError(msg) from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        msg = f"setting 'private_key_file': {path!r} holds neither an RSA nor an EC key"
        raise KeyFileError(msg)
    return key


def algorithm_for(key: t.Any, wanted: str | None) -> str:
    """The profile's algorithm, checked against the key; by default the key's own."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        own = EC_ALGORITHMS.get(key.curve.name)
        if own is None or (wanted is not None and wanted != own):
            msg = (
                f"setting 'private_key_file': an EC key on {key.curve.name} cannot sign "
                f"{wanted or 'JWTs here'} (use P-256 for ES256, P-384, P-521)"
            )
            raise KeyFileError(msg)
        return own
    if wanted is not None and not wanted.startswith(("PS", "RS")):
        msg = f"setting 'private_key_file': an RSA key cannot sign {wanted}"
        raise KeyFileError(msg)
    return wanted or "PS256"


class JwtClientCredentials(OAuth2ClientCredentials):
    """Client credentials whose client authenticates with a signed JWT assertion."""

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        private_key: t.Any,
        key_id: str | None,
        base_url: str,
        algorithm: str | None = None,
        scope: str | None = None,
        audience: str | None = None,
        lifetime_seconds: int = 300,
        default_expires_in: float = 3600,
        wall_clock: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Keep the key and the claims' values; tokens are fetched on first use."""
        super().__init__(
            token_url=token_url,
            client_id=client_id,
            client_secret="",
            base_url=base_url,
            scope=scope,
            default_expires_in=default_expires_in,
            clock=clock,
        )
        self.secrets = ()
        self.private_key = private_key
        self.key_id = key_id
        self.algorithm = algorithm_for(private_key, algorithm)
        self.audience = audience or token_url
        self.lifetime_seconds = lifetime_seconds
        self.wall_clock = wall_clock

    def claims(self) -> dict[str, t.Any]:
        """The assertion's claims, issued now."""
        now = int(self.wall_clock())
        claims: dict[str, t.Any] = {
            "iss": self.client_id,
            "aud": self.audience,
            "iat": now,
            "exp": now + self.lifetime_seconds,
        }
        if self.scope:
            claims["scope"] = self.scope
        return claims

    def assertion(self) -> str:
        """A freshly signed client assertion."""
        headers = {"typ": "JWT", **({"kid": self.key_id} if self.key_id else {})}
        return jwt.encode(
            self.claims(), self.private_key, algorithm=self.algorithm, headers=headers
        )

    def token_form(self) -> tuple[dict[str, str], dict[str, str]]:
        """Grant type, assertion type and the assertion; no client secret."""
        signed = self.assertion()
        self.secrets = (signed,)
        data = {
            "grant_type": self.grant_type,
            "client_assertion_type": JWT_BEARER,
            "client_assertion": signed,
        }
        return data, {}
