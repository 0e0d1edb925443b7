"""``python -m workbench catalog``: list, show, register and unregister catalog entities.

::

    catalog list
    catalog show NAME
    catalog register NAME --source SRC --key COL [--email COL] [--time COL]
                          [--relates-to ENTITY --via COL] [--description TEXT]
    catalog unregister NAME

A registration is checked against the warehouse before it is saved (``registry.register_entity``).
"""

from __future__ import annotations

import argparse
from typing import Any

from workbench.catalog import Entity, EntitySpec, Relation, embedded_specs
from workbench.config import get_settings
from workbench.errors import CatalogError
from workbench.registry import register_entity, unregister_entity
from workbench.workspace import Workspace


def register(subparsers: Any) -> None:
    """Add the ``catalog`` command group to the CLI."""
    parser = subparsers.add_parser("catalog", help="list, show, register and unregister entities")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser("list", help="every entity with its source and roles").set_defaults(
        handler=list_command
    )
    show = commands.add_parser("show", help="one entity's columns with types and kinds")
    show.add_argument("name")
    show.set_defaults(handler=show_command)
    _add_register_parser(commands)
    unregister = commands.add_parser("unregister", help="forget a registered entity")
    unregister.add_argument("name")
    unregister.set_defaults(handler=unregister_command)


def _add_register_parser(commands: Any) -> None:
    reg = commands.add_parser(
        "register", help="register a warehouse table/view or a CSV/Parquet file as an entity"
    )
    reg.add_argument("name", help="entity name: letters, digits, underscores")
    reg.add_argument("--source", required=True, help="table or view name, or .csv/.parquet path")
    reg.add_argument("--key", required=True, help="primary key column")
    reg.add_argument("--email", help="email column (makes the entity activatable)")
    reg.add_argument("--time", help="date/timestamp column (for event-like entities)")
    reg.add_argument("--relates-to", dest="relates_to", metavar="ENTITY", help="related entity")
    reg.add_argument("--via", metavar="COL", help="foreign key column pointing at ENTITY's key")
    reg.add_argument("--description", default="", help="a line shown in the catalog")
    reg.set_defaults(handler=register_command)


def spec_from_args(args: argparse.Namespace) -> EntitySpec:
    """The entity spec described by ``catalog register`` arguments."""
    if (args.relates_to is None) != (args.via is None):
        raise CatalogError("--relates-to ENTITY and --via COL go together: give both or neither")
    relation = Relation(to=args.relates_to, foreign_key=args.via) if args.relates_to else None
    return EntitySpec(
        name=args.name,
        source=args.source,
        primary_key=args.key,
        email_column=args.email,
        time_column=args.time,
        relation=relation,
        description=args.description,
    )


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain-text table with aligned columns."""
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]
    lines = [headers, ["-" * w for w in widths], *rows]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _relation_text(entity: Entity) -> str:
    rel = entity.spec.relation
    return f"{rel.foreign_key} -> {rel.to}" if rel else "-"


def list_command(args: argparse.Namespace) -> int:
    """Print every entity: origin, source, key, email, time, relation and column count."""
    with Workspace(get_settings()) as ws:
        embedded = {s.name for s in embedded_specs(ws.cursor())}
        entities = list(ws.catalog().entities.values())
    rows = [
        [
            e.name,
            "warehouse" if e.name in embedded else "registered",
            e.spec.source,
            e.spec.primary_key,
            e.spec.email_column or "-",
            e.spec.time_column or "-",
            _relation_text(e),
            str(len(e.columns)),
        ]
        for e in entities
    ]
    headers = ["entity", "origin", "source", "key", "email", "time", "relation", "columns"]
    print(
        format_table(headers, rows) if rows else "no entities: register one with `catalog register`"
    )
    return 0


def _role_of(entity: Entity, column: str) -> str:
    spec, rel = entity.spec, entity.spec.relation
    roles = [
        (spec.primary_key, "key"),
        (spec.email_column, "email"),
        (spec.time_column, "time"),
        (rel.foreign_key if rel else None, f"-> {rel.to}" if rel else ""),
    ]
    return ", ".join(role for col, role in roles if col == column)


def show_command(args: argparse.Namespace) -> int:
    """Print one entity's source, roles and columns with their DuckDB types and kinds."""
    with Workspace(get_settings()) as ws:
        entity = ws.catalog().entity(args.name)
    print(f"{entity.name}: {entity.spec.source}")
    if entity.spec.description:
        print(entity.spec.description)
    rows = [
        [c.name, c.type, c.kind.value, _role_of(entity, c.name)] for c in entity.columns.values()
    ]
    print(format_table(["column", "type", "kind", "role"], rows))
    return 0


def register_command(args: argparse.Namespace) -> int:
    """Check and save a registration; print what was registered."""
    spec = spec_from_args(args)
    with Workspace(get_settings()) as ws:
        entity = register_entity(ws, spec)
    print(
        f"registered entity {entity.name!r} ({entity.spec.source}, {len(entity.columns)} columns)"
    )
    return 0


def unregister_command(args: argparse.Namespace) -> int:
    """Forget a registered entity."""
    with Workspace(get_settings()) as ws:
        unregister_entity(ws, args.name)
    print(f"unregistered entity {args.name!r}")
    return 0
