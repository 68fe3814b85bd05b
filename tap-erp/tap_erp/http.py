"""HTTP transport: one keep-alive session, retries with backoff, client-side rate limit."""

from __future__ import annotations

import datetime
import email.utils
import logging
import random
import time
import typing as t
import urllib.parse

import orjson
import requests
import requests.exceptions

from tap_erp.dialect.selectors import NOTHING, Selector
from tap_erp.errors import (
    AuthenticationError,
    HTTPStatusError,
    RetryableError,
    TapERPError,
    redact,
)
from tap_erp.settings import DEFAULTS

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from tap_erp.auth import Authenticator
    from tap_erp.profiles import Rendered

#: A page body is read in chunks of this size (requests' default is 10 KiB).
BODY_CHUNK_BYTES = 1 << 20

LOGGER = logging.getLogger("tap-erp.http")

#: Transport failures worth another attempt: refused/reset connections, timeouts,
#: bodies cut short (incomplete chunked or Content-Length reads).
TRANSIENT_EXCEPTIONS: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
#: Statuses retried unless the profile says otherwise (`retry.statuses`).
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class Reply(t.NamedTuple):
    """A successful answer: the decoded body (JSON, or bytes when asked raw) and headers."""

    body: t.Any
    headers: t.Mapping[str, str]
    url: str


class TokenBucket:
    """A token bucket: ``rate`` tokens per second, holding at most ``capacity``."""

    def __init__(self, *, rate: float, capacity: float, clock: Callable[[], float]) -> None:
        """Start full."""
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.clock = clock
        self.updated = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait_time(self) -> float:
        """Seconds until one token is available (0 when one is)."""
        self._refill()
        # A tolerance keeps float rounding from asking for endless tiny sleeps.
        return 0.0 if self.tokens >= 1 - 1e-9 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        """Consume one token."""
        self.tokens -= 1


class RateLimiter:
    """Client-side limit on requests per second and per minute (token buckets)."""

    def __init__(
        self,
        *,
        per_second: float | None = None,
        per_minute: float | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        """A bucket per configured limit; none means unlimited."""
        self.sleep = sleep or time.sleep
        clock = clock or time.monotonic
        self.buckets: list[TokenBucket] = []
        if per_second:
            self.buckets.append(
                TokenBucket(rate=per_second, capacity=max(1.0, per_second), clock=clock)
            )
        if per_minute:
            # Burst of at most one request: requests are spread evenly over the minute.
            self.buckets.append(TokenBucket(rate=per_minute / 60.0, capacity=1.0, clock=clock))

    def acquire(self) -> None:
        """Block until every bucket grants a request."""
        if not self.buckets:
            return
        while True:
            wait = max(bucket.wait_time() for bucket in self.buckets)
            if wait <= 0:
                for bucket in self.buckets:
                    bucket.take()
                return
            self.sleep(wait)


def parse_retry_after(value: str | None, now: Callable[[], datetime.datetime]) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - now()).total_seconds())


#: Phrases of the socket errors people recognise, found in requests' messages.
_TRANSPORT_CAUSES = (
    ("refused", "connection refused"),
    ("Name or service not known", "host not found"),
    ("nodename nor servname", "host not found"),
    ("Temporary failure in name resolution", "host not found"),
    ("No route to host", "no route to host"),
    ("reset by peer", "connection reset"),
    ("RemoteDisconnected", "connection closed by the server"),
    ("CERTIFICATE_VERIFY_FAILED", "TLS certificate not trusted (see verify_tls)"),
)


def describe_transport_error(exc: BaseException, url: str) -> str:
    """A short, readable cause of a transport failure (no nested exception reprs)."""
    parts = urllib.parse.urlsplit(url)
    where = parts.netloc or url
    text = str(exc)
    if isinstance(exc, requests.exceptions.Timeout):
        return f"timed out talking to {where}"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | ConnectionResetError):
        return f"response from {where} cut short"
    for phrase, cause in _TRANSPORT_CAUSES:
        if phrase in text:
            return f"cannot reach {where}: {cause}"
    first = text.split("(Caused by", 1)[0].strip() or type(exc).__name__
    return f"{type(exc).__name__} talking to {where}: {first[:200]}"


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class HttpClient:
    """Sends requests with auth, retries, backoff with full jitter and a rate limit.

    Each page is decoded once, with orjson.
    """

    def __init__(
        self,
        *,
        base_url: str,
        authenticator: Authenticator | None = None,
        session: requests.Session | None = None,
        timeout: float = DEFAULTS["request_timeout_seconds"],
        max_retries: int = DEFAULTS["max_retries"],
        backoff_base: float = DEFAULTS["backoff_base_seconds"],
        backoff_max: float = DEFAULTS["backoff_max_seconds"],
        limiter: RateLimiter | None = None,
        verify: bool = DEFAULTS["verify_tls"],
        user_agent: str | None = DEFAULTS["user_agent"],
        error_message_paths: Iterable[str] = ("message",),
        body_error: str | None = None,
        retry_statuses: Iterable[int] = RETRY_STATUSES,
        secrets: Iterable[str | None] = (),
        sleep: Callable[[float], None] | None = None,
        rand: Callable[[], float] = random.random,
        now: Callable[[], datetime.datetime] = _utc_now,
    ) -> None:
        """Configure the transport (defaults: the settings' declared ones); ``sleep``,
        ``rand`` and ``now`` are injectable."""
        self.base_url = base_url.rstrip("/")
        self.authenticator = authenticator
        self.session = session or requests.Session()
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.limiter = limiter or RateLimiter()
        self.verify = verify
        self.headers = {"Accept": "application/json"}
        if user_agent:
            self.headers["User-Agent"] = user_agent
        self.error_message_paths = [Selector(p) for p in error_message_paths]
        self.body_error = Selector(body_error) if body_error else None
        self.retry_statuses = frozenset(retry_statuses)
        self._secrets = [s for s in secrets if s]
        self.sleep = sleep or time.sleep
        self.rand = rand
        self.now = now

    # URLs and messages

    def url(self, path: str) -> str:
        """Absolute URL of a path relative to the base URL (absolute URLs pass)."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    @property
    def secrets(self) -> list[str]:
        """Every secret value to keep out of messages."""
        extra = list(self.authenticator.secrets) if self.authenticator else []
        return self._secrets + extra

    def _clean(self, text: str) -> str:
        return redact(text, self.secrets)

    def login_token(self) -> t.Any:
        """The token of a login auth method (for `{token}` in requests); None without one."""
        from tap_erp.auth import LoginAuth

        auth = self.authenticator
        return auth.token() if isinstance(auth, LoginAuth) else None

    def _check_body_error(self, body: t.Any, method: str, url: str) -> None:
        """A 2xx answer that carries an error (JSON-RPC) fails like an error status."""
        if self.body_error is None:
            return
        found = self.body_error.find(body)
        if found is NOTHING or found in (None, False):
            return
        message = self._message_of(body)
        msg = f"error from {method} {self._clean(url)}: {message}"
        raise HTTPStatusError(msg, status=200)

    def _message_of(self, body: t.Any) -> str:
        for selector in self.error_message_paths:
            node = selector.find(body)
            if node is not NOTHING and isinstance(node, str | int | float) and node is not True:
                return self._clean(str(node))
        return self._clean(str(body)[:200])

    def error_message(self, response: requests.Response) -> str:
        """A short human readable message from an error response."""
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            text = response.text.strip().replace("\n", " ")
            return self._clean(text[:200]) if text else (response.reason or "")
        return self._message_of(body)

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**(attempt-1))]."""
        cap = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1)))
        return self.rand() * cap

    # Requests

    def get_json(self, url: str, params: dict[str, t.Any] | None = None) -> t.Any:
        """GET an authenticated JSON resource, retrying transient failures."""
        return self.send("GET", url, params=params).body

    def request(
        self, rendered: Rendered, *, authenticated: bool = True, raw: bool = False
    ) -> Reply:
        """Send a request rendered from a profile's template."""
        return self.send(
            rendered.method,
            rendered.url,
            params=rendered.params,
            headers=rendered.headers,
            json_body=rendered.json,
            authenticated=authenticated,
            raw=raw,
        )

    def post_token(self, url: str, data: dict[str, str], headers: dict[str, str]) -> t.Any:
        """POST a token request (form encoded); 400/401/403 are authentication failures."""
        return self.send(
            "POST", url, data=data, headers=headers, authenticated=False, token_request=True
        ).body

    def send(  # noqa: PLR0915
        self,
        method: str,
        url: str,
        *,
        params: dict[str, t.Any] | None = None,
        data: dict[str, str] | None = None,
        json_body: t.Any = None,
        headers: dict[str, str] | None = None,
        authenticated: bool = True,
        token_request: bool = False,
        raw: bool = False,
    ) -> Reply:
        """Send a request with retries; the JSON body (or bytes with `raw`) and headers."""
        extra_headers = headers
        body_bytes = None if json_body is None else orjson.dumps(json_body, default=str)
        if body_bytes is not None:
            extra_headers = {"Content-Type": "application/json", **(headers or {})}
        attempt = 0
        refreshed = False
        while True:
            self.limiter.acquire()
            sent_headers = dict(self.headers)
            if extra_headers:
                sent_headers.update(extra_headers)
            if authenticated and self.authenticator is not None:
                self.authenticator.apply_request(method, url, params, sent_headers)
            response: requests.Response | None = None
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    data=body_bytes if body_bytes is not None else data,
                    headers=sent_headers,
                    timeout=self.timeout,
                    verify=self.verify,
                    stream=True,  # the body is read below, in large chunks
                )
                status = response.status_code
                if status in {401, 403} and authenticated:
                    if not refreshed and self.authenticator is not None:
                        refreshed = True
                        if self.authenticator.refresh_on_unauthorized():
                            continue
                    msg = (
                        f"authentication failed for {self.base_url}: HTTP {status} "
                        f"{self.error_message(response)}"
                    )
                    raise AuthenticationError(msg)
                if token_request and status in {400, 401, 403}:
                    msg = (
                        f"authentication failed for {self.base_url}: token endpoint "
                        f"answered HTTP {status} {self.error_message(response)}"
                    )
                    raise AuthenticationError(msg)
                if status in self.retry_statuses:
                    retry_after = (
                        parse_retry_after(response.headers.get("Retry-After"), self.now)
                        if status in {429, 503}
                        else None
                    )
                    raise RetryableError(
                        f"HTTP {status} {self.error_message(response)}", retry_after=retry_after
                    )
                if status >= 400:
                    msg = (
                        f"HTTP {status} from {method} {self._clean(response.url)}: "
                        f"{self.error_message(response)}"
                    )
                    raise HTTPStatusError(msg, status=status)
                content = b"".join(response.iter_content(BODY_CHUNK_BYTES))
                if raw:
                    return Reply(content, response.headers, response.url or url)
                try:
                    body = orjson.loads(content)
                except orjson.JSONDecodeError as exc:
                    raise RetryableError(f"malformed JSON body ({exc})") from None
                self._check_body_error(body, method, response.url or url)
                return Reply(body, response.headers, response.url or url)
            except TRANSIENT_EXCEPTIONS as exc:
                error = RetryableError(describe_transport_error(exc, url))
            except RetryableError as exc:
                error = exc
            finally:
                if response is not None:
                    response.close()  # back to the pool once read; dropped if not
            attempt += 1
            if attempt > self.max_retries:
                msg = (
                    f"giving up on {method} {self._clean(url)} after {attempt} attempts: "
                    f"{self._clean(str(error))}"
                )
                raise TapERPError(msg)
            delay = error.retry_after if error.retry_after is not None else self.backoff(attempt)
            LOGGER.warning(
                "%s %s failed (%s); retry %d/%d in %.2fs",
                method,
                self._clean(url),
                self._clean(str(error))[:200],
                attempt,
                self.max_retries,
                delay,
            )
            self.sleep(delay)
