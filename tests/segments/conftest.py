"""Fixtures of the segment tests: the generated fixture warehouse, its catalog and a workspace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.segments.fixture_data import AS_OF, build_warehouse
from workbench.catalog import Catalog, build_catalog, embedded_specs
from workbench.config import Settings
from workbench.segments import compile_segment
from workbench.workspace import Workspace


@pytest.fixture(scope="session")
def fixture_warehouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list, list]:
    """The fixture warehouse file and the rows it holds (people, purchases)."""
    path = tmp_path_factory.mktemp("segments") / "fixture.duckdb"
    persons, purchases = build_warehouse(path)
    return path, persons, purchases


@pytest.fixture(scope="session")
def persons(fixture_warehouse: tuple[Path, list, list]) -> list[dict[str, Any]]:
    return fixture_warehouse[1]


@pytest.fixture(scope="session")
def purchases(fixture_warehouse: tuple[Path, list, list]) -> list[dict[str, Any]]:
    return fixture_warehouse[2]


@pytest.fixture(scope="session")
def con(fixture_warehouse: tuple[Path, list, list]) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the fixture warehouse."""
    connection = duckdb.connect(str(fixture_warehouse[0]), read_only=True)
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def catalog(con: duckdb.DuckDBPyConnection) -> Catalog:
    return build_catalog(con, embedded_specs(con))


@pytest.fixture
def fixture_ws(tmp_path: Path, fixture_warehouse: tuple[Path, list, list]) -> Iterator[Workspace]:
    """A workspace over the fixture warehouse with an empty state store."""
    ws = Workspace(Settings(home=tmp_path / "home", warehouse=fixture_warehouse[0]))
    yield ws
    ws.close()


def people_segment(filter_node: dict[str, Any] | None, name: str = "test") -> dict[str, Any]:
    """A segment document over ``people``."""
    doc: dict[str, Any] = {"version": 1, "name": name, "entity": "people"}
    if filter_node is not None:
        doc["filter"] = filter_node
    return doc


def matching_ids(
    con: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    filter_node: dict[str, Any] | None,
    lookup: Any = None,
    as_of: Any = AS_OF,
) -> list[int]:
    """Compile a people segment and run it: the ids it selects, in order."""
    compiled = compile_segment(people_segment(filter_node), catalog, lookup, as_of=as_of)
    return [row[0] for row in con.cursor().sql(compiled.sql, params=compiled.params).fetchall()]
