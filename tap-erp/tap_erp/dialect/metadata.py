"""Metadata formats: how an ERP describes an entity's fields, read into one shape.

A format is a small named plug-in: it parses the metadata document and returns the
fields of one entity as `Field`s, typed with the ERP's own type names, which the
profile's `metadata.type_map` (over the format's defaults) turns into JSON types.
"""

from __future__ import annotations

import dataclasses
import typing as t
import xml.etree.ElementTree as ET

import orjson

from tap_erp.errors import TapERPError

if t.TYPE_CHECKING:
    from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class Field:
    """One described field."""

    name: str
    type: str
    nullable: bool = True
    scale: int | None = None
    label: str | None = None
    fields: tuple[Field, ...] = ()
    items: Field | None = None


@dataclasses.dataclass(frozen=True)
class MetadataFormat:
    """A named format: document bytes + entity name -> fields (None: not described)."""

    read: Callable[[bytes], t.Any]
    fields: Callable[[t.Any, str, str], list[Field] | None]
    type_map: dict[str, str]
    description: str


def _json(content: bytes) -> t.Any:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        msg = f"metadata document is not JSON ({exc})"
        raise TapERPError(msg) from None


# field_list: {"entities": {name: {"path": ..., "fields": [{name, type, nullable, scale}]}}}


def _field_list_field(raw: dict) -> Field:
    return Field(
        name=str(raw["name"]),
        type=str(raw.get("type")),
        nullable=bool(raw.get("nullable", True)),
        scale=raw.get("scale"),
        label=raw.get("label"),
        fields=tuple(_field_list_field(f) for f in raw.get("fields") or []),
        items=_field_list_field({"name": "items", **raw["items"]}) if raw.get("items") else None,
    )


def _field_list(document: t.Any, entity: str, path: str) -> list[Field] | None:
    entities = document.get("entities") if isinstance(document, dict) else None
    if not isinstance(entities, dict):
        return None
    found = entities.get(entity)
    if found is None:
        last = path.rstrip("/").rsplit("/", 1)[-1]
        found = next(
            (e for e in entities.values() if isinstance(e, dict) and e.get("path") in {path, last}),
            None,
        )
    if not isinstance(found, dict):
        return None
    return [_field_list_field(f) for f in found.get("fields") or []]


# odata_csdl: OASIS CSDL XML ($metadata of OData v2 and v4).


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _csdl(content: bytes) -> ET.Element:
    try:
        return ET.fromstring(content)
    except ET.ParseError as exc:
        msg = f"metadata document is not CSDL XML ({exc})"
        raise TapERPError(msg) from None


def _csdl_entity_type(root: ET.Element, entity: str) -> ET.Element | None:
    """The EntityType of an entity set (or of that name)."""
    types: dict[str, ET.Element] = {}
    type_of_set: dict[str, str] = {}
    for node in root.iter():
        tag = _local(node.tag)
        if tag == "EntityType":
            types[node.get("Name", "")] = node
        elif tag == "EntitySet":
            type_of_set[node.get("Name", "")] = node.get("EntityType", "").rsplit(".", 1)[-1]
    return types.get(type_of_set.get(entity, entity))


def _csdl_fields(root: ET.Element, entity: str, _path: str) -> list[Field] | None:
    node = _csdl_entity_type(root, entity)
    if node is None:
        return None
    out = []
    for prop in node:
        if _local(prop.tag) != "Property":
            continue
        scale = prop.get("Scale")
        out.append(
            Field(
                name=prop.get("Name", ""),
                type=prop.get("Type", ""),
                nullable=prop.get("Nullable", "true").lower() != "false",
                scale=int(scale) if scale and scale.isdigit() else None,
            )
        )
    return out


# odata_edmx_v2: EDMX 1.0 of SAP Gateway, with sap: annotations.

SAP_NS = "{http://www.sap.com/Protocols/SAPData}"


def _edmx_v2_fields(root: ET.Element, entity: str, path: str) -> list[Field] | None:
    """CSDL fields with SAP's annotations: `sap:display-format="Date"` makes an
    Edm.DateTime a date (`Edm.DateTime@Date`), `sap:label` is the field's label."""
    node = _csdl_entity_type(root, entity)
    fields = _csdl_fields(root, entity, path)
    if node is None or fields is None:
        return None
    props = {p.get("Name", ""): p for p in node if _local(p.tag) == "Property"}
    out = []
    for f in fields:
        prop = props[f.name]
        kind = f.type
        if kind == "Edm.DateTime" and prop.get(f"{SAP_NS}display-format") == "Date":
            kind = "Edm.DateTime@Date"
        out.append(dataclasses.replace(f, type=kind, label=prop.get(f"{SAP_NS}label")))
    return out


# tryton_fields: {"field": {"type": "numeric", "string": "Label", "digits": [16, 4], ...}}


def _tryton_fields(document: t.Any, _entity: str, _path: str) -> list[Field] | None:
    if not isinstance(document, dict):
        return None
    out = []
    for name, raw in document.items():
        if not isinstance(raw, dict):
            continue
        digits = raw.get("digits")
        if isinstance(digits, str):  # JSON text, or the name of a field holding digits
            try:
                digits = orjson.loads(digits)
            except orjson.JSONDecodeError:
                digits = None
        scale = digits[1] if isinstance(digits, list) and len(digits) == 2 else None
        out.append(
            Field(
                name=str(name),
                type=str(raw.get("type")),
                nullable=not raw.get("required", False),
                scale=scale if isinstance(scale, int) else None,
                label=raw.get("string"),
            )
        )
    return out


# frappe_doctype: getdoctype's {"docs": [{"name": doctype, "fields": [{fieldname, ...}]}]}.


def _frappe_doctype(document: t.Any, entity: str, _path: str) -> list[Field] | None:
    docs = document.get("docs") if isinstance(document, dict) else None
    found = next((d for d in docs or [] if isinstance(d, dict) and d.get("name") == entity), None)
    if found is None:
        return None
    out = []
    for raw in found.get("fields") or []:
        if not isinstance(raw, dict) or not raw.get("fieldname"):
            continue
        precision = str(raw.get("precision") or "")
        out.append(
            Field(
                name=str(raw["fieldname"]),
                type=str(raw.get("fieldtype")),
                nullable=not raw.get("reqd"),
                scale=int(precision) if precision.isdigit() else None,
                label=raw.get("label"),
            )
        )
    return out


# odoo_fields: fields_get, bare (JSON-2) or as a JSON-RPC answer's `result`.


def _odoo_fields(document: t.Any, entity: str, path: str) -> list[Field] | None:
    if isinstance(document, dict) and "jsonrpc" in document:
        document = document.get("result")
    return _tryton_fields(document, entity, path)


# json_schema: a JSON schema of the record, `{"properties": {name: {type, format, nullable,
# title}}}` (NetSuite's metadata catalog with Accept: application/schema+json).


def _json_schema(document: t.Any, _entity: str, _path: str) -> list[Field] | None:
    props = document.get("properties") if isinstance(document, dict) else None
    if not isinstance(props, dict):
        return None
    out = []
    for name, raw in props.items():
        if not isinstance(raw, dict):
            continue
        kind = raw.get("type")
        kind = next((k for k in kind if k != "null"), None) if isinstance(kind, list) else kind
        fmt = raw.get("format")
        out.append(
            Field(
                name=str(name),
                type=f"{kind}:{fmt}" if fmt else str(kind),
                nullable=bool(raw.get("nullable", True)),
                label=raw.get("title"),
            )
        )
    return out


METADATA_FORMATS: dict[str, MetadataFormat] = {
    "json_schema": MetadataFormat(
        read=_json,
        fields=_json_schema,
        type_map={
            "string": "string",
            "string:date": "date",
            "string:date-time": "date-time",
            "integer": "integer",
            "integer:int64": "integer",
            "integer:int32": "integer",
            "number": "number",
            "number:double": "number",
            "number:float": "number",
            "boolean": "boolean",
        },
        description=(
            "A JSON schema of the record (`{properties: {name: {type, format, nullable, "
            "title}}}`), e.g. NetSuite's metadata catalog; a type is looked up as "
            "`type:format` (`string:date`, `number:double`), or `type` alone."
        ),
    ),
    "field_list": MetadataFormat(
        read=_json,
        fields=_field_list,
        type_map={
            "string": "string",
            "integer": "integer",
            "decimal": "number",
            "boolean": "boolean",
            "date": "date",
            "datetime": "date-time",
            "object": "object",
            "array": "array",
        },
        description=(
            'JSON `{"entities": {name: {"path", "fields": [{name, type, nullable, '
            "scale, label}]}}}` (the sandbox's `$metadata`)."
        ),
    ),
    "odata_csdl": MetadataFormat(
        read=_csdl,
        fields=_csdl_fields,
        type_map={
            "Edm.String": "string",
            "Edm.Guid": "string",
            "Edm.Boolean": "boolean",
            "Edm.Byte": "integer",
            "Edm.SByte": "integer",
            "Edm.Int16": "integer",
            "Edm.Int32": "integer",
            "Edm.Int64": "integer",
            "Edm.Decimal": "number",
            "Edm.Double": "number",
            "Edm.Single": "number",
            "Edm.Date": "date",
            "Edm.DateTime": "date-time",
            "Edm.DateTimeOffset": "date-time",
            "Edm.TimeOfDay": "string",
            "Edm.Time": "string",
        },
        description=(
            "OData CSDL XML (`$metadata` of OData v2 and v4): the entity set's (or entity "
            "type's) `Property` elements with `Type`, `Nullable` and `Scale`."
        ),
    ),
    "odata_edmx_v2": MetadataFormat(
        read=_csdl,
        fields=_edmx_v2_fields,
        type_map={
            "Edm.String": "string",
            "Edm.Guid": "string",
            "Edm.Boolean": "boolean",
            "Edm.Byte": "integer",
            "Edm.SByte": "integer",
            "Edm.Int16": "integer",
            "Edm.Int32": "integer",
            "Edm.Int64": "integer",
            "Edm.Decimal": "number",
            "Edm.Double": "number",
            "Edm.Single": "number",
            "Edm.DateTime": "date-time",
            "Edm.DateTime@Date": "date",
            "Edm.DateTimeOffset": "date-time",
            "Edm.Time": "string",
        },
        description=(
            "OData v2 EDMX of SAP Gateway (`$metadata`): CSDL `Property` elements with "
            'SAP\'s annotations; `sap:display-format="Date"` makes an Edm.DateTime a '
            "date, `sap:label` labels the field."
        ),
    ),
    "tryton_fields": MetadataFormat(
        read=_json,
        fields=_tryton_fields,
        type_map={
            "char": "string",
            "text": "string",
            "selection": "string",
            "integer": "integer",
            "biginteger": "integer",
            "many2one": "integer",
            "float": "number",
            "numeric": "number",
            "boolean": "boolean",
            "date": "date",
            "datetime": "date-time",
            "timestamp": "date-time",
        },
        description=(
            "Tryton's model fields (`fields_get`): `{name: {type, string, digits, "
            "required}}`; relation lists and other types are left out unless mapped."
        ),
    ),
    "frappe_doctype": MetadataFormat(
        read=_json,
        fields=_frappe_doctype,
        type_map={
            "Data": "string",
            "Link": "string",
            "Dynamic Link": "string",
            "Select": "string",
            "Small Text": "string",
            "Text": "string",
            "Long Text": "string",
            "Phone": "string",
            "Int": "integer",
            "Float": "number",
            "Currency": "number",
            "Percent": "number",
            "Check": "boolean",
            "Date": "date",
            "Datetime": "date-time",
        },
        description=(
            "Frappe's doctype meta (`frappe.desk.form.load.getdoctype`): `{docs: [{name, "
            "fields: [{fieldname, fieldtype, precision, reqd, label}]}]}`; layout fields "
            "and child tables are left out unless mapped."
        ),
    ),
    "odoo_fields": MetadataFormat(
        read=_json,
        fields=_odoo_fields,
        type_map={
            "char": "string",
            "text": "string",
            "html": "string",
            "selection": "string",
            "integer": "integer",
            "many2one": "integer",
            "float": "number",
            "monetary": "number",
            "boolean": "boolean",
            "date": "date",
            "datetime": "date-time",
        },
        description=(
            "Odoo's `fields_get` (`{name: {type, string, digits, required}}`), bare "
            "(JSON-2) or as the `result` of a JSON-RPC answer; relations other than "
            "many2one are left out unless mapped."
        ),
    ),
}
