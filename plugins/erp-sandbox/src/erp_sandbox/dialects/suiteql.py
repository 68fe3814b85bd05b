"""The SuiteQL subset the sandbox understands: one SELECT over a table or one join.

    SELECT <column | alias.column | TO_CHAR(column, 'format') | BUILTIN.DF(column) | *>
           [AS name], ...
    FROM <table> [alias] [INNER JOIN <table> [alias] ON a.x = b.y]
    [WHERE <column> <op> <value> [AND ...]]      op: = != <> < <= > >=
    [ORDER BY <column> [ASC|DESC], ...]

Values are numbers, 'text' and TO_TIMESTAMP('text', 'format'). Anything else is a
`SuiteQLError`, which the dialect answers with NetSuite's error envelope.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op><>|!=|<=|>=|[=<>(),.*])"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*))",
)
KEYWORDS = {"SELECT", "FROM", "WHERE", "AND", "ORDER", "BY", "AS", "ASC", "DESC", "INNER"}
KEYWORDS |= {"JOIN", "ON", "TO_CHAR", "TO_TIMESTAMP", "OR", "LEFT", "GROUP"}


class SuiteQLError(ValueError):
    """A query outside the subset, or not SuiteQL at all (NetSuite's message)."""


@dataclass(frozen=True)
class Column:
    """`alias.name` (alias None when unqualified)."""

    alias: str | None
    name: str


@dataclass(frozen=True)
class Selected:
    """One item of the SELECT list: a column, optionally through TO_CHAR."""

    column: Column | None  # None: `*`
    output: str
    to_char: str | None = None
    display: bool = False  # BUILTIN.DF(column): the value's display text


@dataclass(frozen=True)
class Timestamp:
    """TO_TIMESTAMP('text', 'format')."""

    text: str
    format: str


@dataclass(frozen=True)
class Condition:
    """`column op value`."""

    column: Column
    op: str
    value: Any


@dataclass
class Query:
    """A parsed query."""

    select: list[Selected]
    table: str
    alias: str | None
    join: tuple[str, str | None, Column, Column] | None = None  # table, alias, on a = b
    where: list[Condition] = field(default_factory=list)
    order: list[tuple[Column, str]] = field(default_factory=list)


def tokenize(text: str) -> list[tuple[str, str]]:
    """(kind, text) tokens; kind is str, num, op, word or kw."""
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip().rstrip(";")
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise SuiteQLError(f"Invalid search query. Syntax error near '{text[pos : pos + 20]}'")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "word" and value.upper() in KEYWORDS:
            kind, value = "kw", value.upper()
        out.append((kind, value))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else ("end", "")

    def take(self, kind: str, value: str | None = None) -> str:
        got_kind, got = self.peek()
        if got_kind != kind or (value is not None and got != value):
            want = value or kind
            raise SuiteQLError(
                f"Invalid search query. Syntax error: expected {want} near '{got or 'end'}'"
            )
        self.i += 1
        return got

    def accept(self, kind: str, value: str) -> bool:
        if self.peek() == (kind, value):
            self.i += 1
            return True
        return False

    def column(self) -> Column:
        first = self.take("word").lower()
        if self.accept("op", "."):
            return Column(first, self.take("word").lower())
        return Column(None, first)

    def string(self) -> str:
        return self.take("str")[1:-1].replace("''", "'")

    def selected(self) -> Selected:
        if self.accept("op", "*"):
            return Selected(None, "*")
        to_char = None
        display = False
        if self.peek()[0] == "word" and self.peek()[1].upper() == "BUILTIN":
            self.take("word")
            self.take("op", ".")
            if self.take("word").upper() != "DF":
                raise SuiteQLError("Invalid search query. The sandbox knows BUILTIN.DF only")
            self.take("op", "(")
            column = self.column()
            self.take("op", ")")
            display = True
        elif self.accept("kw", "TO_CHAR"):
            self.take("op", "(")
            column = self.column()
            self.take("op", ",")
            to_char = self.string()
            self.take("op", ")")
        else:
            column = self.column()
        output = column.name
        if self.accept("kw", "AS") or self.peek()[0] == "word":
            output = self.take("word").lower()
        return Selected(column, output, to_char, display)

    def value(self) -> Any:
        kind, text = self.peek()
        if kind == "str":
            return self.string()
        if kind == "num":
            self.i += 1
            return float(text) if "." in text else int(text)
        if self.accept("kw", "TO_TIMESTAMP"):
            self.take("op", "(")
            text = self.string()
            self.take("op", ",")
            fmt = self.string()
            self.take("op", ")")
            return Timestamp(text, fmt)
        raise SuiteQLError(f"Invalid search query. Unsupported value near '{text or 'end'}'")

    def table(self) -> tuple[str, str | None]:
        name = self.take("word").lower()
        alias = self.take("word").lower() if self.peek()[0] == "word" else None
        return name, alias

    def query(self) -> Query:
        self.take("kw", "SELECT")
        select = [self.selected()]
        while self.accept("op", ","):
            select.append(self.selected())
        self.take("kw", "FROM")
        table, alias = self.table()
        query = Query(select, table, alias)
        if self.accept("kw", "INNER"):
            self.take("kw", "JOIN")
            jtable, jalias = self.table()
            self.take("kw", "ON")
            left = self.column()
            self.take("op", "=")
            query.join = (jtable, jalias, left, self.column())
        if self.accept("kw", "WHERE"):
            query.where.append(self.condition())
            while self.accept("kw", "AND"):
                query.where.append(self.condition())
        if self.accept("kw", "ORDER"):
            self.take("kw", "BY")
            query.order.append(self.ordering())
            while self.accept("op", ","):
                query.order.append(self.ordering())
        if self.peek()[0] != "end":
            raise SuiteQLError(
                f"Invalid search query. The sandbox does not serve '{self.peek()[1]}' here"
            )
        return query

    def condition(self) -> Condition:
        column = self.column()
        op = self.take("op")
        if op not in ("=", "!=", "<>", "<", "<=", ">", ">="):
            raise SuiteQLError(f"Invalid search query. Unsupported operator '{op}'")
        return Condition(column, "!=" if op == "<>" else op, self.value())

    def ordering(self) -> tuple[Column, str]:
        column = self.column()
        direction = "asc"
        if self.accept("kw", "DESC"):
            direction = "desc"
        else:
            self.accept("kw", "ASC")
        return column, direction


def parse(text: Any) -> Query:
    """Parse the `q` of a SuiteQL request."""
    if not isinstance(text, str) or not text.strip():
        raise SuiteQLError("Invalid search query. The request body must hold a query in 'q'")
    return _Parser(tokenize(text)).query()
