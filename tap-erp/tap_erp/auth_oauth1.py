"""OAuth 1.0a request signatures (RFC 5849), as NetSuite's token-based authentication
uses them: HMAC-SHA256 over the method, the URL and every query and `oauth_` parameter,
keyed with the consumer secret and the token secret; `realm` is the account id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import typing as t
import urllib.parse

from tap_erp.auth import Authenticator

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable

DIGESTS = {"HMAC-SHA256": hashlib.sha256, "HMAC-SHA1": hashlib.sha1}


def percent_encode(text: str) -> str:
    """RFC 5849 3.6: every byte but unreserved characters encoded, in upper-case hex."""
    return urllib.parse.quote(text, safe="~-._")


def base_string_uri(url: str) -> str:
    """RFC 5849 3.4.1.2: scheme and host in lower case, default ports and query left out."""
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    scheme = parts.scheme.lower()
    default = {"http": 80, "https": 443}.get(scheme)
    netloc = host if parts.port in (None, default) else f"{host}:{parts.port}"
    return f"{scheme}://{netloc}{parts.path or '/'}"


def query_pairs(url: str, params: t.Mapping[str, t.Any] | None) -> list[tuple[str, str]]:
    """The URL's own query parameters and the request's, as sent (lists repeat)."""
    pairs = urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=True)
    for name, value in (params or {}).items():
        values = value if isinstance(value, list | tuple) else [value]
        pairs += [(str(name), str(v)) for v in values if v is not None]
    return pairs


def signature_base_string(method: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """RFC 5849 3.4.1: method & base string URI & normalized parameters."""
    encoded = sorted((percent_encode(k), percent_encode(v)) for k, v in params)
    normalized = "&".join(f"{k}={v}" for k, v in encoded)
    return "&".join(
        (method.upper(), percent_encode(base_string_uri(url)), percent_encode(normalized))
    )


def sign(base: str, consumer_secret: str, token_secret: str, method: str = "HMAC-SHA256") -> str:
    """RFC 5849 3.4.2: base64 of the HMAC of the base string, keyed with both secrets."""
    key = f"{percent_encode(consumer_secret)}&{percent_encode(token_secret)}".encode()
    digest = hmac.new(key, base.encode(), DIGESTS[method]).digest()
    return base64.b64encode(digest).decode("ascii")


class OAuth1Auth(Authenticator):
    """Signs every request: `Authorization: OAuth realm="...", oauth_...="..."`."""

    def __init__(
        self,
        *,
        consumer_key: str,
        consumer_secret: str,
        token_id: str,
        token_secret: str,
        realm: str | None = None,
        signature_method: str = "HMAC-SHA256",
        clock: Callable[[], float] = time.time,
        nonce: Callable[[], str] = lambda: secrets.token_hex(16),
    ) -> None:
        """Keep the credentials; nothing is sent until a request is signed."""
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.token_id = token_id
        self.token_secret = token_secret
        self.realm = realm
        self.signature_method = signature_method
        self.clock = clock
        self.nonce = nonce
        self.secrets = (consumer_secret, token_secret)

    def oauth_params(self) -> dict[str, str]:
        """The protocol parameters of one request (fresh timestamp and nonce)."""
        return {
            "oauth_consumer_key": self.consumer_key,
            "oauth_token": self.token_id,
            "oauth_signature_method": self.signature_method,
            "oauth_timestamp": str(int(self.clock())),
            "oauth_nonce": self.nonce(),
            "oauth_version": "1.0",
        }

    def authorization(self, method: str, url: str, params: t.Mapping[str, t.Any] | None) -> str:
        """The `Authorization` header value of one request."""
        oauth = self.oauth_params()
        base = signature_base_string(method, url, [*oauth.items(), *query_pairs(url, params)])
        oauth["oauth_signature"] = sign(
            base, self.consumer_secret, self.token_secret, self.signature_method
        )
        fields = [("realm", self.realm)] if self.realm else []
        fields += list(oauth.items())
        return "OAuth " + ", ".join(f'{k}="{percent_encode(str(v))}"' for k, v in fields)

    def apply(self, headers: dict[str, str]) -> None:
        """Signing needs the request: see `apply_request`."""
        msg = "OAuth 1.0a signs each request: call apply_request"
        raise RuntimeError(msg)

    def apply_request(
        self, method: str, url: str, params: t.Mapping[str, t.Any] | None, headers: dict[str, str]
    ) -> None:
        """Sign the request into its `Authorization` header."""
        headers["Authorization"] = self.authorization(method, url, params)
