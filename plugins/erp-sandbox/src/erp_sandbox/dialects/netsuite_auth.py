"""NetSuite's authentication, as Oracle documents it, verified for real.

- OAuth 2.0 client credentials (machine to machine): `POST
  /services/rest/auth/oauth2/v1/token` with `grant_type=client_credentials`,
  `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and
  `client_assertion`: a JWT (header `typ`, `alg` PS256..ES512, `kid` = certificate id;
  claims `iss` = client id, `scope`, `aud` = the token URL, `iat`, `exp` at most 60
  minutes after `iat`), checked with the certificate's public key. The answer's
  `access_token` is then sent as `Authorization: Bearer ...`.
- Token-based authentication (OAuth 1.0a, RFC 5849) with HMAC-SHA256: `Authorization:
  OAuth realm="<account id>", oauth_consumer_key=..., oauth_token=..., ...`; the
  signature is computed again here and compared.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from starlette.requests import Request
from starlette.responses import Response

TOKEN_PATH = "services/rest/auth/oauth2/v1/token"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ["PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
KEYS = Path(__file__).resolve().parent.parent / "keys"
INVALID_LOGIN = (
    "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI "
    "at Setup > Users/Roles > User Management > View Login Audit Trail."
)
#: Seconds a TBA timestamp may differ from the server's clock.
TIMESTAMP_WINDOW = 300
DEFAULT_TOKEN_TTL = 3600


@dataclass(frozen=True)
class Account:
    """A NetSuite account's integration: M2M client and certificates, TBA credentials."""

    account_id: str
    client_id: str
    certificates: dict[str, Path] = field(default_factory=dict)  # certificate id -> key file
    consumers: dict[str, str] = field(default_factory=dict)  # consumer key -> secret
    tokens: dict[str, str] = field(default_factory=dict)  # token id -> secret

    def public_key(self, kid: str) -> Any:
        """The public part of a mapped certificate."""
        private = serialization.load_pem_private_key(self.certificates[kid].read_bytes(), None)
        return private.public_key()


ACCOUNTS = {
    "heron": Account(
        account_id="1234567_SB1",
        client_id="heron-m2m-client",
        certificates={"heron-cert-1": KEYS / "heron-m2m.pem"},
        consumers={"heron-consumer-key": "heron-consumer-secret"},
        tokens={"heron-token-id": "heron-token-secret"},
    ),
}


def _oauth_error(status: int, error: str, description: str) -> Response:
    body = {"error": error, "error_description": description}
    return Response(orjson.dumps(body), status, media_type="application/json")


def _unauthorized(detail: str = INVALID_LOGIN) -> Response:
    from erp_sandbox.dialects.netsuite import error

    return error(401, "INVALID_LOGIN", detail)


async def token(request: Request, ts: Any) -> Response:
    """The token endpoint of the client credentials flow."""
    ts.requests["token"] += 1
    account = ACCOUNTS[ts.tenant.name]
    form = dict(urllib.parse.parse_qsl((await request.body()).decode()))
    if (
        form.get("grant_type") != "client_credentials"
        or form.get("client_assertion_type") != JWT_BEARER
    ):
        return _oauth_error(
            400,
            "unsupported_grant_type",
            "use client_credentials with a JWT bearer client assertion",
        )
    assertion = form.get("client_assertion", "")
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        return _oauth_error(400, "invalid_request", "the client assertion is not a JWT")
    kid = header.get("kid")
    if header.get("typ") != "JWT" or header.get("alg") not in ALGORITHMS:
        return _oauth_error(
            400,
            "invalid_request",
            f"JWT header: typ must be JWT and alg one of {', '.join(ALGORITHMS)}",
        )
    if kid not in account.certificates:
        return _oauth_error(401, "invalid_client", f"no certificate mapping with id {kid!r}")
    aud = str(request.url).split("?", 1)[0]
    try:
        claims = jwt.decode(
            assertion,
            account.public_key(kid),
            algorithms=ALGORITHMS,
            audience=aud,
            options={"require": ["iss", "scope", "aud", "exp", "iat"]},
            leeway=5,
        )
    except jwt.ExpiredSignatureError:
        return _oauth_error(400, "invalid_grant", "the client assertion has expired")
    except jwt.InvalidSignatureError:
        return _oauth_error(
            401,
            "invalid_client",
            "the client assertion's signature does not verify with the certificate",
        )
    except jwt.PyJWTError as exc:
        return _oauth_error(400, "invalid_request", f"client assertion: {exc}")
    if claims["iss"] != account.client_id:
        return _oauth_error(401, "invalid_client", "unknown client id (iss)")
    if claims["exp"] - claims["iat"] > 3600:
        return _oauth_error(400, "invalid_request", "exp must be at most 60 minutes after iat")
    scopes = (
        claims["scope"] if isinstance(claims["scope"], list) else str(claims["scope"]).split(",")
    )
    if "rest_webservices" not in [s.strip() for s in scopes]:
        return _oauth_error(400, "invalid_scope", "the scope must include rest_webservices")
    ttl = ts.faults.token_ttl
    ttl = DEFAULT_TOKEN_TTL if ttl is None else ttl
    access = ts.tokens.issue(ttl)
    body = {"access_token": access, "expires_in": str(int(ttl)), "token_type": "bearer"}
    return Response(orjson.dumps(body), media_type="application/json")


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="~-._")


def signature_base(method: str, url: str, params: list[tuple[str, str]]) -> str:
    """RFC 5849 3.4.1: method, base string URI and normalized parameters."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    netloc = host.lower() if parts.port in (None, default) else f"{host.lower()}:{parts.port}"
    base_uri = f"{parts.scheme.lower()}://{netloc}{parts.path or '/'}"
    pairs = sorted((_quote(k), _quote(v)) for k, v in params)
    normalized = "&".join(f"{k}={v}" for k, v in pairs)
    return "&".join((method.upper(), _quote(base_uri), _quote(normalized)))


def _oauth_params(header: str) -> dict[str, str]:
    out = {}
    for part in header[len("OAuth ") :].split(","):
        name, _, value = part.strip().partition("=")
        out[name] = urllib.parse.unquote(value.strip().strip('"'))
    return out


def _tba_ok(request: Request, account: Account, header: str) -> bool:
    given = _oauth_params(header)
    consumer = account.consumers.get(given.get("oauth_consumer_key", ""))
    secret = account.tokens.get(given.get("oauth_token", ""))
    if consumer is None or secret is None or given.get("realm") != account.account_id:
        return False
    if given.get("oauth_signature_method") != "HMAC-SHA256":
        return False
    try:
        if abs(time.time() - int(given.get("oauth_timestamp", "0"))) > TIMESTAMP_WINDOW:
            return False
    except ValueError:
        return False
    params = [(k, v) for k, v in given.items() if k not in ("realm", "oauth_signature")]
    params += list(request.query_params.multi_items())
    base = signature_base(request.method, str(request.url), params)
    key = f"{_quote(consumer)}&{_quote(secret)}".encode()
    want = base64.b64encode(hmac.new(key, base.encode(), hashlib.sha256).digest()).decode()
    return hmac.compare_digest(want, given.get("oauth_signature", ""))


def check(request: Request, ts: Any) -> Response | None:
    """None when the request carries a valid access token or TBA signature."""
    account = ACCOUNTS[ts.tenant.name]
    header = request.headers.get("authorization", "")
    scheme = header.split(" ", 1)[0].lower()
    if scheme == "bearer":
        state = ts.tokens.check(header[7:].strip())
        return None if state == "ok" else _unauthorized()
    if scheme == "oauth" and _tba_ok(request, account, header):
        return None
    return _unauthorized()
