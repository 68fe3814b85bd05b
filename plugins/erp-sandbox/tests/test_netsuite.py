"""Tenant `heron`: NetSuite's SuiteQL, paging limits, value formats, error envelope and
both logins (a JWT assertion checked with the certificate's key; TBA signatures)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.parse
from pathlib import Path

import jwt
import pytest
import requests
from erp_sandbox.testing import CREDENTIALS

CREDS = CREDENTIALS["heron"]
KEYS = Path(CREDS["private_key_file"]).parent
SUITEQL = "services/rest/query/v1/suiteql"
TOKEN = "services/rest/auth/oauth2/v1/token"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def assertion(sb, **changes) -> str:
    """A client assertion as NetSuite documents it; `changes` override claims or key."""
    now = int(time.time())
    claims = {
        "iss": CREDS["client_id"],
        "scope": "restlets,rest_webservices",
        "aud": f"{sb.tenant_url('heron')}/{TOKEN}",
        "iat": now,
        "exp": now + 3600,
    }
    key = (KEYS / changes.pop("key", "heron-m2m.pem")).read_text()
    kid = changes.pop("kid", CREDS["certificate_id"])
    claims.update(changes)
    return jwt.encode(claims, key, "ES256", headers={"kid": kid, "typ": "JWT"})


def token_answer(sb, signed: str) -> requests.Response:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": signed,
    }
    return requests.post(f"{sb.tenant_url('heron')}/{TOKEN}", data=form, timeout=30)


@pytest.fixture
def bearer(sb) -> dict[str, str]:
    answer = token_answer(sb, assertion(sb))
    assert answer.status_code == 200, answer.text
    assert answer.json()["token_type"] == "bearer"
    return {"Authorization": f"Bearer {answer.json()['access_token']}", "Prefer": "transient"}


def query(sb, headers: dict, q: str, limit: int = 1000, offset: int = 0) -> requests.Response:
    url = f"{sb.tenant_url('heron')}/{SUITEQL}?limit={limit}&offset={offset}"
    return requests.post(url, json={"q": q}, headers=headers, timeout=60)


def detail(answer: requests.Response) -> str:
    body = answer.json()
    assert set(body) == {"type", "title", "status", "o:errorDetails"}
    return body["o:errorDetails"][0]["detail"]


#: SuiteQL outside what the sandbox (or NetSuite) serves -> the error's detail.
REFUSED = {
    "unknown table": ("SELECT id FROM nothing", "Record 'nothing' was not found"),
    "unknown column": ("SELECT nope FROM customer", "Field 'nope' for record 'customer'"),
    "ambiguous column": (
        "SELECT memo FROM transactionline tl INNER JOIN transaction t ON tl.transaction = t.id",
        "Column 'memo' is ambiguous",
    ),
    "other order": ("SELECT id FROM customer ORDER BY companyname", "serves ORDER BY"),
    "datetime as text": (
        "SELECT id FROM customer WHERE lastmodifieddate >= '2024-01-01'",
        "TO_TIMESTAMP",
    ),
    "not a select": ("DELETE FROM customer", "expected SELECT"),
    "or": ("SELECT id FROM customer WHERE id = 1 OR id = 2", "does not serve 'OR'"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_queries_outside_the_subset_get_netsuites_error_envelope(sb, bearer, case):
    q, message = REFUSED[case]
    answer = query(sb, bearer, q)
    assert answer.status_code == 400
    assert message in detail(answer)


#: (limit, offset) -> the error's detail; the ceiling is 100,000 rows a query.
PAGING = {
    "limit above 1,000": (1001, 0, "between 1 and 1000"),
    "offset not a multiple of the limit": (10, 5, "multiple of 10"),
    "past the offset ceiling": (1000, 100_000, "must not exceed 100,000"),
}


@pytest.mark.parametrize("case", sorted(PAGING))
def test_paging_limits(sb, bearer, case):
    limit, offset, message = PAGING[case]
    answer = query(sb, bearer, "SELECT id FROM transaction", limit=limit, offset=offset)
    assert answer.status_code == 400
    assert message in detail(answer)


def test_a_page_has_netsuites_envelope_and_value_formats(sb, bearer):
    q = (
        "SELECT id, lastmodifieddate AS shown, TO_CHAR(lastmodifieddate, "
        "'YYYY-MM-DD HH24:MI:SS') AS exact, memo, BUILTIN.DF(currency) AS code "
        "FROM transaction WHERE type = 'SalesOrd' AND lastmodifieddate >= "
        "TO_TIMESTAMP('2023-07-01 00:00:00', 'YYYY-MM-DD HH24:MI:SS') "
        "ORDER BY lastmodifieddate, id"
    )
    body = query(sb, bearer, q, limit=10, offset=10).json()
    assert set(body) == {"links", "count", "hasMore", "items", "offset", "totalResults"}
    assert (body["count"], body["offset"], body["hasMore"]) == (10, 10, True)
    assert body["links"][0]["rel"] == "next"
    assert "offset=20" in body["links"][0]["href"]
    item = body["items"][0]
    month, day, year = item["shown"].split("/")  # the account's date format, date only
    assert item["exact"].startswith(f"{year}-{int(month):02d}-{int(day):02d} ")
    assert item["exact"] >= "2023-07-01 00:00:00"  # Pacific local time, to the second
    assert len(item["code"]) == 3
    nulls = [i for i in query(sb, bearer, q).json()["items"] if "memo" not in i]
    assert nulls  # null columns are left out of items


def tba_header(method: str, url: str, token_secret: str = CREDS["token_secret"]) -> str:
    """RFC 5849 HMAC-SHA256, written out here independently of the sandbox's code."""
    oauth = {
        "oauth_consumer_key": CREDS["consumer_key"],
        "oauth_token": CREDS["token_id"],
        "oauth_signature_method": "HMAC-SHA256",
        "oauth_timestamp": str(int(time.time())),
        "oauth_nonce": "abc123",
        "oauth_version": "1.0",
    }
    parts = urllib.parse.urlsplit(url)
    params = [*oauth.items(), *urllib.parse.parse_qsl(parts.query)]
    quote = lambda s: urllib.parse.quote(s, safe="~-._")  # noqa: E731
    norm = "&".join(f"{k}={v}" for k, v in sorted((quote(k), quote(v)) for k, v in params))
    base_uri = f"{parts.scheme}://{parts.netloc}{parts.path}"
    base = "&".join((method, quote(base_uri), quote(norm)))
    key = f"{quote(CREDS['consumer_secret'])}&{quote(token_secret)}".encode()
    oauth["oauth_signature"] = base64.b64encode(
        hmac.new(key, base.encode(), hashlib.sha256).digest()
    ).decode()
    fields = [("realm", CREDS["account_id"]), *oauth.items()]
    return "OAuth " + ", ".join(f'{k}="{quote(v)}"' for k, v in fields)


@pytest.mark.parametrize(("secret", "status"), [(CREDS["token_secret"], 200), ("wrong", 401)])
def test_tba_signatures_are_checked(sb, secret, status):
    url = f"{sb.tenant_url('heron')}/{SUITEQL}?limit=5&offset=0"
    headers = {"Authorization": tba_header("POST", url, secret), "Prefer": "transient"}
    answer = requests.post(url, json={"q": "SELECT id FROM vendor"}, headers=headers, timeout=30)
    assert answer.status_code == status
    if status == 401:
        assert detail(answer).startswith("Invalid login attempt.")


#: A client assertion's fault -> (status, OAuth error).
ASSERTIONS = {
    "signed with another key": ({"key": "not-heron.pem"}, 401, "invalid_client"),
    "unknown certificate": ({"kid": "nope"}, 401, "invalid_client"),
    "another audience": ({"aud": "https://elsewhere/token"}, 400, "invalid_request"),
    "lives over an hour": ({"exp": int(time.time()) + 7200}, 400, "invalid_request"),
    "expired": ({"iat": 1_600_000_000, "exp": 1_600_000_300}, 400, "invalid_grant"),
    "another client": ({"iss": "someone"}, 401, "invalid_client"),
}


@pytest.mark.parametrize("case", sorted(ASSERTIONS))
def test_client_assertions_are_verified(sb, case):
    changes, status, error = ASSERTIONS[case]
    answer = token_answer(sb, assertion(sb, **changes))
    assert answer.status_code == status
    assert answer.json()["error"] == error


def test_metadata_catalog_lists_custom_fields(sb, bearer):
    url = f"{sb.tenant_url('heron')}/services/rest/record/v1/metadata-catalog/inventoryitem"
    answer = requests.get(url, headers={**bearer, "Accept": "application/schema+json"}, timeout=30)
    props = answer.json()["properties"]
    assert props["custitem_hazardous"]["type"] == "boolean"
    assert props["lastmodifieddate"]["format"] == "date-time"
