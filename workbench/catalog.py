"""The data catalog: which entities exist, where their rows come from, and how they relate.

An *entity* is a table of things (customers, orders, events) with a primary key. The entity
that gets activated has an email column; event-like entities have a time column; related
entities point at the person entity through a foreign key. Column types come from DuckDB and
decide which segment operators apply (see ``workbench.segments.operators``).

Specs come from two places: the warehouse itself may carry a table ``workbench_catalog`` (the
demo warehouse does), and users register their own tables and CSV/Parquet files in the state
store. ``build_catalog`` checks every spec against the warehouse and reports every problem.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import duckdb
from sqlglot import exp

from workbench.errors import CatalogError

CATALOG_TABLE = "workbench_catalog"


class ColumnKind(StrEnum):
    """The family of a column's type; it decides which operators and widgets apply."""

    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    TIMESTAMP = "timestamp"
    BOOLEAN = "boolean"
    TEXT_LIST = "list"
    OTHER = "other"


_NUMBER_PREFIXES = (
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
    "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL",
)  # fmt: skip


def kind_of(duckdb_type: str) -> ColumnKind:
    """Map a DuckDB type name (as DESCRIBE prints it) to its column kind."""
    t = duckdb_type.upper().strip()
    if t.endswith("[]"):
        return ColumnKind.TEXT_LIST if kind_of(t[:-2]) is ColumnKind.TEXT else ColumnKind.OTHER
    if t.startswith(("VARCHAR", "TEXT", "STRING", "ENUM", "UUID")):
        return ColumnKind.TEXT
    if t.startswith(_NUMBER_PREFIXES):
        return ColumnKind.NUMBER
    if t == "DATE":
        return ColumnKind.DATE
    if t.startswith("TIMESTAMP"):
        return ColumnKind.TIMESTAMP
    if t == "BOOLEAN":
        return ColumnKind.BOOLEAN
    return ColumnKind.OTHER


@dataclass(frozen=True)
class Column:
    """One column of an entity, with its DuckDB type and kind."""

    name: str
    type: str
    kind: ColumnKind


@dataclass(frozen=True)
class Relation:
    """A foreign key from this entity to another entity's primary key."""

    to: str
    foreign_key: str


@dataclass(frozen=True)
class EntitySpec:
    """What a user registers: a name, a source and the roles of some columns.

    ``source`` is a table or view name in the warehouse, or a path or glob of CSV or Parquet
    files (recognised by their ending).
    """

    name: str
    source: str
    primary_key: str
    email_column: str | None = None
    time_column: str | None = None
    relation: Relation | None = None
    description: str = ""

    @property
    def source_kind(self) -> str:
        """``table``, ``csv`` or ``parquet``."""
        lowered = self.source.lower()
        if lowered.endswith((".parquet", ".parq")):
            return "parquet"
        if lowered.endswith((".csv", ".csv.gz", ".tsv")):
            return "csv"
        if "/" in self.source or "\\" in self.source or "." in self.source.rsplit("/", 1)[-1]:
            return "file"
        return "table"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the form stored in the state store and in files)."""
        data = asdict(self)
        if self.relation is None:
            data.pop("relation")
        return {k: v for k, v in data.items() if v not in (None, "")}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EntitySpec:
        """Build a spec from its dict form; unknown keys are an error."""
        known = {"name", "source", "primary_key", "email_column", "time_column", "relation"}
        unknown = set(data) - known - {"description"}
        if unknown:
            raise CatalogError(f"unknown key(s) in entity spec: {', '.join(sorted(unknown))}")
        missing = {"name", "source", "primary_key"} - set(data)
        if missing:
            raise CatalogError(f"entity spec lacks: {', '.join(sorted(missing))}")
        rel = data.get("relation")
        relation = Relation(to=rel["to"], foreign_key=rel["foreign_key"]) if rel else None
        return cls(
            name=str(data["name"]),
            source=str(data["source"]),
            primary_key=str(data["primary_key"]),
            email_column=data.get("email_column"),
            time_column=data.get("time_column"),
            relation=relation,
            description=str(data.get("description", "")),
        )


@dataclass(frozen=True)
class Entity:
    """A checked entity: its spec plus the columns DuckDB reports for its source."""

    spec: EntitySpec
    columns: dict[str, Column] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    def column(self, name: str) -> Column:
        """The column called ``name``; a CatalogError names the entity and its columns."""
        try:
            return self.columns[name]
        except KeyError:
            known = ", ".join(self.columns)
            raise CatalogError(
                f"entity {self.name!r} has no column {name!r} (columns: {known})"
            ) from None

    def source_expression(self) -> exp.Expression:
        """The FROM item for this entity: a quoted table, or a file-reading table function."""
        return source_expression(self.spec)


@dataclass(frozen=True)
class Catalog:
    """Every entity the workbench knows, by name."""

    entities: dict[str, Entity]

    def entity(self, name: str) -> Entity:
        """The entity called ``name``; a CatalogError lists the known ones."""
        try:
            return self.entities[name]
        except KeyError:
            known = ", ".join(self.entities) or "none"
            raise CatalogError(f"unknown entity {name!r} (known: {known})") from None

    def related_to(self, person: str) -> list[Entity]:
        """Entities with a relation pointing at ``person``."""
        return [
            e
            for e in self.entities.values()
            if e.spec.relation is not None and e.spec.relation.to == person
        ]

    def activatable(self) -> list[Entity]:
        """Entities that have an email column, so they can be activated."""
        return [e for e in self.entities.values() if e.spec.email_column]


def source_expression(spec: EntitySpec) -> exp.Expression:
    """The sqlglot FROM item of a spec's source (identifiers quoted, paths as literals)."""
    kind = spec.source_kind
    if kind == "table":
        return exp.Table(this=exp.to_identifier(spec.source, quoted=True))
    reader = "read_parquet" if kind == "parquet" else "read_csv_auto"
    # Wrapped in a Table so that an alias renders (``read_parquet('x') AS "t0"``).
    return exp.Table(this=exp.Anonymous(this=reader, expressions=[exp.Literal.string(spec.source)]))


def _describe(con: duckdb.DuckDBPyConnection, spec: EntitySpec) -> dict[str, Column]:
    sql = f"DESCRIBE SELECT * FROM {source_expression(spec).sql(dialect='duckdb')}"
    rows = con.sql(sql).fetchall()
    return {str(r[0]): Column(str(r[0]), str(r[1]), kind_of(str(r[1]))) for r in rows}


def _problems_of(spec: EntitySpec, columns: dict[str, Column]) -> list[str]:
    problems = []
    roles = {
        "primary key": spec.primary_key,
        "email column": spec.email_column,
        "time column": spec.time_column,
        "relation foreign key": spec.relation.foreign_key if spec.relation else None,
    }
    for role, col in roles.items():
        if col is not None and col not in columns:
            problems.append(
                f"entity {spec.name!r}: {role} {col!r} is not a column of {spec.source!r} "
                f"(columns: {', '.join(columns)})"
            )
    if spec.time_column in columns and columns[spec.time_column].kind not in (
        ColumnKind.DATE,
        ColumnKind.TIMESTAMP,
    ):
        problems.append(f"entity {spec.name!r}: time column {spec.time_column!r} is not a date")
    return problems


def inspect_entity(con: duckdb.DuckDBPyConnection, spec: EntitySpec) -> Entity:
    """Check one spec against the warehouse; CatalogError says what is wrong."""
    if spec.source_kind == "file":
        raise CatalogError(
            f"entity {spec.name!r}: {spec.source!r} is neither a CSV nor a Parquet file "
            "(use a .csv, .csv.gz, .tsv or .parquet path or glob, or a table name)"
        )
    try:
        columns = _describe(con, spec)
    except duckdb.Error as exc:
        what = "table or view" if spec.source_kind == "table" else f"{spec.source_kind} file"
        first_line = str(exc).splitlines()[0]
        raise CatalogError(
            f"entity {spec.name!r}: cannot read {what} {spec.source!r}: {first_line}"
        ) from None
    problems = _problems_of(spec, columns)
    if problems:
        raise CatalogError("; ".join(problems))
    return Entity(spec=spec, columns=columns)


def _check_relations(entities: dict[str, Entity]) -> list[str]:
    problems = []
    for e in entities.values():
        rel = e.spec.relation
        if rel is not None and rel.to not in entities:
            problems.append(f"entity {e.name!r}: relation to unknown entity {rel.to!r}")
    return problems


def build_catalog(con: duckdb.DuckDBPyConnection, specs: Iterable[EntitySpec]) -> Catalog:
    """Check every spec against the warehouse; one CatalogError lists every problem."""
    entities: dict[str, Entity] = {}
    problems: list[str] = []
    for spec in specs:
        try:
            entities[spec.name] = inspect_entity(con, spec)
        except CatalogError as exc:
            problems.append(str(exc))
    problems += _check_relations(entities)
    if problems:
        raise CatalogError("catalog problems:\n  - " + "\n  - ".join(problems))
    return Catalog(entities=entities)


def embedded_specs(con: duckdb.DuckDBPyConnection) -> list[EntitySpec]:
    """Specs stored inside the warehouse in ``workbench_catalog`` (none if the table is absent)."""
    found = con.sql(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = $t",
        params={"t": CATALOG_TABLE},
    ).fetchall()
    if not found[0][0]:
        return []
    rows = con.sql(f'SELECT spec FROM "{CATALOG_TABLE}" ORDER BY position').fetchall()
    return [EntitySpec.from_dict(json.loads(r[0])) for r in rows]


def write_embedded_specs(con: duckdb.DuckDBPyConnection, specs: Iterable[EntitySpec]) -> None:
    """Store specs inside a warehouse opened read-write (used by the demo builder)."""
    con.sql(f'CREATE OR REPLACE TABLE "{CATALOG_TABLE}" (position INTEGER, spec VARCHAR)')
    for i, spec in enumerate(specs):
        con.sql(
            f'INSERT INTO "{CATALOG_TABLE}" VALUES ($i, $s)',
            params={"i": i, "s": json.dumps(spec.to_dict())},
        )
