"""A stream's `deletes` entry, compiled: which request shows the rows deleted in the ERP.

`tombstones`: the ERP lists deleted keys with their deletion time (the sandbox's
`{entity}/$deleted`, ERPNext's "Deleted Document", OData `@removed`); `{since}` is the
newest deletion time read before. `key_snapshot`: a keys-only request (the stream's
own request with `{fields}` = its key fields and no `{since}`), compared with the keys
seen before.
"""

from __future__ import annotations

import dataclasses
import typing as t

from tap_erp.dialect import spec
from tap_erp.dialect.selectors import Selector
from tap_erp.errors import ProfileError

if t.TYPE_CHECKING:
    from tap_erp.profiles import RecordsSelector, RequestTemplate


@dataclasses.dataclass(frozen=True)
class TombstoneSpec:
    """Deleted keys listed by the ERP, each with its deletion time."""

    where: str
    request: RequestTemplate
    records: RecordsSelector
    paginator: str
    deleted_at: Selector
    keys: tuple[tuple[str, Selector], ...]


@dataclasses.dataclass(frozen=True)
class KeySnapshotSpec:
    """Every key the ERP has, read by a keys-only request."""

    where: str
    request: RequestTemplate
    records: RecordsSelector
    #: None: the stream's paginator.
    paginator: str | None
    keys: tuple[tuple[str, Selector], ...]


DeletesSpec = TombstoneSpec | KeySnapshotSpec


class Compiler(t.Protocol):
    """What the profile compiler offers this module."""

    decl: spec.Profile

    def request(self, layers: list[spec.Request], where: str, kind: str) -> RequestTemplate:
        """A compiled request template."""
        ...

    def records(self, raw: str | spec.Records | None, where: str) -> RecordsSelector:
        """A compiled records selector."""
        ...


def _key_selectors(
    raw: dict[str, str], primary_keys: tuple[str, ...], where: str
) -> tuple[tuple[str, Selector], ...]:
    unknown = sorted(set(raw) - set(primary_keys))
    if unknown:
        msg = (
            f"'{where}.keys': {unknown[0]!r} is not a primary key field ({', '.join(primary_keys)})"
        )
        raise ProfileError(msg)
    return tuple((k, Selector(raw.get(k, k), f"{where}.keys.{k}")) for k in primary_keys)


def compile_deletes(
    compiler: Compiler,
    name: str,
    stream: spec.Stream,
    primary_keys: tuple[str, ...],
) -> DeletesSpec | None:
    """The stream's `deletes`, checked and compiled (None when it declares none)."""
    raw = stream.deletes
    if raw is None:
        return None
    where = f"streams.{name}.deletes"
    if stream.parent is not None:
        msg = f"'{where}': a stream read per parent row cannot declare deletes"
        raise ProfileError(msg)
    paginators = compiler.decl.paginators
    keys = _key_selectors(raw.keys, primary_keys, where)
    if isinstance(raw, spec.TombstoneDeletes):
        if raw.paginator not in paginators and raw.paginator != "single":
            msg = f"'{where}.paginator': {raw.paginator!r} is not known ({', '.join(paginators)})"
            raise ProfileError(msg)
        layers = [compiler.decl.defaults.request, raw.request]
        return TombstoneSpec(
            where=where,
            request=compiler.request(layers, f"{where}.request", "request"),
            records=compiler.records(raw.records, f"{where}.records"),
            paginator=raw.paginator,
            deleted_at=Selector(raw.deleted_at, f"{where}.deleted_at"),
            keys=keys,
        )
    if raw.paginator is not None and raw.paginator not in paginators:
        msg = f"'{where}.paginator': {raw.paginator!r} is not known ({', '.join(paginators)})"
        raise ProfileError(msg)
    layers = [compiler.decl.defaults.request, stream.request, raw.request]
    return KeySnapshotSpec(
        where=where,
        request=compiler.request(layers, f"{where}.request", "request"),
        records=compiler.records(raw.records or stream.records, f"{where}.records"),
        paginator=raw.paginator,
        keys=keys,
    )
