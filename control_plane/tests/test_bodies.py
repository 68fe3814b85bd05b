"""What a connection or pipeline body accepts (the API answers 422 for the rest)."""

from __future__ import annotations

import pytest
from erp_control_plane.bodies import ConnectionIn, PipelineIn
from pydantic import ValidationError

CONNECTION = {"client": "hooli", "profile": "erp_sandbox", "base_url": "https://erp.example/x/"}
PIPELINE = {"connection_id": "a" * 32, "bucket": "lake-1", "prefix": "clients/eu"}


def test_a_good_connection_keeps_its_values_and_drops_the_trailing_slash():
    body = ConnectionIn(**CONNECTION, secrets={"api_key": "k"}, settings={"page_size": 10})
    assert body.base_url == "https://erp.example/x"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"client": "Hooli"}, "client"),
        ({"client": "a/b"}, "client"),
        ({"client": "a b"}, "client"),
        ({"client": "x" * 41}, "client"),
        ({"profile": "../profiles/x"}, "profile"),
        ({"base_url": "javascript:alert(1)"}, "base_url"),
        ({"base_url": "http://h:99999/"}, "base_url"),
        ({"secrets": {"api_key": ""}}, "secrets"),
        ({"settings": {"profile": "tryton"}}, "settings"),
        ({"settings": {"api_key": "in the clear"}}, "settings"),
    ],
)
def test_a_bad_connection_names_its_field(change, field):
    with pytest.raises(ValidationError) as caught:
        ConnectionIn(**{**CONNECTION, **change})
    assert [e["loc"][0] for e in caught.value.errors()] == [field]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"prefix": "a//b"}, "prefix"),
        ({"prefix": "/abs"}, "prefix"),
        ({"bucket": "x"}, "bucket"),
        ({"streams": ["Orders;"]}, "streams"),
        ({"schedule": "61 * * * *"}, "schedule"),
        ({"endpoint_url": "s3://bucket"}, "endpoint_url"),
    ],
)
def test_a_bad_pipeline_names_its_field(change, field):
    with pytest.raises(ValidationError) as caught:
        PipelineIn(**{**PIPELINE, **change})
    assert caught.value.errors()[0]["loc"][0] == field


def test_an_auth_method_must_be_the_profiles():
    ConnectionIn(**CONNECTION, auth_method="oauth2").check_auth_method()
    with pytest.raises(ValueError, match="auth_method: one of"):
        ConnectionIn(**CONNECTION, auth_method="saml").check_auth_method()
