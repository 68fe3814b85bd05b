"""Transport: retries, backoff, Retry-After, rate limit, authenticators."""

from __future__ import annotations

import datetime as dt
import email.utils

import pytest
import requests
from tap_erp.auth import ApiKeyAuth, BasicAuth, BearerAuth, OAuth2ClientCredentials
from tap_erp.errors import AuthenticationError, HTTPStatusError, TapERPError
from tap_erp.http import HttpClient, RateLimiter, describe_transport_error, parse_retry_after

from .fake_erp import FakeERP, FakeResponse

URL = FakeERP.BASE + "/api/v1/customers"
NOW = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


def client(fake, *, auth=None, max_retries=5, sleeps=None, **kwargs):
    sleeps = [] if sleeps is None else sleeps
    return HttpClient(
        base_url=FakeERP.BASE,
        authenticator=auth or ApiKeyAuth(header="X-API-Key", key="secret-key-1"),
        session=fake,
        max_retries=max_retries,
        backoff_base=1.0,
        backoff_max=8.0,
        sleep=sleeps.append,
        rand=lambda: 1.0,
        now=lambda: NOW,
        secrets=["secret-key-1"],
        error_message_paths=["error.message", "error"],
        **kwargs,
    )


def seeded():
    fake = FakeERP()
    fake.add("customers", 1, NOW, CardName="x")
    return fake


def ok_params():
    return {"offset": 0, "limit": 10}


def test_retries_5xx_timeouts_drops_and_malformed_bodies_with_backoff():
    fake = seeded()
    fake.faults = [
        FakeResponse(500, {"error": {"message": "boom"}}),
        FakeResponse(502, content=b"<html>bad gateway</html>"),
        requests.exceptions.ConnectionError("reset by peer"),
        requests.exceptions.ChunkedEncodingError("IncompleteRead(10 bytes read)"),
        requests.exceptions.ReadTimeout("timed out"),
        FakeResponse(200, content=b'{"value": [{"Cust'),
    ]
    sleeps = []
    http = client(fake, max_retries=6, sleeps=sleeps)
    body = http.get_json(URL, ok_params())
    assert body["value"][0]["CustomerKey"] == 1
    # full jitter with rand() = 1: the cap doubles from the base up to the maximum
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_every_response_is_closed_read_or_not():
    """Bodies are streamed: each response must give its connection back or up."""
    fake = seeded()
    faults = [
        FakeResponse(500, {"error": {"message": "boom"}}),
        FakeResponse(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "0"}),
        FakeResponse(200, content=b'{"value": [{"Cust'),
    ]
    fake.faults = list(faults)
    body = client(fake).get_json(URL, ok_params())
    assert body["value"][0]["CustomerKey"] == 1
    assert all(getattr(r, "closed", False) for r in faults)


def test_backoff_is_full_jitter():
    http = HttpClient(base_url="http://x", backoff_base=2, backoff_max=100, rand=lambda: 0.25)
    assert [http.backoff(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]


def test_429_honours_retry_after_seconds_and_http_date():
    fake = seeded()
    date = email.utils.format_datetime(NOW + dt.timedelta(seconds=7), usegmt=True)
    fake.faults = [
        FakeResponse(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "3"}),
        FakeResponse(429, {"error": {"message": "slow down"}}, headers={"Retry-After": date}),
    ]
    sleeps = []
    client(fake, sleeps=sleeps).get_json(URL, ok_params())
    assert sleeps == [3.0, 7.0]


def test_parse_retry_after():
    assert parse_retry_after("2.5", lambda: NOW) == 2.5
    assert parse_retry_after(None, lambda: NOW) is None
    assert parse_retry_after("garbage", lambda: NOW) is None
    past = email.utils.format_datetime(NOW - dt.timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(past, lambda: NOW) == 0.0


def test_gives_up_after_max_retries():
    fake = seeded()
    fake.faults = [FakeResponse(503, {"error": {"message": "down"}})] * 4
    sleeps = []
    with pytest.raises(TapERPError, match="after 4 attempts"):
        client(fake, max_retries=3, sleeps=sleeps).get_json(URL, ok_params())
    assert len(sleeps) == 3


def test_client_errors_are_not_retried():
    fake = seeded()
    fake.faults = [FakeResponse(400, {"error": {"message": "unknown parameter 'page'"}})]
    with pytest.raises(HTTPStatusError, match="unknown parameter 'page'") as info:
        client(fake).get_json(URL, ok_params())
    assert info.value.status == 400


def test_bad_api_key_is_an_authentication_error_without_secrets():
    fake = seeded()
    fake.auth = ("api_key", "other")
    fake.faults = [FakeResponse(401, {"error": {"message": "key secret-key-1 is not valid"}})]
    with pytest.raises(AuthenticationError) as info:
        client(fake).get_json(URL, ok_params())
    text = str(info.value)
    assert text.startswith(f"authentication failed for {FakeERP.BASE}: HTTP 401")
    assert "secret-key-1" not in text


@pytest.mark.parametrize(
    ("kind", "secret", "auth"),
    [
        ("api_key", "k1", ApiKeyAuth(header="X-API-Key", key="k1")),
        ("bearer", "pat-1", BearerAuth(token="pat-1")),
        ("basic", "user:pw", BasicAuth(username="user", password="pw")),
    ],
)
def test_static_auth_kinds(kind, secret, auth):
    fake = seeded()
    fake.auth = (kind, secret)
    assert client(fake, auth=auth).get_json(URL, ok_params())["value"]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def oauth(fake, clock, secret="cs"):
    auth = OAuth2ClientCredentials(
        token_url=FakeERP.BASE + "/oauth/token",
        client_id="cid",
        client_secret=secret,
        base_url=FakeERP.BASE,
        clock=clock,
    )
    http = client(fake, auth=auth)
    auth.bind(http.post_token)
    return http, auth


def test_oauth2_refreshes_before_expiry():
    fake = seeded()
    fake.auth = ("oauth2", "cs")
    fake.token_ttl = 100
    clock = Clock()
    http, auth = oauth(fake, clock)
    http.get_json(URL, ok_params())
    clock.now += 80  # before the 90 s refresh point: same token
    http.get_json(URL, ok_params())
    assert auth.tokens_fetched == 1
    clock.now += 15  # past 90 % of the lifetime: refreshed ahead of expiry
    fake.valid_tokens.clear()  # the old token would now be rejected
    http.get_json(URL, ok_params())
    assert auth.tokens_fetched == 2


def test_oauth2_refreshes_on_401_after_revocation():
    fake = seeded()
    fake.auth = ("oauth2", "cs")
    http, auth = oauth(fake, Clock())
    http.get_json(URL, ok_params())
    fake.valid_tokens.clear()  # revoke
    assert http.get_json(URL, ok_params())["value"]
    assert auth.tokens_fetched == 2


def test_oauth2_wrong_secret():
    fake = seeded()
    fake.auth = ("oauth2", "cs")
    http, _ = oauth(fake, Clock(), secret="wrong-secret")
    with pytest.raises(
        AuthenticationError, match="token endpoint answered HTTP 401 invalid_client"
    ):
        http.get_json(URL, ok_params())


def test_oauth2_persistent_401_fails_once_refreshed():
    fake = seeded()
    fake.auth = ("oauth2", "cs")
    http, auth = oauth(fake, Clock())
    fake.faults = [FakeResponse(401, {"error": {"message": "nope"}})] * 2
    with pytest.raises(AuthenticationError, match="HTTP 401 nope"):
        http.get_json(URL, ok_params())
    assert auth.tokens_fetched == 2


def test_rate_limiter_per_second_and_per_minute():
    clock = Clock()
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        clock.now += seconds

    limiter = RateLimiter(per_second=5, clock=clock, sleep=sleep)
    start = clock.now
    for _ in range(25):
        limiter.acquire()
    # a burst of 5, then one every 0.2 s
    assert clock.now - start == pytest.approx(4.0)

    limiter = RateLimiter(per_second=100, per_minute=6, clock=clock, sleep=sleep)
    start = clock.now
    for _ in range(4):
        limiter.acquire()
    assert clock.now - start == pytest.approx(30.0)  # every 10 s


def test_no_rate_limit_never_sleeps():
    limiter = RateLimiter(sleep=lambda s: pytest.fail("slept"))
    for _ in range(100):
        limiter.acquire()


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            requests.exceptions.ConnectionError(
                "HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: "
                "/x (Caused by NewConnectionError('Failed to establish a new connection: "
                "[Errno 111] Connection refused'))"
            ),
            "cannot reach 127.0.0.1:9: connection refused",
        ),
        (
            requests.exceptions.ConnectionError("[Errno -2] Name or service not known"),
            "cannot reach 127.0.0.1:9: host not found",
        ),
        (requests.exceptions.ReadTimeout("read timed out"), "timed out talking to 127.0.0.1:9"),
        (requests.exceptions.ChunkedEncodingError("x"), "response from 127.0.0.1:9 cut short"),
    ],
)
def test_transport_errors_read_as_one_short_cause(exc, expected):
    assert describe_transport_error(exc, "http://127.0.0.1:9/acme/items?x=1") == expected
