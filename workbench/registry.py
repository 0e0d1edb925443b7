"""Registering the user's own tables and CSV/Parquet files as catalog entities.

Every registration is checked against the warehouse BEFORE it is saved (the source can be
read, the key/email/time/foreign-key columns exist, the related entity exists and its key has
the same kind of type), so bad input gets one clear CatalogError and nothing is stored. The CLI
(``python -m workbench catalog register``) and the UI both call ``register_entity``.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace

import duckdb

from workbench.catalog import Entity, EntitySpec, embedded_specs, inspect_entity
from workbench.errors import CatalogError, ConflictError, NotFoundError
from workbench.workspace import Workspace

ENTITY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def register_entity(ws: Workspace, spec: EntitySpec) -> Entity:
    """Check ``spec`` against the warehouse, save it, reload the catalog; the checked entity.

    A relative CSV/Parquet path is stored as an absolute one, so the app and the runner find
    the file whatever folder they start in. Registering a name again replaces it.
    """
    spec = with_absolute_source(spec)
    con = ws.cursor()
    _check_name(con, spec.name)
    _check_relation(ws, con, inspect_entity(con, spec))
    ws.store.save_entity(spec)
    return ws.reload_catalog().entity(spec.name)


def unregister_entity(ws: Workspace, name: str) -> None:
    """Forget a registered entity; ConflictError while another registered entity relates to it."""
    if name in {s.name for s in embedded_specs(ws.cursor())}:
        raise NotFoundError(
            f"entity {name!r} is defined by the warehouse itself, not registered: "
            "it cannot be unregistered"
        )
    users = [
        s.name for s in ws.store.list_entities() if s.relation is not None and s.relation.to == name
    ]
    if users:
        raise ConflictError(
            f"entity(s) {', '.join(users)} relate to {name!r}: unregister them first"
        )
    ws.store.delete_entity(name)
    ws.reload_catalog()


def with_absolute_source(spec: EntitySpec) -> EntitySpec:
    """The spec with a relative CSV/Parquet path (or glob) made absolute from the current folder."""
    if spec.source_kind in ("csv", "parquet") and not os.path.isabs(spec.source):
        return replace(spec, source=os.path.abspath(os.path.expanduser(spec.source)))
    return spec


def _check_name(con: duckdb.DuckDBPyConnection, name: str) -> None:
    if not ENTITY_NAME.match(name):
        raise CatalogError(
            f"entity name {name!r} is not allowed: use letters, digits and underscores, "
            "starting with a letter (for example web_orders)"
        )
    if name in {s.name for s in embedded_specs(con)}:
        raise ConflictError(
            f"entity {name!r} is already defined by the warehouse: choose another name"
        )


def _known_specs(ws: Workspace, con: duckdb.DuckDBPyConnection) -> dict[str, EntitySpec]:
    return {s.name: s for s in embedded_specs(con) + ws.store.list_entities()}


def _check_relation(ws: Workspace, con: duckdb.DuckDBPyConnection, entity: Entity) -> None:
    """The related entity exists and its primary key has the foreign key's kind of type."""
    spec, relation = entity.spec, entity.spec.relation
    if relation is None:
        return
    known = _known_specs(ws, con)
    known[spec.name] = spec
    if relation.to not in known:
        raise CatalogError(
            f"entity {spec.name!r}: relation to unknown entity {relation.to!r} "
            f"(known: {', '.join(sorted(known)) or 'none'}); register it first"
        )
    target = inspect_entity(con, known[relation.to])
    key = target.column(target.spec.primary_key)
    foreign = entity.column(relation.foreign_key)
    if key.kind is not foreign.kind:
        raise CatalogError(
            f"entity {spec.name!r}: foreign key {foreign.name!r} ({foreign.type}) cannot point "
            f"at {relation.to}.{key.name} ({key.type}): the types differ"
        )
