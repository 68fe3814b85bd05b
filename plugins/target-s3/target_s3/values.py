"""Record values (as msgspec decodes them, numbers as exact Decimals) to column values.

Each converter returns the value its column stores, coercing only when that loses
nothing (``"7"`` → 7 for an integer, 12 → ``"12"`` for a string, ``1.500`` → 1.50 for
decimal(…,2)); otherwise it raises ``BadValueError`` with the reason, so the run
fails with one line naming stream, column and value. ``types`` picks the converter
of each column; ``convert`` uses them for batches the fast path rejects.
"""

from __future__ import annotations

import datetime as dt
import decimal
import typing as t
from collections.abc import Callable

import msgspec

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_DECIMAL_PRECISION = 38

json_encoder = msgspec.json.Encoder(decimal_format="number")
json_decoder = msgspec.json.Decoder(float_hook=decimal.Decimal)


class BadValueError(ValueError):
    """A value that cannot be stored in its column without losing data."""

    def __init__(self, reason: str, path: str = "") -> None:
        """Keep the reason and the nested path (filled while unwinding)."""
        super().__init__(reason)
        self.reason = reason
        self.path = path


Converter = Callable[[t.Any], t.Any]


def json_text(value: t.Any) -> str | None:
    """Compact JSON text of a decoded value (numbers keep their exact digits)."""
    if value is None:
        return None
    return json_encoder.encode(value).decode()


def _short(value: t.Any) -> str:
    text = str(value) if isinstance(value, decimal.Decimal | int) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def to_string(value: t.Any) -> str | None:
    """A string column: scalars as their text, other values as JSON text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, decimal.Decimal, float)):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return json_text(value)


def _to_int(value: t.Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadValueError(f"boolean {value} is not an integer")
    if isinstance(value, int):
        return value
    try:
        number = decimal.Decimal(value.strip() if isinstance(value, str) else str(value))
    except (decimal.InvalidOperation, ValueError, AttributeError):
        raise BadValueError(f"{_short(value)} is not an integer") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise BadValueError(f"{_short(value)} is not an integer")
    return int(number)


def to_int64(value: t.Any) -> int | None:
    """An int64 column: integral values only, within the int64 range."""
    number = _to_int(value)
    if number is not None and not INT64_MIN <= number <= INT64_MAX:
        raise BadValueError(
            f"integer {number} is outside the int64 range; declare 'maximum'/'minimum' "
            "in the stream schema to store it as decimal(38,0) or text"
        )
    return number


def bigint_decimal(value: t.Any) -> decimal.Decimal | None:
    """A decimal(38, 0) column: integers of up to 38 digits."""
    number = _to_int(value)
    if number is None:
        return None
    if len(str(abs(number))) > MAX_DECIMAL_PRECISION:
        raise BadValueError(f"integer {number} has more than 38 digits")
    return decimal.Decimal(number)


def bigint_text(value: t.Any) -> str | None:
    """An integer beyond 38 digits, kept as its text."""
    number = _to_int(value)
    return None if number is None else str(number)


def to_float(value: t.Any) -> float | None:
    """A float64 column."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadValueError(f"boolean {value} is not a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise BadValueError(f"{_short(value)} is not a number") from None


def decimal_converter(precision: int, scale: int) -> Converter:
    """Converter of a decimal(precision, scale) column: exact, never rounded."""
    quantum = decimal.Decimal(1).scaleb(-scale)
    limit = decimal.Decimal(10) ** (precision - scale)
    context = decimal.Context(prec=200)

    def convert(value: t.Any) -> decimal.Decimal | None:
        if value is None:
            return None
        if isinstance(value, bool):
            raise BadValueError(f"boolean {value} is not a number")
        try:
            number = decimal.Decimal(value.strip() if isinstance(value, str) else str(value))
        except (decimal.InvalidOperation, ValueError, AttributeError):
            raise BadValueError(f"{_short(value)} is not a number") from None
        if not number.is_finite():
            raise BadValueError(f"{value} cannot be stored as decimal({precision},{scale})")
        exact = number.quantize(quantum, context=context)
        if exact != number:
            raise BadValueError(
                f"{value} has more than {scale} decimal places "
                f"(column is decimal({precision},{scale}) from the schema's multipleOf)"
            )
        if abs(exact) >= limit:
            raise BadValueError(f"{value} does not fit decimal({precision},{scale})")
        return exact

    return convert


def number_text(value: t.Any) -> str | None:
    """A number beyond decimal128, kept as its exact text."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadValueError(f"boolean {value} is not a number")
    return str(value)


def to_bool(value: t.Any) -> bool | None:
    """A bool column (``true``/``false`` text accepted)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise BadValueError(f"{_short(value)} is not a boolean")


def to_timestamp(value: t.Any) -> dt.datetime | None:
    """A UTC timestamp: offsets converted, naive values taken as UTC."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise BadValueError(f"{_short(value)} is not an ISO 8601 date-time") from None
    else:
        raise BadValueError(f"{_short(value)} is not an ISO 8601 date-time")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:
        raise BadValueError(f"{_short(value)} is outside 0001-01-01..9999-12-31 UTC") from None


def to_date(value: t.Any) -> dt.date | None:
    """A date32 column (the date of a date-time)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise BadValueError(f"{_short(value)} is not an ISO 8601 date")


def struct_converter(children: dict[str, Converter]) -> Converter:
    """Converter of an object with known properties (nested paths in errors)."""
    items = list(children.items())

    def convert(value: t.Any) -> dict | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise BadValueError(f"{_short(value)} is not an object")
        out = {}
        for name, conv in items:
            try:
                out[name] = conv(value.get(name))
            except BadValueError as exc:
                exc.path = f"{name}.{exc.path}" if exc.path else name
                raise
        return out

    return convert


def list_converter(conv: Converter) -> Converter:
    """Converter of an array whose items all convert with ``conv``."""

    def convert(value: t.Any) -> list | None:
        if value is None:
            return None
        if not isinstance(value, list):
            raise BadValueError(f"{_short(value)} is not an array")
        return [conv(v) for v in value]

    return convert
