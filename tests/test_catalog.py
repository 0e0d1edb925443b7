"""The catalog: type kinds, checking specs against a real DuckDB file, embedded specs, files."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from workbench.catalog import (
    ColumnKind,
    EntitySpec,
    Relation,
    build_catalog,
    embedded_specs,
    kind_of,
    write_embedded_specs,
)
from workbench.errors import CatalogError


@pytest.mark.parametrize(
    ("duckdb_type", "kind"),
    [
        ("VARCHAR", ColumnKind.TEXT),
        ("BIGINT", ColumnKind.NUMBER),
        ("DECIMAL(10,2)", ColumnKind.NUMBER),
        ("DOUBLE", ColumnKind.NUMBER),
        ("DATE", ColumnKind.DATE),
        ("TIMESTAMP", ColumnKind.TIMESTAMP),
        ("TIMESTAMP WITH TIME ZONE", ColumnKind.TIMESTAMP),
        ("BOOLEAN", ColumnKind.BOOLEAN),
        ("VARCHAR[]", ColumnKind.TEXT_LIST),
        ("INTEGER[]", ColumnKind.OTHER),
        ("STRUCT(a INTEGER)", ColumnKind.OTHER),
    ],
)
def test_column_kind_follows_duckdb_type(duckdb_type: str, kind: ColumnKind) -> None:
    assert kind_of(duckdb_type) is kind


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.sql(
        "CREATE TABLE people AS SELECT range AS pid, 'p' || range || '@x.org' AS mail FROM range(5)"
    )
    con.sql(
        "CREATE TABLE visits AS SELECT range AS vid, range % 5 AS person, "
        "TIMESTAMP '2026-01-01' + INTERVAL (range) HOUR AS at FROM range(20)"
    )
    con.close()
    return path


PEOPLE = EntitySpec("people", "people", "pid", email_column="mail")
VISITS = EntitySpec(
    "visits", "visits", "vid", time_column="at", relation=Relation("people", "person")
)


def test_catalog_checks_and_describes_entities(warehouse: Path) -> None:
    con = duckdb.connect(str(warehouse), read_only=True)
    catalog = build_catalog(con, [PEOPLE, VISITS])
    assert catalog.entity("visits").column("at").kind is ColumnKind.TIMESTAMP
    assert [e.name for e in catalog.related_to("people")] == ["visits"]
    assert [e.name for e in catalog.activatable()] == ["people"]


def test_catalog_reports_every_problem_at_once(warehouse: Path) -> None:
    con = duckdb.connect(str(warehouse), read_only=True)
    specs = [
        EntitySpec("ghost", "no_such_table", "id"),
        EntitySpec("people", "people", "id", email_column="email"),
        EntitySpec("visits", "visits", "vid", relation=Relation("customers", "person")),
        EntitySpec("clicks", "visits", "vid", time_column="person"),
    ]
    with pytest.raises(CatalogError) as err:
        build_catalog(con, specs)
    message = str(err.value)
    assert "no_such_table" in message
    assert "primary key 'id' is not a column" in message
    assert "email column 'email' is not a column" in message
    assert "relation to unknown entity 'customers'" in message
    assert "time column 'person' is not a date" in message


def test_unknown_names_list_what_exists(warehouse: Path) -> None:
    con = duckdb.connect(str(warehouse), read_only=True)
    catalog = build_catalog(con, [PEOPLE])
    with pytest.raises(CatalogError, match="known: people"):
        catalog.entity("customers")
    with pytest.raises(CatalogError, match="columns: pid, mail"):
        catalog.entity("people").column("email")


def test_csv_and_parquet_files_are_entities(tmp_path: Path, warehouse: Path) -> None:
    con = duckdb.connect(str(warehouse), read_only=True)
    con.sql(f"COPY (SELECT * FROM people) TO '{tmp_path / 'p.csv'}' (HEADER)")
    con.sql(f"COPY (SELECT * FROM people) TO '{tmp_path / 'p.parquet'}' (FORMAT parquet)")
    specs = [
        EntitySpec("csv_people", str(tmp_path / "p.csv"), "pid", email_column="mail"),
        EntitySpec("pq_people", str(tmp_path / "p.parquet"), "pid", email_column="mail"),
    ]
    catalog = build_catalog(con, specs)
    for name in ("csv_people", "pq_people"):
        source = catalog.entity(name).source_expression().sql(dialect="duckdb")
        assert con.sql(f"SELECT count(*) FROM {source}").fetchall() == [(5,)]


def test_a_file_that_is_neither_csv_nor_parquet_is_refused(tmp_path: Path, warehouse: Path) -> None:
    (tmp_path / "notes.txt").write_text("pid\n1\n")
    con = duckdb.connect(str(warehouse), read_only=True)
    with pytest.raises(CatalogError, match="neither a CSV nor a Parquet"):
        build_catalog(con, [EntitySpec("notes", str(tmp_path / "notes.txt"), "pid")])


def test_specs_embedded_in_the_warehouse_round_trip(warehouse: Path) -> None:
    con = duckdb.connect(str(warehouse))
    assert embedded_specs(con) == []
    write_embedded_specs(con, [PEOPLE, VISITS])
    assert embedded_specs(con) == [PEOPLE, VISITS]


def test_spec_dict_form_round_trips_and_rejects_unknown_keys() -> None:
    assert EntitySpec.from_dict(VISITS.to_dict()) == VISITS
    with pytest.raises(CatalogError, match="unknown key"):
        EntitySpec.from_dict({"name": "x", "source": "t", "primary_key": "id", "emial": "e"})
    with pytest.raises(CatalogError, match="lacks: primary_key"):
        EntitySpec.from_dict({"name": "x", "source": "t"})


def test_segments_over_csv_and_parquet_entities_count_their_rows(tmp_path: Path) -> None:
    from workbench.config import Settings
    from workbench.segments import count
    from workbench.workspace import Workspace

    warehouse = tmp_path / "empty.duckdb"
    duckdb.connect(str(warehouse)).close()
    con = duckdb.connect()
    con.sql("SELECT range AS pid, 'p' || range || '@x.org' AS mail FROM range(10)").write_csv(
        str(tmp_path / "p.csv")
    )
    con.sql(f"COPY (SELECT * FROM '{tmp_path / 'p.csv'}') TO '{tmp_path / 'p.parquet'}'")
    ws = Workspace(Settings(home=tmp_path / "home", warehouse=warehouse))
    for name, ending in (("csv_people", "csv"), ("pq_people", "parquet")):
        ws.store.save_entity(EntitySpec(name, str(tmp_path / f"p.{ending}"), "pid", "mail"))
    ws.reload_catalog()
    for name in ("csv_people", "pq_people"):
        segment = {"name": "s", "entity": name, "filter": {"column": "pid", "op": "lt", "value": 4}}
        assert count(ws, segment) == 4
    ws.close()
