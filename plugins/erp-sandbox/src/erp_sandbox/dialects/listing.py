"""Row listings of the RPC-style dialects (Frappe REST, Odoo): conditions and pages.

ERPNext filters and Odoo domains are lists of `[field, operator, value]`; conditions
on the entity set's change timestamp become store bounds (so a page costs what an
OData page costs), the others a predicate over the served row. Rows come in the
store's (change time, key) order or in key order, from `limit_start`/`offset`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from itertools import islice
from typing import Any

from starlette.responses import Response

from erp_sandbox.odata import engine
from erp_sandbox.odata.filter import Compiled, Predicate
from erp_sandbox.odata.model import BY_KEY, BY_REPLICATION_KEY, EntitySet

#: A condition: (field, operator, value).
Condition = tuple[str, str, Any]


class ListingError(ValueError):
    """A condition or order the dialect's server would refuse (its message)."""


def _plain(value: Any) -> Any:
    """A many2one pair compares by its id; false (no value) as null."""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], int):
        return value[0]
    return None if value is False else value


def test(op: str, want: Any) -> Callable[[Any], bool]:
    def ordered(cmp: Callable[[Any, Any], bool]) -> Callable[[Any], bool]:
        return lambda v: v is not None and want is not None and cmp(v, want)

    tests: dict[str, Callable[[Any], bool]] = {
        "=": lambda v: v == want or (want is False and v is None),
        "!=": lambda v: v != want and not (want is False and v is None),
        ">": ordered(lambda a, b: a > b),
        ">=": ordered(lambda a, b: a >= b),
        "<": ordered(lambda a, b: a < b),
        "<=": ordered(lambda a, b: a <= b),
        "in": lambda v: v in want or (v is None and False in want),
        "not in": lambda v: v not in want and not (v is None and False in want),
    }
    if op not in tests:
        raise ListingError(f"unsupported operator {op!r}; use one of {', '.join(tests)}")
    if op in ("in", "not in") and not isinstance(want, list):
        raise ListingError(f"operator {op!r} needs a list of values")
    return tests[op]


def compile_conditions(
    es: EntitySet,
    conditions: list[Condition],
    fields: set[str],
    instant_us: Callable[[Any], int],
) -> Compiled:
    """Bounds on the change timestamp (via `instant_us`) and a predicate for the rest."""
    since: int | None = None
    before: int | None = None
    preds: list[Predicate] = []
    for name, op, value in conditions:
        if name not in fields:
            raise ListingError(f"unknown field {name!r}")
        if name == es.replication_key and op in (">=", ">", "<", "<=", "="):
            us = instant_us(value)
            lo, hi = (us, us + 1)
            if op in (">=", "=", ">"):
                start = hi if op == ">" else lo
                since = start if since is None else max(since, start)
            if op in ("<", "<=", "="):
                end = lo if op == "<" else hi
                before = end if before is None else min(before, end)
            continue
        check = test(op.lower(), value)
        preds.append(lambda row, _m, n=name, f=check: f(_plain(row.get(n))))
    pred: Predicate | None = None
    if preds:
        pred = lambda row, mod: all(p(row, mod) for p in preds)  # noqa: E731
    return Compiled(
        since, before, pred, since is not None and before is not None and since >= before
    )


def order_mode(es: EntitySet, order: list[tuple[str, str]], key: str) -> str:
    """The store order an ORDER BY names: (change time, key) or key alone, ascending."""
    names = [(n, d) for n, d in order]
    if es.replication_key and names == [(es.replication_key, "asc"), (key, "asc")]:
        return BY_REPLICATION_KEY
    if names in ([(key, "asc")], []):
        return BY_KEY
    wanted = f"{es.replication_key} asc, {key} asc" if es.replication_key else f"{key} asc"
    raise ListingError(f"the sandbox serves the order {wanted!r} (or {key + ' asc'!r}) only")


def page(
    store: Any, es: EntitySet, compiled: Compiled, order: str, *, start: int, limit: int | None
) -> list[dict[str, Any]]:
    """Rows `start`..`start + limit` of the listing (every row from `start` when None)."""
    rows = engine.iterate(store, es, order, compiled, skip=start, chunk=(limit or 5000) + 1)
    return [item.row for item in (islice(rows, limit) if limit is not None else rows)]


def parse_order(text: str) -> list[tuple[str, str]]:
    """`modified asc, name asc` -> [(modified, asc), (name, asc)]."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        words = part.split()
        name = words[0].strip("`").split(".")[-1].strip("`")
        direction = words[1].lower() if len(words) > 1 else "asc"
        if direction not in ("asc", "desc") or len(words) > 2:
            raise ListingError(f"cannot read the order {part!r}")
        out.append((name, direction))
    return out


async def faults(ts: Any) -> Response | None:
    """The tenant's faults on one authenticated data request, as every tenant gets them:
    a change applied first (rows changing while the client pages), a delay, and 429 /
    5xx answers instead of the data (None: answer the request)."""
    decision = ts.faults.on_data_request()
    if decision.mutate is not None:
        ts.store.advance(decision.mutate)
    if decision.delay:
        await asyncio.sleep(decision.delay)
    if decision.status is None:
        return None
    headers = {}
    if decision.status == 429:
        ra = decision.retry_after or 0
        headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
    body = b'{"message": "injected fault"}'
    return Response(body, decision.status, headers=headers, media_type="application/json")
