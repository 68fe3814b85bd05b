"""The Singer SDK's standard tap tests, against a sandbox tenant."""

from __future__ import annotations

import atexit
import decimal
import json

import pytest

testing = pytest.importorskip("erp_sandbox.testing")

from jsonschema import Draft7Validator  # noqa: E402
from singer_sdk.testing import SuiteConfig, get_tap_test_class  # noqa: E402
from tap_erp.tap import TapERP  # noqa: E402

# The SDK builds the test class (and instantiates the tap, which discovers the
# tenant's custom fields) while collecting, so the server starts at import.
_context = testing.sandbox_server(orders=300, seed=3, tenants="acme")
_server = _context.__enter__()
atexit.register(_context.__exit__, None, None, None)

CONFIG = {
    "base_url": _server.tenant_url("acme"),
    "api_key": testing.CREDENTIALS["acme"]["api_key"],
    "page_size": 50,
}

_StandardTests = get_tap_test_class(
    TapERP,
    config=CONFIG,
    suite_config=SuiteConfig(max_records_limit=120),
)


class TestTapERP(_StandardTests):
    """Standard tests, with one replaced (see below)."""

    def test_tap_stream_record_matches_stream_schema(self, stream, runner):
        """Records validate against the stream schema, decimals compared exactly.

        The SDK's version validates ``multipleOf: 0.01`` with float division, which
        rejects exact two-decimal values such as 0.07 (0.07 / 0.01 = 7.000000000000001).
        Here the schema and the record travel as JSON and are read back with
        ``Decimal`` numbers, as a loader reads them.
        """
        schema = json.loads(json.dumps(stream.schema), parse_float=decimal.Decimal)
        validator = Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)
        records = runner.records[stream.name]
        assert records
        for record in records:
            exact = json.loads(json.dumps(record), parse_float=decimal.Decimal)
            errors = [f"{e.message} at {list(e.path)}" for e in validator.iter_errors(exact)]
            assert not errors, errors
