"""NetSuite (SuiteTalk REST): SuiteQL queries, the record metadata catalog, the token endpoint.

As Oracle documents it: `POST /services/rest/query/v1/suiteql?limit=&offset=` with
`Prefer: transient` and `{"q": "SELECT ..."}` answers `{"links", "count", "hasMore",
"items", "offset", "totalResults"}`; at most 1,000 rows a page and 100,000 rows
(offset + limit) a query; items leave out null columns; datetimes and dates come in
the account's date format (M/D/YYYY) unless a query formats them with TO_CHAR, in
the account's time zone; checkboxes are 'T'/'F'. Errors are
`{"type", "title", "status", "o:errorDetails": [{"detail", "o:errorCode"}]}`.
Custom fields (`custbody_...`, `custentity_...`, `custitem_...`) are in the
metadata catalog (`/services/rest/record/v1/metadata-catalog/<record>`, Accept
`application/schema+json`). The sandbox also asks that offset be a multiple of limit.
"""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response

from erp_sandbox.dialects import netsuite_auth, netsuite_tables
from erp_sandbox.dialects.suiteql import Column, Query, SuiteQLError, Timestamp, parse
from erp_sandbox.odata import engine
from erp_sandbox.odata.filter import Compiled
from erp_sandbox.odata.handler import Dialect
from erp_sandbox.odata.model import BY_KEY, BY_REPLICATION_KEY, Batch
from erp_sandbox.tenants import Tenant

UTC = datetime.UTC
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)
MAX_LIMIT = 1000
OFFSET_CEILING = 100_000
SUITEQL = "services/rest/query/v1/suiteql"
CATALOG = "services/rest/record/v1/metadata-catalog/"
ORACLE_FORMATS = (("HH24", "%H"), ("YYYY", "%Y"), ("MM", "%m"), ("DD", "%d"), ("MI", "%M"))
ORACLE_FORMATS += (("SS", "%S"), ('"T"', "T"))


RFC9110 = "https://www.rfc-editor.org/rfc/rfc9110.html"


def error(status: int, code: str, detail: str) -> Response:
    """NetSuite's error envelope."""
    titles = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests"}
    body = {
        "type": f"{RFC9110}#section-15.{5 if status < 500 else 6}",
        "title": titles.get(status, "Internal Server Error"),
        "status": status,
        "o:errorDetails": [{"detail": detail, "o:errorCode": code}],
    }
    return Response(orjson.dumps(body), status, media_type="application/vnd.oracle.resource+json")


def _zone(tenant: Tenant) -> datetime.tzinfo:
    return zoneinfo.ZoneInfo(tenant.timezone or "UTC")


def _strftime(oracle: str) -> str:
    for ours, theirs in ORACLE_FORMATS:
        oracle = oracle.replace(ours, theirs)
    return oracle


def instant_us(value: Timestamp, zone: datetime.tzinfo) -> int:
    """TO_TIMESTAMP('...', '...') in the account's zone -> epoch microseconds."""
    try:
        naive = datetime.datetime.strptime(value.text, _strftime(value.format))
    except ValueError:
        msg = f"Invalid search query. '{value.text}' does not match the format '{value.format}'"
        raise SuiteQLError(msg) from None
    return (naive.replace(tzinfo=zone) - EPOCH) // datetime.timedelta(microseconds=1)


def _written(value: Any, kind: str, to_char: str | None, zone: datetime.tzinfo) -> Any:
    """A value as NetSuite writes it: dates in the account's format unless TO_CHAR'd."""
    if kind == "datetime":
        when = (EPOCH + datetime.timedelta(microseconds=value)).astimezone(zone)
    elif kind == "date":
        when = datetime.datetime.fromisoformat(value)
    else:
        return str(value) if to_char is not None else value
    if to_char is not None:
        return when.strftime(_strftime(to_char))
    return f"{when.month}/{when.day}/{when.year}"


class _Plan:
    """A query resolved against the tenant's tables."""

    def __init__(self, tenant: Tenant, query: Query) -> None:
        self.tables = netsuite_tables.tables(tenant)
        self.query = query
        self.scope: dict[str, str] = {}
        self._add(query.table, query.alias)
        self.driving = query.table
        if query.join is not None:
            jtable, jalias, left, right = query.join
            self._add(jtable, jalias)
            on = {self.resolve(left), self.resolve(right)}
            if {query.table, jtable} != {"transaction", "transactionline"} or on != {
                ("transactionline", "transaction"),
                ("transaction", "id"),
            }:
                msg = (
                    "Invalid search query. The sandbox joins "
                    "transactionline.transaction = transaction.id only"
                )
                raise SuiteQLError(msg)
            self.driving = "transaction"

    def _add(self, table: str, alias: str | None) -> None:
        if table not in self.tables:
            msg = f"Invalid search query. Search error occurred: Record '{table}' was not found."
            raise SuiteQLError(msg)
        self.scope[alias or table] = table
        self.scope.setdefault(table, table)

    def resolve(self, column: Column) -> tuple[str, str]:
        """(table, column) of a column reference."""
        if column.alias is not None:
            table = self.scope.get(column.alias)
            if table is None:
                raise SuiteQLError(f"Invalid search query. Unknown identifier '{column.alias}'")
            found = [table] if column.name in self.tables[table].columns else []
        else:
            found = sorted(
                {t for t in self.scope.values() if column.name in self.tables[t].columns}
            )
        if len(found) > 1:
            raise SuiteQLError(f"Invalid search query. Column '{column.name}' is ambiguous")
        if not found:
            table = self.scope.get(column.alias or "", self.query.table)
            msg = (
                "Invalid search query. Search error occurred: Field "
                f"'{column.name}' for record '{table}' was not found. Reason: NOT_EXPOSED - "
                "Not available for channel SUITEQL"
            )
            raise SuiteQLError(msg)
        return found[0], column.name

    def kind(self, ref: tuple[str, str]) -> str:
        return self.tables[ref[0]].columns[ref[1]]


def _test(op: str, want: Any) -> Any:
    ops = {
        "=": lambda v: v == want,
        "!=": lambda v: v != want,
        "<": lambda v: v is not None and v < want,
        "<=": lambda v: v is not None and v <= want,
        ">": lambda v: v is not None and v > want,
        ">=": lambda v: v is not None and v >= want,
    }
    return ops[op]


def _rows(ts: Any, plan: _Plan) -> list[dict[str, dict[str, Any]]]:
    """Every row of the query, filtered and in its order, as {table: row}."""
    tenant: Tenant = ts.tenant
    zone = _zone(tenant)
    driving = plan.tables[plan.driving]
    since: int | None = None
    before: int | None = None
    tests = []
    for cond in plan.query.where:
        ref = plan.resolve(cond.column)
        value = cond.value
        if plan.kind(ref) == "datetime":
            if not isinstance(value, Timestamp):
                raise SuiteQLError(
                    f"Invalid search query. Compare '{ref[1]}' with TO_TIMESTAMP('...', '...')"
                )
            value = instant_us(value, zone)
        if ref == (plan.driving, driving.replication_key) and cond.op in (">=", ">", "<", "<="):
            # Store bounds: since inclusive, before exclusive (microseconds).
            if cond.op in (">=", ">"):
                start = value + 1 if cond.op == ">" else value
                since = start if since is None else max(since, start)
            else:
                end = value + 1 if cond.op == "<=" else value
                before = end if before is None else min(before, end)
            continue
        tests.append((ref, _test(cond.op, value)))
    order = [(plan.resolve(c), d) for c, d in plan.query.order]
    main = plan.tables[plan.query.table]
    keys = [((main.name, k), "asc") for k in main.key]
    by_rep = bool(driving.replication_key) and order == [
        ((plan.driving, driving.replication_key), "asc"),
        *keys,
    ]
    if not by_rep and order not in ([], keys):
        wanted = (
            f"{driving.replication_key}, {', '.join(main.key)}" if driving.replication_key else ""
        )
        raise SuiteQLError(
            f"Invalid search query. The sandbox serves ORDER BY {wanted or ', '.join(main.key)}"
            + (f" or {', '.join(main.key)}" if wanted else "")
        )
    sets = netsuite_tables.entity_sets(tenant)
    compiled = Compiled(
        since, before, None, since is not None and before is not None and since >= before
    )
    mode = BY_REPLICATION_KEY if by_rep else BY_KEY
    items = engine.iterate(ts.store, sets[plan.driving], mode, compiled, chunk=5000)
    if plan.query.join is None:
        rows = [{main.name: item.row} for item in items]
    else:
        rows = _joined(ts, list(items), by_rep)
    return [r for r in rows if all(test(r[t].get(c)) for (t, c), test in tests)]


def _joined(ts: Any, orders: list[Any], by_rep: bool) -> list[dict[str, dict[str, Any]]]:
    """Lines of the given orders with their order, by (order change time, line key)."""
    lines_of = ts.store.order_lines([item.idx for item in orders])
    flat = [li for item in orders for li in lines_of.get(item.idx, [])]
    if not flat:
        return []
    idx = np.array(flat, dtype=np.int64)
    rows, mods, vers = ts.store.render_meta("sales_order_lines", idx)
    projected = netsuite_tables.LAYOUT["transactionline"][4](
        ts.tenant, Batch(ts.store, idx, rows, mods, vers)
    )
    by_order = {item.row["id"]: item.row for item in orders}
    out = [{"transaction": by_order[ln["transaction"]], "transactionline": ln} for ln in projected]
    if by_rep:
        out.sort(
            key=lambda r: (r["transaction"]["lastmodifieddate"], r["transactionline"]["uniquekey"])
        )
    else:
        out.sort(key=lambda r: r["transactionline"]["uniquekey"])
    return out


def _items(plan: _Plan, rows: list[dict[str, dict[str, Any]]], zone: datetime.tzinfo) -> list[dict]:
    out_columns: list[tuple[str, tuple[str, str], str | None, bool]] = []
    for sel in plan.query.select:
        if sel.column is None:
            table = plan.tables[plan.query.table]
            out_columns += [(c, (table.name, c), None, False) for c in table.columns]
            continue
        out_columns.append((sel.output, plan.resolve(sel.column), sel.to_char, sel.display))
    items = []
    for row in rows:
        item: dict[str, Any] = {"links": []}
        for name, (table, column), to_char, display in out_columns:
            value = row[table].get(column)
            if display:  # BUILTIN.DF: the display text (list values), else the value as text
                value = row[table].get(f"_df_{column}", value)
                item[name] = None if value is None else str(value)
                if value is None:
                    del item[name]
                continue
            if value is not None:
                item[name] = _written(value, plan.tables[table].columns[column], to_char, zone)
        items.append(item)
    return items


def _int_param(request: Request, name: str, default: int) -> int:
    text = request.query_params.get(name)
    try:
        return default if text in (None, "") else int(text)
    except ValueError:
        raise SuiteQLError(f"Invalid '{name}' query parameter value: {text}") from None


def _suiteql(ts: Any, request: Request, body: Any) -> Response:
    if "transient" not in request.headers.get("prefer", "").lower():
        return error(400, "INVALID_HEADER", "SuiteQL queries need the header 'Prefer: transient'.")
    limit = _int_param(request, "limit", MAX_LIMIT)
    offset = _int_param(request, "offset", 0)
    ceiling = int(ts.faults.settings.get("offset_ceiling") or OFFSET_CEILING)
    wrong = None
    if not 1 <= limit <= MAX_LIMIT:
        wrong = f"'limit' query parameter value: {limit}. It must be between 1 and {MAX_LIMIT}."
    elif offset < 0 or offset % limit:
        wrong = f"'offset' query parameter value: {offset}. It must be a multiple of {limit}."
    elif offset + limit > ceiling:
        wrong = (
            f"'offset' query parameter value: {offset}. The sum of offset and limit must "
            f"not exceed {ceiling:,}."
        )
    if wrong is not None:
        return error(400, "INVALID_PARAMETER", f"Invalid {wrong}")
    query = parse(body.get("q") if isinstance(body, dict) else None)
    plan = _Plan(ts.tenant, query)
    rows = _rows(ts, plan)
    page = _items(plan, rows[offset : offset + limit], _zone(ts.tenant))
    base = str(request.url).split("?", 1)[0]
    links = [{"rel": "self", "href": f"{base}?limit={limit}&offset={offset}"}]
    if offset + len(page) < len(rows):
        links.insert(0, {"rel": "next", "href": f"{base}?limit={limit}&offset={offset + limit}"})
    body_out = {
        "links": links,
        "count": len(page),
        "hasMore": offset + len(page) < len(rows),
        "items": page,
        "offset": offset,
        "totalResults": len(rows),
    }
    return Response(orjson.dumps(body_out), media_type="application/vnd.oracle.resource+json")


def _catalog(tenant: Tenant, request: Request, record: str) -> Response:
    table = next((t for t in netsuite_tables.tables(tenant).values() if t.record == record), None)
    if table is None:
        return error(404, "NONEXISTENT_ID", f"Record type '{record}' does not exist.")
    if "application/schema+json" not in request.headers.get("accept", ""):
        return error(
            400,
            "INVALID_HEADER",
            "Ask for the record's schema with 'Accept: application/schema+json'.",
        )
    kinds = {
        "integer": {"type": "integer", "format": "int64"},
        "number": {"type": "number", "format": "double"},
        "checkbox": {"type": "boolean"},
        "date": {"type": "string", "format": "date"},
        "datetime": {"type": "string", "format": "date-time"},
        "string": {"type": "string"},
    }
    props = {
        name: {"title": name.replace("_", " ").title(), **kinds[kind], "nullable": name != "id"}
        for name, kind in table.columns.items()
    }
    doc = {
        "type": "object",
        "properties": props,
        "$schema": "https://json-schema.org/draft-06/schema#",
    }
    return Response(orjson.dumps(doc), media_type="application/schema+json")


async def handle(request: Request, ts: Any, rest: str) -> Response:
    """Every request of a NetSuite tenant."""
    path = rest.strip("/")
    if path == netsuite_auth.TOKEN_PATH:
        return await netsuite_auth.token(request, ts)
    ts.requests["data"] += 1
    refused = netsuite_auth.check(request, ts)
    if refused is not None:
        return refused
    try:
        if path == SUITEQL and request.method == "POST":
            decision = ts.faults.on_data_request()
            if decision.mutate is not None:
                ts.store.advance(decision.mutate)
            if decision.status is not None:
                return error(
                    decision.status,
                    "CONCURRENCY_LIMIT_EXCEEDED" if decision.status == 429 else "UNEXPECTED_ERROR",
                    "injected fault",
                )
            try:
                body = orjson.loads(await request.body() or b"{}")
            except orjson.JSONDecodeError:
                return error(400, "INVALID_CONTENT", "The request body is not valid JSON.")
            return _suiteql(ts, request, body)
        if path.startswith(CATALOG) and request.method == "GET":
            return _catalog(ts.tenant, request, path[len(CATALOG) :])
    except SuiteQLError as exc:
        return error(400, "INVALID_PARAMETER", str(exc))
    return error(404, "NONEXISTENT_ID", f"The requested resource /{path} does not exist.")


DIALECT = Dialect(
    name="netsuite",
    services=netsuite_tables.services,
    error_codes={},
    absolute_links=True,
    default_page_size=MAX_LIMIT,
    max_page_size=MAX_LIMIT,
    special=handle,
)
