"""OData v4 on the wire: JSON bodies (minimal metadata) and the CSDL XML `$metadata`."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import quoteattr

import orjson

from erp_sandbox.odata.engine import Item, Page
from erp_sandbox.odata.model import EntitySet, Prop, Service

EDMX = "http://docs.oasis-open.org/odata/ns/edmx"
EDM = "http://docs.oasis-open.org/odata/ns/edm"
CORE = "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Core.V1.xml"


def json_type(ieee754: bool) -> str:
    """The Content-Type of a JSON answer."""
    flag = "true" if ieee754 else "false"
    return f"application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible={flag}"


def _decimal_text(prop: Prop, value: Any) -> str:
    if prop.digits is not None:
        return f"{value:.{prop.digits}f}"
    return str(value)


def _decimals(es: EntitySet) -> list[Prop]:
    return [p for p in es.props if p.edm in ("Edm.Decimal", "Edm.Int64")]


def row_out(
    es: EntitySet,
    item: Item,
    select: list[str] | None,
    ieee754: bool,
    expanded: dict[str, tuple[EntitySet, list[Item]]] | None = None,
) -> dict[str, Any]:
    """One entity as sent: `@odata.etag`, the (selected) properties, expanded children."""
    out: dict[str, Any] = {"@odata.etag": item.etag}
    if select is None:
        out.update(item.row)
    else:
        for name in select:
            if name in item.row:
                out[name] = item.row[name]
    if ieee754:
        for prop in _decimals(es):
            value = out.get(prop.name)
            if value is not None:
                out[prop.name] = _decimal_text(prop, value)
    for nav, (child_es, children) in (expanded or {}).items():
        out[nav] = [row_out(child_es, c, None, ieee754) for c in children]
    return out


def collection_body(
    es: EntitySet,
    page: Page,
    context: str,
    *,
    next_link: str | None,
    select: list[str] | None,
    ieee754: bool,
    targets: dict[str, EntitySet],
) -> bytes:
    """The JSON body of a collection answer."""
    doc: dict[str, Any] = {"@odata.context": context}
    if page.count is not None:
        doc["@odata.count"] = str(page.count) if ieee754 else page.count
    rows = []
    for item in page.items:
        expanded = {
            nav: (targets[nav], kids.get(item.idx, [])) for nav, kids in page.children.items()
        }
        rows.append(row_out(es, item, select, ieee754, expanded))
    doc["value"] = rows
    if next_link is not None:
        doc["@odata.nextLink"] = next_link
    return orjson.dumps(doc)


def entity_body(es: EntitySet, item: Item, context: str, ieee754: bool) -> bytes:
    """The JSON body of a single-entity answer."""
    return orjson.dumps({"@odata.context": context, **row_out(es, item, None, ieee754)})


def service_document(service: Service, context: str) -> bytes:
    """The service document: the entity sets a client can address at the root."""
    value = [
        {"name": es.name, "kind": "EntitySet", "url": es.name}
        for es in service.sets.values()
        if es.parent is None
    ]
    return orjson.dumps({"@odata.context": context, "value": value})


def _property_xml(prop: Prop) -> str:
    attrs = [f"Name={quoteattr(prop.name)}", f"Type={quoteattr(prop.edm)}"]
    if not prop.nullable:
        attrs.append('Nullable="false"')
    if prop.max_length is not None:
        attrs.append(f'MaxLength="{prop.max_length}"')
    if prop.precision is not None:
        attrs.append(f'Precision="{prop.precision}"')
    if prop.scale is not None:
        attrs.append(f"Scale={quoteattr(str(prop.scale))}")
    head = f"<Property {' '.join(attrs)}"
    if prop.custom and prop.label:
        note = f'<Annotation Term="Core.Description" String={quoteattr(prop.label)}/>'
        return f"{head}>{note}</Property>"
    return f"{head}/>"


def metadata_xml(service: Service) -> bytes:
    """`$metadata` as OASIS CSDL XML v4."""
    ns = service.namespace
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<edmx:Edmx Version="4.0" xmlns:edmx="{EDMX}">',
        f'<edmx:Reference Uri="{CORE}">',
        '<edmx:Include Namespace="Org.OData.Core.V1" Alias="Core"/>',
        "</edmx:Reference>",
        "<edmx:DataServices>",
        f'<Schema Namespace="{ns}" xmlns="{EDM}">',
    ]
    seen: set[str] = set()
    for es in service.sets.values():
        if es.type_name in seen:
            continue
        seen.add(es.type_name)
        lines.append(f"<EntityType Name={quoteattr(es.type_name)}>")
        refs = "".join(f"<PropertyRef Name={quoteattr(k)}/>" for k in es.key)
        lines.append(f"<Key>{refs}</Key>")
        lines.extend(_property_xml(p) for p in es.props)
        for nav in es.navs:
            target = service.sets[nav.target].type_name
            lines.append(
                f"<NavigationProperty Name={quoteattr(nav.name)} "
                f'Type="Collection({ns}.{target})" ContainsTarget="true"/>'
            )
        lines.append("</EntityType>")
    lines.append(f"<EntityContainer Name={quoteattr(service.container)}>")
    for es in service.sets.values():
        lines.append(
            f"<EntitySet Name={quoteattr(es.name)} EntityType={quoteattr(f'{ns}.{es.type_name}')}/>"
        )
    lines += ["</EntityContainer>", "</Schema>", "</edmx:DataServices>", "</edmx:Edmx>"]
    return "\n".join(lines).encode()
