"""What an OData service serves: properties, entity sets and where their rows come from.

A dialect describes its services with these structures; the shared mechanics
(`query`, `engine`, `wire`, `handler`) serve any of them. Rows come from the
tenant's store: an entity set has one or more sources (a store stream plus a
projection into the dialect's row shape), or a static row list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from erp_sandbox.store import TenantStore

#: Order of rows: by (replication key, key) or by key alone.
BY_REPLICATION_KEY = "rep"
BY_KEY = "key"


@dataclass(frozen=True)
class Prop:
    """A structural property of an entity type."""

    name: str
    edm: str  # Edm.String, Edm.Guid, Edm.Decimal, Edm.DateTimeOffset, ...
    nullable: bool = True
    max_length: int | None = None
    precision: int | None = None
    scale: int | str | None = None  # CSDL Scale: a number or "variable"
    digits: int | None = None  # decimals shown when a Decimal is sent as a string
    alpha: bool = False  # a numeric document number: compared by value, not as text
    custom: bool = False  # a tenant's extension field
    label: str | None = None


@dataclass
class Batch:
    """Rows of one store stream, as the store renders them, for a projection."""

    store: TenantStore
    idx: np.ndarray  # row indices
    rows: list[dict[str, Any]]  # the store's rows (the sandbox's own field names)
    modified: list[int]  # ModifiedOn, epoch microseconds
    version: list[int]


#: Store rows -> the dialect's rows (same length, same order).
Projection = Callable[[Batch], list[dict[str, Any]]]
#: (ModifiedOn microseconds, version) -> the row's `@odata.etag`.
Etag = Callable[[int, int], str]


@dataclass(frozen=True)
class Source:
    """One store stream feeding an entity set; `rank` orders sources within a key order."""

    stream: str
    project: Projection
    etag: Etag
    rank: int = 0


@dataclass(frozen=True)
class Nav:
    """A navigation to child rows (`$expand`, `parent(key)/nav`): order lines of an order."""

    name: str
    target: str  # entity set (same service) whose source renders the children
    children: Callable[[TenantStore, list[int]], dict[int, list[int]]]


@dataclass(frozen=True)
class EntitySet:
    """An entity set with its entity type."""

    name: str
    type_name: str
    props: tuple[Prop, ...]
    key: tuple[str, ...]
    replication_key: str | None = None
    sources: tuple[Source, ...] = ()
    static: Callable[[TenantStore], list[dict[str, Any]]] | None = None
    static_etag: str = 'W/"1"'
    parent: str | None = None  # reachable only as parent(key)/name
    navs: tuple[Nav, ...] = ()

    @cached_property
    def by_name(self) -> dict[str, Prop]:
        """Properties by name."""
        return {p.name: p for p in self.props}

    def prop(self, name: str) -> Prop | None:
        """A property by name."""
        return self.by_name.get(name)

    def nav(self, name: str) -> Nav | None:
        """A navigation property by name."""
        return next((n for n in self.navs if n.name == name), None)

    def order_modes(self) -> tuple[str, ...]:
        """Orders this set can be served in (the first is the default)."""
        return (BY_KEY, BY_REPLICATION_KEY) if self.replication_key else (BY_KEY,)


@dataclass(frozen=True)
class Service:
    """One OData service: a root URL below the tenant, a schema and its entity sets."""

    root: str  # e.g. "api/v2.0" (no leading or trailing slash)
    namespace: str
    container: str
    sets: dict[str, EntitySet] = field(default_factory=dict)

    def entity_set(self, name: str) -> EntitySet | None:
        """An entity set by name."""
        return self.sets.get(name)
