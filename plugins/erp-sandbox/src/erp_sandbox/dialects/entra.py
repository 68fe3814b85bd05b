"""An Entra ID (Azure AD) style OAuth2 token endpoint: client credentials with a scope.

`POST /{tenant}/oauth2/v2.0/token`, form `grant_type=client_credentials`,
`client_id`, `client_secret`, `scope`. Errors have Entra's shape:
`{"error": ..., "error_description": "AADSTS...: ...", "error_codes": [...], ...}`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response

from erp_sandbox.auth import parse_token_request
from erp_sandbox.dialects.common import ZERO_GUID

TOKEN_PATH = "oauth2/v2.0/token"


def _error(status: int, error: str, code: int, text: str) -> Response:
    body = {
        "error": error,
        "error_description": f"AADSTS{code}: {text}",
        "error_codes": [code],
        "timestamp": "2026-01-01 00:00:00Z",
        "trace_id": ZERO_GUID,
        "correlation_id": ZERO_GUID,
    }
    return Response(orjson.dumps(body), status, media_type="application/json")


async def token(
    request: Request, ts: Any, path: str, *, scope: str, default_ttl: float
) -> Response | None:
    """Answer a token request of tenant state `ts` (None when `path` is not the endpoint)."""
    if path != TOKEN_PATH:
        return None
    if request.method != "POST":
        return _error(405, "invalid_request", 900561, "The endpoint only accepts POST.")
    ts.requests["token"] += 1
    raw = await request.body()
    grant, client_id, secret = parse_token_request(raw, request.headers)
    asked = dict(parse_qsl(raw.decode("utf-8", "replace"))).get("scope")
    if grant is None:
        text = "The request body must contain the following parameter: 'grant_type'."
        return _error(400, "invalid_request", 900144, text)
    if grant != "client_credentials":
        text = f"The app requested an unsupported grant type '{grant}'."
        return _error(400, "unsupported_grant_type", 70003, text)
    known = dict(ts.tenant.oauth_clients)
    if client_id not in known:
        text = f"Application with identifier '{client_id}' was not found in the directory."
        return _error(400, "unauthorized_client", 700016, text)
    if known[client_id] != secret:
        return _error(401, "invalid_client", 7000215, "Invalid client secret provided.")
    if asked != scope:
        text = (
            f"The provided value for scope {asked or '(none)'} is not valid. Client credential "
            f"flows must have a scope value with /.default suffixed: {scope}"
        )
        return _error(400, "invalid_scope", 1002012, text)
    ttl = ts.faults.token_ttl
    ttl = default_ttl if ttl is None else ttl
    expires = int(ttl) if float(ttl).is_integer() else ttl
    body = {
        "token_type": "Bearer",
        "expires_in": expires,
        "ext_expires_in": expires,
        "access_token": ts.tokens.issue(ttl),
    }
    headers = {"Cache-Control": "no-store"}
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)
