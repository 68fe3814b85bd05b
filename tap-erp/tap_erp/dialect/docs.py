"""The profile reference (`tap-erp/PROFILES.md`), generated from the declaration.

Run ``python -m tap_erp.dialect.docs`` to write it; a test fails when it is stale.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

import msgspec

from tap_erp.dialect import spec, timestamps
from tap_erp.dialect.decoders import DECODER_MAP
from tap_erp.dialect.metadata import METADATA_FORMATS
from tap_erp.dialect.templates import OPERATORS, PLACEHOLDERS, VALUE_FORMATS

TARGET = Path(__file__).resolve().parents[2] / "PROFILES.md"

INTRO = """# The dialect language: profile reference

A profile describes one ERP's API as data: requests, where rows are, how pages
follow each other, how values are decoded, how to log in and where custom fields
are described. `tap-erp` ships `erp_sandbox`, `tryton`, `business_central`,
`sap_s4hana`, `sap_s4hana_v2`, `erpnext`, `odoo` and `odoo_json2`
(`tap_erp/profiles/`); the
`profile` setting also takes the path of a
file of one's own. Every key is checked when the profile loads: an unknown key, a
wrong type, an unknown placeholder or a selector that cannot be read is one line
naming the key path.

This page is generated from the declaration (`tap_erp/dialect/spec.py` and the
registries); do not edit it by hand.
"""


def _type_name(tp: msgspec.inspect.Type) -> str:
    """A short, readable name of an inspected type."""
    i = msgspec.inspect
    if isinstance(tp, i.UnionType):
        names = [_type_name(x) for x in tp.types if not isinstance(x, i.NoneType)]
        nullable = any(isinstance(x, i.NoneType) for x in tp.types)
        return " or ".join(names) + (" or null" if nullable else "")
    if isinstance(tp, i.StructType):
        return f"[{tp.cls.__name__}](#{tp.cls.__name__.lower()})"
    if isinstance(tp, i.ListType):
        return f"list of {_type_name(tp.item_type)}"
    if isinstance(tp, i.DictType):
        return f"mapping of {_type_name(tp.value_type)}"
    if isinstance(tp, i.LiteralType):
        return " \\| ".join(f"`{v}`" for v in tp.values)
    if isinstance(tp, i.AnyType):
        return "template"
    simple = {i.StrType: "text", i.IntType: "integer", i.FloatType: "number", i.BoolType: "boolean"}
    return simple.get(type(tp), type(tp).__name__.removesuffix("Type").lower())


def _default(field: msgspec.inspect.Field) -> str:
    if field.required:
        return "required"
    value = field.default
    if value is msgspec.NODEFAULT and field.default_factory is not msgspec.NODEFAULT:
        value = field.default_factory()
    if value is None or value in ({}, []):
        return ""
    if isinstance(value, msgspec.Struct):
        return ""
    return f"`{value}`"


def _struct_section(cls: type[msgspec.Struct]) -> list[str]:
    info = t.cast("msgspec.inspect.StructType", msgspec.inspect.type_info(cls))
    lines = [f"## {cls.__name__}", "", (cls.__doc__ or "").strip(), ""]
    tag = getattr(cls.__struct_config__, "tag", None)
    if tag:
        lines += [f"`type: {tag}`", ""]
    lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
    for field in info.fields:
        tp = field.type
        description = ""
        if isinstance(tp, msgspec.inspect.Metadata):
            description = (tp.extra_json_schema or {}).get("description", "") or ""
            description = description or getattr(tp, "description", "")
            tp = tp.type
        text = (_description(cls, field.name) or description).replace("|", "\\|")
        lines.append(f"| `{field.encode_name}` | {_type_name(tp)} | {_default(field)} | {text} |")
    return [*lines, ""]


def _description(cls: type, name: str) -> str:
    hints = t.get_type_hints(cls, include_extras=True)
    for meta in getattr(hints.get(name), "__metadata__", ()):
        if isinstance(meta, msgspec.Meta) and meta.description:
            return meta.description
    return ""


def _registry(title: str, intro: str, rows: list[tuple[str, str]]) -> list[str]:
    lines = [f"## {title}", "", intro, "", "| name | meaning |", "|---|---|"]
    lines += [f"| `{name}` | {text} |" for name, text in rows]
    return [*lines, ""]


def reference() -> str:
    """The whole reference page."""
    lines = [INTRO]
    lines += _registry(
        "Placeholders",
        "Text in a template may hold `{name}` or `{name:format}`; `{{` and `}}` are braces.",
        [(f"{{{name}}}", text) for name, text in PLACEHOLDERS.items()],
    )
    lines += _registry(
        "Timestamp formats",
        "For `{since:<format>}` and `{before:<format>}` (default `iso`).",
        [(name, fmt.example) for name, fmt in timestamps.FORMATS.items()],
    )
    lines += _registry(
        "Value formats",
        "For other placeholders, e.g. `{fields:csv}`.",
        [
            ("csv", "a list as comma-separated text"),
            ("json", "the value as JSON text"),
            ("url", "the value percent-encoded"),
            ("text", "the value as text"),
        ],
    )
    if set(VALUE_FORMATS) != {"csv", "json", "url", "text"} or set(OPERATORS) != {
        "$json",
        "$base64url",
        "$join",
    }:
        msg = "document the new value format or operator here"
        raise RuntimeError(msg)
    lines += _registry(
        "Operators",
        "A mapping whose only keys are operators transforms its value.",
        [
            ("$json", "the value as compact JSON text"),
            ("$base64url", "the value (JSON text unless text) in URL-safe base64"),
            ("$join", "the present parts joined with `$sep`; absent when none is present"),
        ],
    )
    lines += _registry(
        "Decoders",
        "Applied in order to every page's rows before they are read.",
        [(name, d.description) for name, d in DECODER_MAP.items()],
    )
    lines += _registry(
        "Metadata formats",
        "Values of `metadata.format`.",
        [(name, f.description) for name, f in METADATA_FORMATS.items()],
    )
    for cls in spec.DOCUMENTED:
        lines += _struct_section(cls)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    TARGET.write_text(reference(), encoding="utf-8")
    print(f"wrote {TARGET}")
