"""The authenticator a profile's auth method and the settings ask for.

Settings errors are one line naming the setting (`ConfigValidationError`).
"""

from __future__ import annotations

import typing as t

from singer_sdk.exceptions import ConfigValidationError

from tap_erp.auth import (
    ApiKeyAuth,
    Authenticator,
    BasicAuth,
    BearerAuth,
    LoginAuth,
    OAuth2ClientCredentials,
)
from tap_erp.auth_jwt import JwtClientCredentials, KeyFileError, load_private_key
from tap_erp.auth_oauth1 import OAuth1Auth
from tap_erp.dialect import spec

if t.TYPE_CHECKING:
    from tap_erp.profiles import Profile


def invalid(setting: str, message: str) -> ConfigValidationError:
    """A settings error: one line naming the setting."""
    text = f"setting '{setting}': {message}"
    return ConfigValidationError(text, errors=[text])


def _template_value(template: t.Any, values: dict[str, t.Any], where: str) -> str | None:
    """A config-only template (token URL, scope) rendered to text, or None."""
    from tap_erp.dialect.templates import MISSING, compile_template

    if template is None:
        return None
    value = compile_template(template, where, frozenset({"config"})).render(values)
    return None if value is MISSING else str(value)


def build_authenticator(
    config: t.Mapping[str, t.Any], profile: Profile, values: dict[str, t.Any]
) -> Authenticator:
    """The authenticator the settings and the profile ask for."""
    name = config.get("auth_method") or profile.default_auth_method
    if name not in profile.auth_methods:
        raise invalid(
            "auth_method",
            f"{name!r} is not offered by profile '{profile.name}'; use one of "
            f"{', '.join(profile.auth_methods)}",
        )
    method = profile.auth_methods[name]

    def need(*names: str) -> None:
        missing = [n for n in names if not config.get(n)]
        if missing:
            raise invalid(missing[0], f"required when auth_method is {name!r}")

    base_url = str(config["base_url"]).rstrip("/")
    if isinstance(method, spec.ApiKeyAuth):
        need("api_key")
        return ApiKeyAuth(
            header=config.get("api_key_header") or method.header, key=config["api_key"]
        )
    if isinstance(method, spec.BearerAuth):
        need("bearer_token")
        return BearerAuth(token=config["bearer_token"], header=method.header, prefix=method.prefix)
    if isinstance(method, spec.BasicAuth):
        need("username", "password")
        return BasicAuth(username=config["username"], password=config["password"])
    if isinstance(method, spec.LoginAuth):
        headers = profile.login_headers

        def render_headers(token: str) -> dict[str, str]:
            rendered = {k: tpl.render({**values, "token": token}) for k, tpl in headers.items()}
            return {k: str(v) for k, v in rendered.items() if isinstance(v, str | int)}

        return LoginAuth(render_headers=render_headers, expires_in=method.expires_in)
    if isinstance(method, spec.OAuth1Auth):
        need("consumer_key", "consumer_secret", "token_id", "token_secret")
        return OAuth1Auth(
            consumer_key=config["consumer_key"],
            consumer_secret=config["consumer_secret"],
            token_id=config["token_id"],
            token_secret=config["token_secret"],
            realm=_template_value(method.realm, values, f"auth.methods.{name}.realm"),
            signature_method=method.signature_method,
        )
    if isinstance(method, spec.JwtClientCredentialsAuth):
        need("client_id", "private_key_file")
        return _jwt(config, method, values, name, base_url)
    method = t.cast("spec.OAuth2Auth", method)
    need("client_id", "client_secret")
    where = f"auth.methods.{name}"
    token_url = config.get("token_url") or _template_value(
        method.token_url, values, f"{where}.token_url"
    )
    if not token_url:
        from tap_erp.dialect.templates import compile_template

        names = compile_template(method.token_url, where, frozenset({"config"})).names
        reads = sorted(n.split(".", 1)[1] for n in names)
        hint = f" (or set {', '.join(reads)}, which the profile's token URL reads)" if reads else ""
        raise invalid("token_url", f"required when auth_method is {name!r}{hint}")
    if not token_url.startswith(("http://", "https://")):
        token_url = f"{base_url}/{token_url.lstrip('/')}"
    return OAuth2ClientCredentials(
        token_url=token_url,
        client_id=config["client_id"],
        client_secret=config["client_secret"],
        base_url=base_url,
        scope=config.get("oauth_scope") or _template_value(method.scope, values, f"{where}.scope"),
        grant_type=method.grant_type,
        access_token_field=method.access_token_field,
        expires_in_field=method.expires_in_field,
        default_expires_in=float(method.default_expires_in),
        client_auth=method.client_auth,
    )


def _token_url(
    config: t.Mapping[str, t.Any], template: t.Any, values: dict[str, t.Any], where: str, name: str
) -> str:
    token_url = config.get("token_url") or _template_value(template, values, f"{where}.token_url")
    if not token_url:
        raise invalid("token_url", f"required when auth_method is {name!r}")
    if not token_url.startswith(("http://", "https://")):
        base_url = str(config["base_url"]).rstrip("/")
        token_url = f"{base_url}/{token_url.lstrip('/')}"
    return token_url


def _jwt(
    config: t.Mapping[str, t.Any],
    method: spec.JwtClientCredentialsAuth,
    values: dict[str, t.Any],
    name: str,
    base_url: str,
) -> JwtClientCredentials:
    """Client credentials with a JWT assertion signed with the key file's key."""
    where = f"auth.methods.{name}"
    token_url = _token_url(config, method.token_url, values, where, name)
    try:
        key = load_private_key(str(config["private_key_file"]))
        return JwtClientCredentials(
            token_url=token_url,
            client_id=config["client_id"],
            private_key=key,
            key_id=config.get("certificate_id") or None,
            base_url=base_url,
            algorithm=method.algorithm,
            scope=config.get("oauth_scope")
            or _template_value(method.scope, values, f"{where}.scope"),
            audience=_template_value(method.audience, values, f"{where}.audience"),
            lifetime_seconds=method.lifetime_seconds,
            default_expires_in=method.default_expires_in,
        )
    except KeyFileError as exc:
        text = str(exc)
        raise ConfigValidationError(text, errors=[text]) from None
