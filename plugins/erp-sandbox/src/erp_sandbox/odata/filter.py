"""A `$filter` subset: comparisons of a property with a literal, `and`, `or`, `not`, parentheses.

Literals: DateTimeOffset and Date unquoted, strings in single quotes (`''` escapes a
quote), numbers, GUIDs unquoted, `true`, `false`, `null`. Comparisons of the
replication key with a DateTimeOffset that stand at the top level (joined by
`and`) become bounds the store answers with a range lookup; everything else is
checked row by row.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from erp_sandbox.odata.model import EntitySet, Prop

PS_PER_US = 1_000_000
OPS = ("eq", "ne", "gt", "ge", "lt", "le")
NUMERIC = {"Edm.Decimal", "Edm.Double", "Edm.Single", "Edm.Int16", "Edm.Int32", "Edm.Int64"}
NUMERIC |= {"Edm.Byte", "Edm.SByte"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_HEX = "[0-9a-fA-F]"
_GUID = f"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"
_DTO = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,12})?)?(?:Z|[+-]\d{2}:\d{2})"
_TOKEN = re.compile(
    rf"""\s*(?:
      (?P<dto>{_DTO})
    | (?P<date>\d{{4}}-\d{{2}}-\d{{2}})(?![\dT])
    | (?P<guid>{_GUID})
    | (?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)[mMdDfFlL]?
    | (?P<str>'(?:[^']|'')*')
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<punct>[(),=])
    )""",
    re.VERBOSE,
)
# An unescaped '+' in a query string arrives as a space: "...T10:00:00 02:00".
_SPACE_OFFSET = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:\d{2})(?![\d:])")


class FilterError(ValueError):
    """A `$filter` the sandbox cannot parse or apply (a 400)."""


@dataclass(frozen=True)
class Literal:
    """A parsed literal: kind is dto, date, guid, num, str, bool or null."""

    kind: str
    value: Any
    text: str


@dataclass(frozen=True)
class Cmp:
    """`prop op literal`."""

    prop: str
    op: str
    lit: Literal


@dataclass(frozen=True)
class Bool:
    """`and` / `or` over parts, or `not` of one part."""

    op: str
    parts: tuple[Node, ...]


Node = Cmp | Bool
#: (row, ModifiedOn in microseconds) -> keep?
Predicate = Callable[[dict[str, Any], int], bool]


@dataclass(frozen=True)
class Compiled:
    """A filter as store bounds (microseconds, since inclusive, before exclusive) + the rest."""

    since: int | None = None
    before: int | None = None
    rest: Predicate | None = None
    empty: bool = False  # the bounds exclude every row


def dto_to_ps(text: str) -> int:
    """An OData DateTimeOffset literal -> picoseconds since the epoch (exact)."""
    m = re.fullmatch(
        r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,12}))?)?"
        r"(Z|([+-])(\d{2}):(\d{2}))",
        text,
    )
    if m is None:
        raise FilterError(f"not a DateTimeOffset: {text!r}")
    y, mo, d, hh, mi, ss, frac, zone, sign, oh, om = m.groups()
    try:
        dt = datetime(int(y), int(mo), int(d), int(hh), int(mi), int(ss or 0), tzinfo=UTC)
    except ValueError:
        raise FilterError(f"not a valid DateTimeOffset: {text!r}") from None
    if zone != "Z":
        off = timedelta(hours=int(oh), minutes=int(om))
        dt -= off if sign == "+" else -off
    seconds = (dt - _EPOCH) // timedelta(seconds=1)
    return seconds * 10**12 + int((frac or "").ljust(12, "0"))


def tokenize(text: str) -> list[tuple[str, str]]:
    """Split an expression into (kind, text) tokens."""
    text = _SPACE_OFFSET.sub(r"\1+\2", text)
    out, pos = [], 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise FilterError(f"unexpected text at position {pos}: {text[pos : pos + 20]!r}")
        kind = m.lastgroup
        assert kind is not None
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = tokenize(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise FilterError("the filter ends too early")
        self.i += 1
        return tok

    def word(self, *words: str) -> str | None:
        tok = self.peek()
        if tok is not None and tok[0] == "name" and tok[1] in words:
            self.i += 1
            return tok[1]
        return None

    def parse(self) -> Node:
        node = self.or_expr()
        if self.peek() is not None:
            raise FilterError(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return node

    def or_expr(self) -> Node:
        parts = [self.and_expr()]
        while self.word("or"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else Bool("or", tuple(parts))

    def and_expr(self) -> Node:
        parts = [self.unary()]
        while self.word("and"):
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else Bool("and", tuple(parts))

    def unary(self) -> Node:
        if self.word("not"):
            return Bool("not", (self.unary(),))
        tok = self.peek()
        if tok == ("punct", "("):
            self.take()
            node = self.or_expr()
            if self.peek() != ("punct", ")"):
                raise FilterError("missing ')'")
            self.take()
            return node
        return self.comparison()

    def operand(self) -> tuple[str, Any]:
        kind, text = self.take()
        if kind == "name":
            if self.peek() == ("punct", "("):
                raise FilterError(f"function {text!r} is not supported")
            if text in ("true", "false"):
                return "lit", Literal("bool", text == "true", text)
            if text == "null":
                return "lit", Literal("null", None, text)
            return "prop", text
        if kind == "punct":
            raise FilterError(f"unexpected {text!r}")
        return "lit", literal_of(kind, text)

    def comparison(self) -> Node:
        left = self.operand()
        op = self.word(*OPS)
        if op is None:
            nxt = self.peek()
            got = repr(nxt[1]) if nxt else "the end"
            raise FilterError(f"expected one of {', '.join(OPS)} after {left[1]!r}, got {got}")
        right = self.operand()
        if left[0] == "prop" and right[0] == "lit":
            return Cmp(left[1], op, right[1])
        if left[0] == "lit" and right[0] == "prop":
            flip = {"gt": "lt", "lt": "gt", "ge": "le", "le": "ge"}
            return Cmp(right[1], flip.get(op, op), left[1])
        shown = " ".join(x[1] if x[0] == "prop" else x[1].text for x in (left, right))
        raise FilterError(f"a comparison needs one property and one literal ({shown})")


def literal_of(kind: str, text: str) -> Literal:
    """A literal from a token kind and its text."""
    if kind == "dto":
        return Literal("dto", dto_to_ps(text), text)
    if kind == "date":
        try:
            datetime.strptime(text, "%Y-%m-%d")
        except ValueError:
            raise FilterError(f"not a valid date: {text!r}") from None
        return Literal("date", text, text)
    if kind == "guid":
        return Literal("guid", text.lower(), text)
    if kind == "num":
        value = float(text) if any(c in text for c in ".eE") else int(text)
        return Literal("num", value, text)
    return Literal("str", text[1:-1].replace("''", "'"), text)


def parse(text: str) -> Node:
    """Parse a `$filter` expression."""
    if not text.strip():
        raise FilterError("the filter is empty")
    return _Parser(text).parse()


_ACCEPTS = {
    "Edm.DateTimeOffset": {"dto"},
    "Edm.Date": {"date"},
    "Edm.String": {"str"},
    "Edm.Guid": {"guid", "str"},
    "Edm.Boolean": {"bool"},
}


def _check(es: EntitySet, node: Cmp) -> Prop:
    prop = es.prop(node.prop)
    if prop is None:
        raise FilterError(f"could not find a property named {node.prop!r} on {es.type_name!r}")
    kinds = {"num"} if prop.edm in NUMERIC else _ACCEPTS.get(prop.edm, set())
    if node.lit.kind == "null":
        if node.op not in ("eq", "ne"):
            raise FilterError(f"null can only be compared with eq or ne ({node.prop})")
        return prop
    if node.lit.kind not in kinds:
        raise FilterError(
            f"{node.prop!r} is {prop.edm}; the literal {node.lit.text} does not fit it"
        )
    if prop.edm == "Edm.Boolean" and node.op not in ("eq", "ne"):
        raise FilterError(f"{node.prop!r} is Edm.Boolean: only eq and ne apply")
    return prop


def _value_of(prop: Prop, value: Any) -> Any:
    """A row value in the form comparisons use."""
    if value is None:
        return None
    if prop.edm == "Edm.DateTimeOffset":
        return dto_to_ps(value)
    if prop.edm == "Edm.Guid":
        return str(value).lower()
    return value


def _compare(a: Any, op: str, b: Any) -> bool:
    if op == "eq":
        return bool(a == b)
    if op == "ne":
        return bool(a != b)
    if a is None or b is None:
        return False
    if op == "gt":
        return bool(a > b)
    if op == "ge":
        return bool(a >= b)
    if op == "lt":
        return bool(a < b)
    return bool(a <= b)


def _alpha(value: Any) -> Any:
    if isinstance(value, str) and value.isdigit():
        return (0, int(value))
    return (1, value)


def _predicate(es: EntitySet, node: Node) -> Predicate:
    if isinstance(node, Bool):
        parts = [_predicate(es, p) for p in node.parts]
        if node.op == "and":
            return lambda row, mod: all(p(row, mod) for p in parts)
        if node.op == "or":
            return lambda row, mod: any(p(row, mod) for p in parts)
        inner = parts[0]
        return lambda row, mod: not inner(row, mod)
    prop = _check(es, node)
    name, op, lit = node.prop, node.op, node.lit.value
    if name == es.replication_key and prop.edm == "Edm.DateTimeOffset":
        return lambda row, mod: _compare(mod * PS_PER_US, op, lit)
    if prop.alpha:
        want = None if lit is None else _alpha(lit)
        return lambda row, mod: _compare(
            None if row.get(name) is None else _alpha(row.get(name)), op, want
        )
    return lambda row, mod: _compare(_value_of(prop, row.get(name)), op, lit)


def _conjuncts(node: Node) -> list[Node]:
    if isinstance(node, Bool) and node.op == "and":
        return [c for p in node.parts for c in _conjuncts(p)]
    return [node]


def compile_filter(es: EntitySet, text: str | None) -> Compiled:
    """Split a `$filter` into store bounds on the replication key and a row predicate."""
    if text is None:
        return Compiled()
    since: int | None = None
    before: int | None = None
    rest: list[Node] = []
    for node in _conjuncts(parse(text)):
        is_bound = (
            isinstance(node, Cmp)
            and node.prop == es.replication_key
            and node.lit.kind == "dto"
            and node.op != "ne"
        )
        if not is_bound:
            rest.append(node)
            continue
        assert isinstance(node, Cmp)
        _check(es, node)
        ps = node.lit.value
        lo_us = -(-ps // PS_PER_US)  # ceil
        hi_us = ps // PS_PER_US + 1  # floor + 1
        if node.op in ("ge", "eq"):
            since = lo_us if since is None else max(since, lo_us)
        if node.op == "gt":
            since = hi_us if since is None else max(since, hi_us)
        if node.op == "lt":
            before = lo_us if before is None else min(before, lo_us)
        if node.op in ("le", "eq"):
            before = hi_us if before is None else min(before, hi_us)
    preds = [_predicate(es, n) for n in rest]
    pred: Predicate | None = None
    if len(preds) == 1:
        pred = preds[0]
    elif preds:
        pred = lambda row, mod: all(p(row, mod) for p in preds)  # noqa: E731
    empty = since is not None and before is not None and since >= before
    return Compiled(since, before, pred, empty)


def in_bounds(c: Compiled) -> Predicate | None:
    """The bounds of `c` as a row predicate (for orders the store cannot range over)."""
    if c.since is None and c.before is None and c.rest is None:
        return None
    since, before, rest = c.since, c.before, c.rest

    def pred(row: dict[str, Any], mod: int) -> bool:
        if since is not None and mod < since:
            return False
        if before is not None and mod >= before:
            return False
        return rest is None or rest(row, mod)

    return pred
