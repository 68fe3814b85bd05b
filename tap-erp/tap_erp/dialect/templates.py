"""Templates: request parts filled from placeholders, compiled once per profile.

A template is any JSON value. Text holds placeholders, ``{name}`` or
``{name:format}`` (``{{``/``}}`` are literal braces); text that is one placeholder
keeps the value's type (``"{offset}"`` is a number in a JSON body). A mapping whose
keys start with ``$`` is an operator:

- ``{$json: X}``: X as compact JSON text;
- ``{$base64url: X}``: X (JSON text unless already text) in URL-safe base64;
- ``{$join: [parts], $sep: " and "}``: the parts present, joined.

A placeholder whose value is absent (no bookmark yet, an unset setting, a missing
parent field) makes its text absent; a list with absent text in it is absent, an
absent list or mapping inside a list and an absent mapping entry are left out; an
absent query parameter, header or body is not sent. So a filter is only
sent with a bookmark, and ``since`` and ``before`` combine into one expression.
"""

from __future__ import annotations

import base64
import re
import typing as t
import urllib.parse

import orjson

from tap_erp.dialect import timestamps
from tap_erp.errors import ProfileError

if t.TYPE_CHECKING:
    from collections.abc import Callable, Mapping


class _Missing:
    """The value of a template whose placeholder has no value."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: t.Any = _Missing()

#: Placeholder names and what they hold.
PLACEHOLDERS: dict[str, str] = {
    "since": "lower bound of the changed-since filter (>=), a timestamp; absent without one",
    "before": "upper bound (<) of a backfill window, a timestamp; absent when open-ended",
    "offset": (
        "position of the first row of the page (offset paginator; page paginator: a "
        "multiple of {limit})"
    ),
    "limit": "rows per page (the page_size setting)",
    "page": "number of the page (page paginator)",
    "cursor": "token of the next page (cursor paginator); absent on the first request",
    "fields": "names of the stream's selected fields (a list)",
    "entity": "the stream's metadata entity (metadata requests)",
    "token": "the token of a login answer (login auth: its headers, data and metadata requests)",
    "config.<setting>": "a tap or profile setting; absent when unset",
    "parent.<field>": "a field of the parent row (streams with a parent)",
}
TIMESTAMP_NAMES = frozenset({"since", "before"})


def _csv(value: t.Any) -> t.Any:
    return ",".join(str(v) for v in value) if isinstance(value, list) else str(value)


def _json_text(value: t.Any) -> str:
    return orjson.dumps(value, default=str).decode()


#: Formats of any placeholder value: name -> function.
VALUE_FORMATS: dict[str, Callable[[t.Any], t.Any]] = {
    "csv": _csv,
    "json": _json_text,
    "url": lambda v: urllib.parse.quote(str(v), safe=""),
    "text": str,
}

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}:]+)(?::([^{}]+))?\}")


class Context(t.Protocol):
    """What templates read: ``get(name)`` for plain names, dotted ones by prefix."""

    def get(self, name: str, default: t.Any = None) -> t.Any:
        """The value of a placeholder name, or None."""


Render = t.Callable[["Mapping[str, t.Any]"], t.Any]


class Template:
    """A compiled template: `render(values)`; the placeholder `names` and `formats` it uses."""

    def __init__(
        self,
        render: Render,
        names: frozenset[str],
        formats: frozenset[tuple[str, str | None]] = frozenset(),
    ) -> None:
        """Keep the renderer, the placeholder names and the (name, format) pairs it uses."""
        self.render = render
        self.names = names
        self.formats = formats

    def uses(self, name: str) -> bool:
        """Whether the template reads placeholder `name` (or `name.*`)."""
        return any(n == name or n.startswith(name + ".") for n in self.names)


def lookup(values: Mapping[str, t.Any], name: str) -> t.Any:
    """A placeholder's value; dotted names look into mappings (``config.x``)."""
    head, _, rest = name.partition(".")
    value = values.get(head)
    while rest and value is not None:
        part, _, rest = rest.partition(".")
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _check_name(name: str, where: str, allowed: frozenset[str]) -> None:
    head = name.split(".", 1)[0]
    dotted = head in {"config", "parent"}
    if (dotted and "." not in name) or (not dotted and "." in name) or head not in allowed:
        known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS if p.split(".")[0] in allowed)
        msg = f"'{where}': unknown placeholder {{{name}}} (known here: {known})"
        raise ProfileError(msg)


def _formatter(name: str, fmt: str | None, where: str) -> Callable[[t.Any], t.Any] | None:
    if fmt is None:
        return timestamps.FORMATS["iso"].render if name in TIMESTAMP_NAMES else None
    if name in TIMESTAMP_NAMES:
        if fmt not in timestamps.FORMATS:
            msg = (
                f"'{where}': unknown timestamp format '{fmt}' in {{{name}:{fmt}}} "
                f"(known: {', '.join(timestamps.FORMATS)})"
            )
            raise ProfileError(msg)
        return timestamps.FORMATS[fmt].render
    if fmt not in VALUE_FORMATS:
        msg = (
            f"'{where}': unknown format '{fmt}' in {{{name}:{fmt}}} "
            f"(known: {', '.join(VALUE_FORMATS)})"
        )
        raise ProfileError(msg)
    return VALUE_FORMATS[fmt]


def _compile_text(text: str, where: str, allowed: frozenset[str]) -> Template:
    parts: list[str | tuple[str, Callable[[t.Any], t.Any] | None]] = []
    names: set[str] = set()
    formats: set[tuple[str, str | None]] = set()
    pos = 0
    for match in _PLACEHOLDER.finditer(text):
        if match.start() > pos:
            parts.append(text[pos : match.start()])
        pos = match.end()
        token = match.group(0)
        if token in {"{{", "}}"}:
            parts.append(token[0])
            continue
        name = match.group(1).strip()
        _check_name(name, where, allowed)
        names.add(name)
        formats.add((name, match.group(2)))
        parts.append((name, _formatter(name, match.group(2), where)))
    if pos < len(text):
        parts.append(text[pos:])
    if not names:
        literal = "".join(t.cast("list[str]", parts))
        return Template(lambda _values: literal, frozenset())
    if len(parts) == 1:
        name, fmt = t.cast("tuple[str, t.Any]", parts[0])

        def whole(values: Mapping[str, t.Any]) -> t.Any:
            value = lookup(values, name)
            if value is None:
                return MISSING
            return fmt(value) if fmt else value

        return Template(whole, frozenset(names), frozenset(formats))

    def joined(values: Mapping[str, t.Any]) -> t.Any:
        out = []
        for part in parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = lookup(values, part[0])
            if value is None:
                return MISSING
            value = part[1](value) if part[1] else value
            out.append(value if isinstance(value, str) else _json_or_text(value))
        return "".join(out)

    return Template(joined, frozenset(names), frozenset(formats))


def _json_or_text(value: t.Any) -> str:
    return str(value) if isinstance(value, int | float) else _json_text(value)


OPERATORS = ("$json", "$base64url", "$join")


def _compile_operator(raw: dict, where: str, allowed: frozenset[str]) -> Template:
    keys = set(raw)
    if "$join" in keys:
        if not keys <= {"$join", "$sep"} or not isinstance(raw["$join"], list):
            msg = f"'{where}': $join takes a list and an optional $sep"
            raise ProfileError(msg)
        items = [
            compile_template(p, f"{where}.$join[{i}]", allowed) for i, p in enumerate(raw["$join"])
        ]
        sep = str(raw.get("$sep", ""))

        def join(values: Mapping[str, t.Any]) -> t.Any:
            rendered = [item.render(values) for item in items]
            present = [
                r if isinstance(r, str) else _json_or_text(r) for r in rendered if r is not MISSING
            ]
            return sep.join(present) if present else MISSING

        return _combined(join, items)
    if len(keys) != 1 or next(iter(keys)) not in OPERATORS:
        msg = (
            f"'{where}': unknown operator {', '.join(sorted(keys))} "
            f"(known: {', '.join(OPERATORS)}, $sep with $join)"
        )
        raise ProfileError(msg)
    op = next(iter(keys))
    inner = compile_template(raw[op], f"{where}.{op}", allowed)

    def encode(values: Mapping[str, t.Any]) -> t.Any:
        value = inner.render(values)
        if value is MISSING:
            return MISSING
        if op == "$json":
            return _json_text(value)
        text = value if isinstance(value, str) else _json_text(value)
        return base64.urlsafe_b64encode(text.encode()).decode("ascii")

    return Template(encode, inner.names, inner.formats)


def _combined(render: Render, parts: list[Template]) -> Template:
    return Template(
        render,
        frozenset().union(*(p.names for p in parts)),
        frozenset().union(*(p.formats for p in parts)),
    )


def compile_template(raw: t.Any, where: str, allowed: frozenset[str]) -> Template:
    """Compile a template; `allowed` names the placeholders it may use."""
    if isinstance(raw, str):
        return _compile_text(raw, where, allowed)
    if isinstance(raw, dict):
        if raw and all(isinstance(k, str) and k.startswith("$") for k in raw):
            return _compile_operator(raw, where, allowed)
        entries = [(str(k), compile_template(v, f"{where}.{k}", allowed)) for k, v in raw.items()]

        def mapping(values: Mapping[str, t.Any]) -> t.Any:
            out = {}
            for key, tpl in entries:
                value = tpl.render(values)
                if value is not MISSING:
                    out[key] = value
            return out

        return _combined(mapping, [tpl for _, tpl in entries])
    if isinstance(raw, list):
        items = [
            (isinstance(v, str), compile_template(v, f"{where}[{i}]", allowed))
            for i, v in enumerate(raw)
        ]

        def sequence(values: Mapping[str, t.Any]) -> t.Any:
            out = []
            for scalar, item in items:
                value = item.render(values)
                if value is not MISSING:
                    out.append(value)
                elif scalar:
                    return MISSING  # e.g. ["write_date", ">=", "{since}"] without a since
            return out

        return _combined(sequence, [i for _, i in items])
    return Template(lambda _values: raw, frozenset())


ALL_NAMES = frozenset(p.split(".")[0] for p in PLACEHOLDERS)
