"""Signed authentication: OAuth 1.0a signatures against the specifications' published
examples, and the claims of the JWT client assertion (NetSuite's M2M flow)."""

from __future__ import annotations

import urllib.parse

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from singer_sdk.exceptions import ConfigValidationError
from tap_erp.auth_config import build_authenticator
from tap_erp.auth_jwt import JWT_BEARER, JwtClientCredentials, KeyFileError, load_private_key
from tap_erp.auth_oauth1 import OAuth1Auth, sign, signature_base_string
from tap_erp.profiles import load_profile

#: Published examples: (method, URL, parameters, base string, secrets, signature).
#: OAuth Core 1.0a, Appendix A.5.1-A.5.2 (https://oauth.net/core/1.0a/#sig_base_example);
#: RFC 5849, section 3.4.1.1 (https://www.rfc-editor.org/rfc/rfc5849#section-3.4.1.1),
#: whose base string the RFC prints (its signature is not computed from it).
PUBLISHED = {
    "OAuth Core 1.0a A.5": (
        "GET",
        "http://photos.example.net/photos",
        [
            ("file", "vacation.jpg"),
            ("size", "original"),
            ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
            ("oauth_token", "nnch734d00sl2jdk"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "1191242096"),
            ("oauth_nonce", "kllo9940pd9333jh"),
            ("oauth_version", "1.0"),
        ],
        "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26oauth_consumer_key"
        "%3Ddpf43f3p2l4k3l03%26oauth_nonce%3Dkllo9940pd9333jh%26oauth_signature_method%3DHMAC-"
        "SHA1%26oauth_timestamp%3D1191242096%26oauth_token%3Dnnch734d00sl2jdk%26oauth_version"
        "%3D1.0%26size%3Doriginal",
        ("kd94hf93k423kf44", "pfkkdhi9sl3r4s00"),
        "tR3+Ty81lMeYAr/Fid0kMTYa/WM=",
    ),
    "RFC 5849 3.4.1.1": (
        "POST",
        "http://example.com/request",
        [
            ("b5", "=%3D"),
            ("a3", "a"),
            ("c@", ""),
            ("a2", "r b"),
            ("c2", ""),
            ("a3", "2 q"),
            ("oauth_consumer_key", "9djdj82h48djs9d2"),
            ("oauth_token", "kkk9d7dh3k39sjv7"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "137131201"),
            ("oauth_nonce", "7d8f3e4a"),
        ],
        "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D"
        "%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce"
        "%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26"
        "oauth_token%3Dkkk9d7dh3k39sjv7",
        None,
        None,
    ),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_signature_base_string_and_signature_match_the_published_example(name):
    method, url, params, base, secrets, signature = PUBLISHED[name]
    assert signature_base_string(method, url, params) == base
    if secrets is not None:
        assert sign(base, *secrets, method="HMAC-SHA1") == signature


#: URLs that name the same base string URI (RFC 5849 3.4.1.2).
@pytest.mark.parametrize(
    "url",
    ["http://EXAMPLE.COM:80/request", "http://example.com/request?", "HTTP://example.com/request"],
)
def test_base_string_uri_drops_default_ports_and_case(url):
    assert signature_base_string("get", url, []) == "GET&http%3A%2F%2Fexample.com%2Frequest&"


def test_netsuite_tba_header_signs_query_and_oauth_parameters_with_hmac_sha256():
    auth = OAuth1Auth(
        consumer_key="ck",
        consumer_secret="cs",
        token_id="tk",
        token_secret="ts",
        realm="1234567_SB1",
        clock=lambda: 1_700_000_000,
        nonce=lambda: "n0nce",
    )
    headers: dict[str, str] = {}
    url = "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/query/v1/suiteql"
    auth.apply_request("POST", url, {"limit": 1000, "offset": 0}, headers)
    scheme, _, rest = headers["Authorization"].partition(" ")
    fields = {
        k.strip(): urllib.parse.unquote(v.strip('"'))
        for k, v in (p.split("=", 1) for p in rest.split(", "))
    }
    assert scheme == "OAuth"
    assert fields["realm"] == "1234567_SB1"
    assert fields["oauth_signature_method"] == "HMAC-SHA256"
    assert (fields["oauth_timestamp"], fields["oauth_nonce"]) == ("1700000000", "n0nce")
    signed = [(k, v) for k, v in fields.items() if k not in ("realm", "oauth_signature")]
    base = signature_base_string("POST", url, [*signed, ("limit", "1000"), ("offset", "0")])
    assert fields["oauth_signature"] == sign(base, "cs", "ts", "HMAC-SHA256")


def pem_file(tmp_path, key) -> str:
    path = tmp_path / "key.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(path)


#: key -> the algorithm the assertion is signed with by default.
KEYS = {
    "EC P-256": (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
    "EC P-384": (lambda: ec.generate_private_key(ec.SECP384R1()), "ES384"),
    "RSA 2048": (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "PS256"),
}


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_jwt_assertion_carries_netsuites_claims_and_verifies_with_the_public_key(tmp_path, kind):
    make, algorithm = KEYS[kind]
    key = make()
    token_url = "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/auth/oauth2/v1/token"
    auth = JwtClientCredentials(
        token_url=token_url,
        client_id="client-1",
        private_key=load_private_key(pem_file(tmp_path, key)),
        key_id="cert-1",
        base_url="https://1234567-sb1.suitetalk.api.netsuite.com",
        scope="rest_webservices",
        lifetime_seconds=300,
        wall_clock=lambda: 1_700_000_000,
    )
    form, headers = auth.token_form()
    assert headers == {}
    assert form["grant_type"] == "client_credentials"
    assert form["client_assertion_type"] == JWT_BEARER
    assertion = form["client_assertion"]
    assert jwt.get_unverified_header(assertion) == {"typ": "JWT", "alg": algorithm, "kid": "cert-1"}
    claims = jwt.decode(
        assertion,
        key.public_key(),
        algorithms=[algorithm],
        audience=token_url,
        options={"verify_exp": False},
    )
    assert claims == {
        "iss": "client-1",
        "aud": token_url,
        "scope": "rest_webservices",
        "iat": 1_700_000_000,
        "exp": 1_700_000_300,  # NetSuite: at most 60 minutes after iat
    }
    assert auth.secrets == (assertion,)  # kept out of messages


def netsuite_config(tmp_path, **extra) -> dict:
    key = ec.generate_private_key(ec.SECP256R1())
    return {
        "base_url": "https://1234567-sb1.suitetalk.api.netsuite.com",
        "client_id": "client-1",
        "private_key_file": pem_file(tmp_path, key),
        **extra,
    }


#: Bad key settings -> the one line the tap prints.
BAD_KEYS = {
    "missing file": ({"private_key_file": "/nonexistent/key.pem"}, "cannot read"),
    "not a key": ({"private_key_file": "{text}"}, "is not an unencrypted PEM private key"),
    "no key file": ({"private_key_file": ""}, "'private_key_file': required"),
}


@pytest.mark.parametrize("case", sorted(BAD_KEYS))
def test_a_bad_key_file_is_one_line_naming_the_setting(tmp_path, case):
    settings, message = BAD_KEYS[case]
    text = tmp_path / "text.pem"
    text.write_text("not a key\n")
    config = netsuite_config(tmp_path)
    config.update({k: v.replace("{text}", str(text)) for k, v in settings.items()})
    profile = load_profile("netsuite")
    with pytest.raises(ConfigValidationError) as raised:
        build_authenticator(config, profile, {"config": config})
    line = str(raised.value)
    assert "\n" not in line
    assert "private_key_file" in line
    assert message in line


def test_an_ec_key_cannot_sign_rsa_algorithms(tmp_path):
    key = load_private_key(netsuite_config(tmp_path)["private_key_file"])
    with pytest.raises(KeyFileError, match="cannot sign PS256"):
        JwtClientCredentials(
            token_url="https://x/token",
            client_id="c",
            private_key=key,
            key_id=None,
            base_url="https://x",
            algorithm="PS256",
        )


def test_netsuite_profile_offers_both_methods(tmp_path):
    profile = load_profile("netsuite")
    config = netsuite_config(
        tmp_path,
        consumer_key="ck",
        consumer_secret="cs",
        token_id="tk",
        token_secret="ts",
        account_id="1234567_SB1",
    )
    jwt_auth = build_authenticator(config, profile, {"config": config})
    assert isinstance(jwt_auth, JwtClientCredentials)
    assert jwt_auth.token_url.endswith("/services/rest/auth/oauth2/v1/token")
    assert jwt_auth.audience == jwt_auth.token_url
    tba = build_authenticator({**config, "auth_method": "tba"}, profile, {"config": config})
    assert isinstance(tba, OAuth1Auth)
    assert (tba.realm, tba.signature_method) == ("1234567_SB1", "HMAC-SHA256")
    assert set(tba.secrets) == {"cs", "ts"}
