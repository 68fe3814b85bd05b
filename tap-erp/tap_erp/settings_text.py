"""Settings given as text (environment variables through an orchestrator), read as
the numbers their declaration says."""

from __future__ import annotations

import typing as t


def coerce_numeric_settings(config: dict[str, t.Any], schema: dict) -> None:
    """Turn numeric text into numbers for number and integer settings, in place.

    Orchestrators pass settings from environment variables as text (Meltano's
    `string` kind); "0.5" for a number setting means 0.5. Text that is not a number
    is left alone for validation to report.
    """
    for name, prop in schema.get("properties", {}).items():
        value = config.get(name)
        types = prop.get("type")
        types = {types} if isinstance(types, str) else set(types or ())
        if not isinstance(value, str) or not types & {"number", "integer"}:
            continue
        text = value.strip()
        if not text:
            config.pop(name)
            continue
        try:
            number = float(text)
        except ValueError:
            continue
        if "integer" in types and number.is_integer():
            config[name] = int(number)
        elif "number" in types:
            config[name] = number
