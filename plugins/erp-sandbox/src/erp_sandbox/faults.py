"""Deterministic fault injection over a tenant's data requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ERROR_CODES = {
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


class FaultError(ValueError):
    """An invalid fault settings document."""


@dataclass
class Decision:
    """What to do with one data request."""

    delay: float = 0.0
    status: int | None = None  # 429 or 5xx instead of the answer
    retry_after: float | None = None
    drop: bool = False
    malformed: bool = False
    mutate: dict[str, Any] | None = None  # an `advance` change to apply first


def _every(spec: dict[str, Any], where: str) -> int:
    n = spec.get("every")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise FaultError(f"'{where}.every' must be an integer >= 1")
    return n


def _obj(settings: dict[str, Any], name: str) -> dict[str, Any] | None:
    spec = settings.get(name)
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise FaultError(f"'{name}' must be an object")
    return spec


def _number(value: Any, where: str, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise FaultError(f"'{where}' must be a non-negative number")
    return float(value)


KNOWN = {
    "rate_limit",
    "errors",
    "slow",
    "drop",
    "malformed",
    "token_ttl_seconds",
    "mutate_after_requests",
    "offset_ceiling",
}


class Faults:
    """The fault settings of one tenant and the counters that drive them."""

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        self.settings: dict[str, Any] = {}
        self.count = 0
        self.error_count = 0
        self.mutate_remaining: int | None = None
        self.mutate_change: dict[str, Any] | None = None
        if settings:
            self.replace(settings)

    def replace(self, settings: Any) -> None:
        """Validate and install new settings; counters restart from zero."""
        if not isinstance(settings, dict):
            raise FaultError("fault settings must be a JSON object")
        for name in settings:
            if name not in KNOWN:
                raise FaultError(f"unknown fault {name!r}")
        if (rl := _obj(settings, "rate_limit")) is not None:
            _every(rl, "rate_limit")
            _number(rl.get("retry_after"), "rate_limit.retry_after", 1)
        if (er := _obj(settings, "errors")) is not None:
            _every(er, "errors")
            burst = er.get("burst", 1)
            if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
                raise FaultError("'errors.burst' must be an integer >= 1")
            statuses = er.get("statuses", [500])
            if (
                not isinstance(statuses, list)
                or not statuses
                or not all(isinstance(s, int) and 400 <= s <= 599 for s in statuses)
            ):
                raise FaultError("'errors.statuses' must be a list of HTTP statuses 400-599")
        if (sl := _obj(settings, "slow")) is not None:
            _every(sl, "slow")
            _number(sl.get("seconds"), "slow.seconds", 1)
        for name in ("drop", "malformed"):
            if (spec := _obj(settings, name)) is not None:
                _every(spec, name)
        if "token_ttl_seconds" in settings:
            _number(settings["token_ttl_seconds"], "token_ttl_seconds", 300)
        ceiling = settings.get("offset_ceiling")
        if ceiling is not None and (
            isinstance(ceiling, bool) or not isinstance(ceiling, int) or ceiling < 1
        ):
            raise FaultError("'offset_ceiling' must be an integer >= 1")
        mutate = _obj(settings, "mutate_after_requests")
        after = None
        change = None
        if mutate is not None:
            after = mutate.get("after", 0)
            if isinstance(after, bool) or not isinstance(after, int) or after < 0:
                raise FaultError("'mutate_after_requests.after' must be a non-negative integer")
            change = mutate.get("change", {})
            if not isinstance(change, dict):
                raise FaultError("'mutate_after_requests.change' must be an object")
            change = {"seconds": 1, **change}
        self.settings = settings
        self.count = 0
        self.error_count = 0
        self.mutate_remaining = after
        self.mutate_change = change

    @property
    def token_ttl(self) -> float | None:
        """Lifetime of newly issued tokens, if overridden."""
        ttl = self.settings.get("token_ttl_seconds")
        return None if ttl is None else float(ttl)

    def on_data_request(self) -> Decision:
        """Advance the counters for one data request and decide its fate."""
        d = Decision()
        if self.mutate_remaining is not None:
            if self.mutate_remaining == 0:
                d.mutate = self.mutate_change
                self.mutate_remaining = None
                self.mutate_change = None
            else:
                self.mutate_remaining -= 1
        if not self.settings:
            return d
        self.count += 1
        n = self.count
        s = self.settings
        if (sl := s.get("slow")) and n % sl["every"] == 0:
            d.delay = float(sl.get("seconds", 1))
        if (rl := s.get("rate_limit")) and n % rl["every"] == 0:
            d.status = 429
            d.retry_after = float(rl.get("retry_after", 1))
            return d
        if er := s.get("errors"):
            every, burst = er["every"], er.get("burst", 1)
            if (n - 1) % (every + burst) >= every:
                statuses = er.get("statuses", [500])
                d.status = statuses[self.error_count % len(statuses)]
                self.error_count += 1
                return d
        if (dr := s.get("drop")) and n % dr["every"] == 0:
            d.drop = True
            return d
        if (ml := s.get("malformed")) and n % ml["every"] == 0:
            d.malformed = True
        return d
