"""Authenticators: API key, static bearer token, HTTP Basic, OAuth2 client credentials."""

from __future__ import annotations

import base64
import json
import time
import typing as t

from tap_erp.errors import AuthenticationError

if t.TYPE_CHECKING:
    from collections.abc import Callable


class Authenticator:
    """Adds credentials to the headers of a data request."""

    #: Secret values this authenticator knows, to be kept out of messages.
    secrets: tuple[str, ...] = ()

    def apply(self, headers: dict[str, str]) -> None:
        """Add credentials to ``headers`` (refreshing a token first when needed)."""
        raise NotImplementedError

    def refresh_on_unauthorized(self) -> bool:
        """React to a 401/403: True when fresh credentials are worth a retry."""
        return False

    def apply_request(
        self, method: str, url: str, params: t.Mapping[str, t.Any] | None, headers: dict[str, str]
    ) -> None:
        """Add credentials for one request; methods that sign the request override this."""
        del method, url, params
        self.apply(headers)


class ApiKeyAuth(Authenticator):
    """A static key in a header, e.g. ``X-API-Key``."""

    def __init__(self, *, header: str, key: str) -> None:
        """Keep the header name and the key."""
        self.header = header
        self.key = key
        self.secrets = (key,)

    def apply(self, headers: dict[str, str]) -> None:
        """Set the key header."""
        headers[self.header] = self.key


class BearerAuth(Authenticator):
    """A static token: ``Authorization: Bearer <token>``."""

    def __init__(
        self, *, token: str, header: str = "Authorization", prefix: str = "Bearer"
    ) -> None:
        """Keep the token and how to send it."""
        self.header = header
        self.value = f"{prefix} {token}" if prefix else token
        self.secrets = (token,)

    def apply(self, headers: dict[str, str]) -> None:
        """Set the authorization header."""
        headers[self.header] = self.value


class BasicAuth(Authenticator):
    """HTTP Basic: ``Authorization: Basic base64(user:password)``."""

    def __init__(self, *, username: str, password: str) -> None:
        """Encode the credentials once."""
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self.value = f"Basic {token}"
        self.secrets = (password, token)

    def apply(self, headers: dict[str, str]) -> None:
        """Set the authorization header."""
        headers["Authorization"] = self.value


#: Posts a token request: (url, form data, extra headers) -> decoded JSON body.
TokenFetcher = t.Callable[[str, dict[str, str], dict[str, str]], t.Any]


class OAuth2ClientCredentials(Authenticator):
    """OAuth2 client credentials grant with refresh before expiry and on 401."""

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        base_url: str,
        scope: str | None = None,
        grant_type: str = "client_credentials",
        access_token_field: str = "access_token",
        expires_in_field: str = "expires_in",
        default_expires_in: float = 300,
        client_auth: str = "body",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Keep the grant parameters; the token is fetched on first use."""
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.base_url = base_url
        self.scope = scope
        self.grant_type = grant_type
        self.access_token_field = access_token_field
        self.expires_in_field = expires_in_field
        self.default_expires_in = default_expires_in
        self.client_auth = client_auth
        self.clock = clock
        self.secrets = (client_secret,)
        self._fetch: TokenFetcher | None = None
        self._token: str | None = None
        self._refresh_at = 0.0
        self.tokens_fetched = 0

    def bind(self, fetch: TokenFetcher) -> None:
        """Give the authenticator the function that posts token requests."""
        self._fetch = fetch

    def token_form(self) -> tuple[dict[str, str], dict[str, str]]:
        """The token request's form fields and headers (client id and secret)."""
        data = {"grant_type": self.grant_type}
        headers: dict[str, str] = {}
        if self.client_auth == "basic":
            raw = f"{self.client_id}:{self.client_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
        else:
            data["client_id"] = self.client_id
            data["client_secret"] = self.client_secret
        if self.scope:
            data["scope"] = self.scope
        return data, headers

    def _request_token(self) -> None:
        if self._fetch is None:
            msg = "OAuth2 authenticator is not bound to an HTTP client"
            raise RuntimeError(msg)
        data, headers = self.token_form()
        started = self.clock()
        body = self._fetch(self.token_url, data, headers)
        token = body.get(self.access_token_field) if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            msg = (
                f"authentication failed for {self.base_url}: the token endpoint answered "
                f"without '{self.access_token_field}'"
            )
            raise AuthenticationError(msg)
        try:
            expires_in = float(body.get(self.expires_in_field) or self.default_expires_in)
        except (TypeError, ValueError):
            expires_in = float(self.default_expires_in)
        # Refresh ahead of expiry: 10 % of the lifetime, at most one minute.
        margin = min(60.0, expires_in * 0.1)
        self._token = token
        self._refresh_at = started + max(0.0, expires_in - margin)
        self.tokens_fetched += 1

    def apply(self, headers: dict[str, str]) -> None:
        """Set a bearer token, fetching a new one when the current one is due."""
        if self._token is None or self.clock() >= self._refresh_at:
            self._request_token()
        headers["Authorization"] = f"Bearer {self._token}"

    def refresh_on_unauthorized(self) -> bool:
        """Drop the token (revoked or expired early); the retry fetches a new one."""
        self._token = None
        return True


#: Logs in: () -> (token text); raises AuthenticationError when refused.
#: Logs in; the token as the login answer gives it (text, or a number: Odoo's user id).
LoginCall = t.Callable[[], t.Any]


class LoginAuth(Authenticator):
    """A login request answers a token; data requests carry it in header templates."""

    def __init__(
        self,
        *,
        render_headers: Callable[[str], dict[str, str]],
        expires_in: float | None = None,
        secrets: tuple[str, ...] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Keep how headers are made from a token; the login happens on first use."""
        self.render_headers = render_headers
        self.expires_in = expires_in
        self.clock = clock
        self.secrets = secrets
        self._login: LoginCall | None = None
        self._headers: dict[str, str] | None = None
        self._token: str | None = None
        self._value: t.Any = None
        self._renew_at = float("inf")

    def bind(self, login: LoginCall) -> None:
        """Give the authenticator the function that logs in."""
        self._login = login

    def apply(self, headers: dict[str, str]) -> None:
        """Set the token headers, logging in first when needed."""
        if self._headers is None or self.clock() >= self._renew_at:
            if self._login is None:
                msg = "login authenticator is not bound to an HTTP client"
                raise RuntimeError(msg)
            self._value = self._login()
            self._token = self._value if isinstance(self._value, str) else json.dumps(self._value)
            self.secrets = (*self.secrets, self._token)
            self._headers = self.render_headers(self._token)
            if self.expires_in:
                self._renew_at = self.clock() + self.expires_in
        headers.update(self._headers)

    def token(self) -> t.Any:
        """The login answer's token (logging in first when needed), for request templates:
        of the answer's type, so a JSON body carries a number as a number."""
        self.apply({})
        return self._value

    def refresh_on_unauthorized(self) -> bool:
        """Log in again on the next request (the session expired)."""
        self._headers = None
        return True
