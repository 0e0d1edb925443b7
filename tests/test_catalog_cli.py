"""Registering tables, CSV and Parquet files as entities, from Python and from the CLI; bad
input gets a clear error and saves nothing. The warehouse and files are built here (seed 7)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from workbench.catalog import ColumnKind, EntitySpec, Relation
from workbench.cli import main
from workbench.config import get_settings
from workbench.errors import CatalogError, ConflictError, NotFoundError
from workbench.registry import register_entity, unregister_entity
from workbench.workspace import Workspace

CUSTOMERS = 50
ORDERS = 120
VISITS = 80


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A warehouse with customers and orders tables, a CSV of web visits, a Parquet of refunds."""
    rng = random.Random(7)
    warehouse = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(warehouse))
    con.sql(
        "CREATE TABLE customers AS SELECT i AS customer_id, 'c' || i || '@example.com' AS email, "
        "DATE '2025-01-01' + i::INTEGER AS signup_date FROM range(1, $n + 1) t(i)",
        params={"n": CUSTOMERS},
    )
    con.sql(
        "CREATE TABLE orders AS SELECT i AS order_id, 1 + (i * 7) % $c AS customer_id, "
        "TIMESTAMP '2026-01-01' + INTERVAL (i) HOUR AS ordered_at, i * 1.5 AS amount "
        "FROM range(1, $n + 1) t(i)",
        params={"c": CUSTOMERS, "n": ORDERS},
    )
    con.close()
    start = datetime(2026, 3, 1)
    visits = pl.DataFrame(
        {
            "visit_id": list(range(1, VISITS + 1)),
            "customer_id": [rng.randint(1, CUSTOMERS) for _ in range(VISITS)],
            "visited_at": [
                start + timedelta(minutes=rng.randint(0, 90_000)) for _ in range(VISITS)
            ],
            "page": [rng.choice(["/", "/sale", "/cart"]) for _ in range(VISITS)],
        }
    )
    visits.write_csv(tmp_path / "visits.csv")
    refunds = pl.DataFrame(
        {
            "refund_id": [f"r{i}" for i in range(10)],
            "order_id": [rng.randint(1, ORDERS) for _ in range(10)],
            "refunded_on": [date(2026, 4, 1) + timedelta(days=i) for i in range(10)],
        }
    )
    refunds.write_parquet(tmp_path / "refunds.parquet")
    (tmp_path / "notes.txt").write_text("customer_id,email\n1,a@x.io\n")
    return {"warehouse": warehouse, "home": tmp_path / "home", "dir": tmp_path}


@pytest.fixture
def env(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("WORKBENCH_HOME", str(files["home"]))
    monkeypatch.setenv("WORKBENCH_WAREHOUSE", str(files["warehouse"]))
    monkeypatch.chdir(files["dir"])
    return files


@pytest.fixture
def ws(env: dict[str, Path]) -> Iterator[Workspace]:
    workspace = Workspace(get_settings())
    yield workspace
    workspace.close()


CUSTOMERS_SPEC = EntitySpec("customers", "customers", "customer_id", email_column="email")
ORDERS_SPEC = EntitySpec(
    "orders", "orders", "order_id", time_column="ordered_at",
    relation=Relation("customers", "customer_id"),
)  # fmt: skip


def row_count(ws: Workspace, name: str) -> int:
    source = ws.catalog().entity(name).source_expression().sql(dialect="duckdb")
    return int(ws.cursor().sql(f"SELECT count(*) FROM {source}").fetchall()[0][0])


def saved_names(ws: Workspace) -> list[str]:
    return [s.name for s in ws.store.list_entities()]


# -- Python -------------------------------------------------------------------------------


def test_register_a_table_csv_and_parquet_from_python(ws: Workspace) -> None:
    customers = register_entity(ws, CUSTOMERS_SPEC)
    assert customers.column("signup_date").kind is ColumnKind.DATE
    register_entity(ws, ORDERS_SPEC)
    visits = register_entity(
        ws, EntitySpec("visits", "visits.csv", "visit_id", time_column="visited_at",
                       relation=Relation("customers", "customer_id")),
    )  # fmt: skip
    assert visits.spec.source == str(ws.settings.home.parent / "visits.csv")  # made absolute
    assert visits.column("visited_at").kind is ColumnKind.TIMESTAMP
    refunds = register_entity(
        ws, EntitySpec("refunds", "refunds.parquet", "refund_id", time_column="refunded_on",
                       relation=Relation("orders", "order_id")),
    )  # fmt: skip
    assert refunds.column("refund_id").kind is ColumnKind.TEXT
    catalog = ws.catalog()
    assert sorted(catalog.entities) == ["customers", "orders", "refunds", "visits"]
    assert [e.name for e in catalog.related_to("customers")] == ["orders", "visits"]
    counts = {n: row_count(ws, n) for n in catalog.entities}
    assert counts == {"customers": CUSTOMERS, "orders": ORDERS, "visits": VISITS, "refunds": 10}
    reopened = Workspace(get_settings())  # another process's view: read from the store
    assert sorted(reopened.catalog().entities) == sorted(catalog.entities)
    reopened.close()


def test_a_relation_must_point_at_a_key_of_the_same_kind(ws: Workspace) -> None:
    register_entity(ws, CUSTOMERS_SPEC)
    wrong = EntitySpec("orders", "orders", "order_id", relation=Relation("customers", "ordered_at"))
    with pytest.raises(CatalogError, match=r"'ordered_at' \(TIMESTAMP\) cannot point at"):
        register_entity(ws, wrong)
    assert saved_names(ws) == ["customers"]


def test_unregister_refuses_while_another_entity_relates_to_it(ws: Workspace) -> None:
    register_entity(ws, CUSTOMERS_SPEC)
    register_entity(ws, ORDERS_SPEC)
    with pytest.raises(ConflictError, match="orders relate to 'customers'"):
        unregister_entity(ws, "customers")
    unregister_entity(ws, "orders")
    unregister_entity(ws, "customers")
    assert ws.catalog().entities == {}
    with pytest.raises(NotFoundError, match="no saved entity named 'orders'"):
        unregister_entity(ws, "orders")


# -- CLI --------------------------------------------------------------------------------------


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["catalog", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_register_list_show_unregister(
    env: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "list")
    assert (code, out.strip()) == (0, "no entities: register one with `catalog register`")
    args = ["register", "customers", "--source", "customers", "--key", "customer_id"]
    code, out, _ = cli(capsys, *args, "--email", "email")
    assert code == 0 and "registered entity 'customers' (customers, 3 columns)" in out
    visits = ["register", "visits", "--source", "visits.csv", "--key", "visit_id"]
    assert cli(capsys, *visits, "--time", "visited_at", "--relates-to", "customers",
               "--via", "customer_id")[0] == 0  # fmt: skip
    parquet = ["register", "refunds", "--source", str(env["dir"] / "refunds.parquet")]
    assert cli(capsys, *parquet, "--key", "refund_id")[0] == 0
    code, out, _ = cli(capsys, "list")
    lines = out.splitlines()
    assert lines[0].split() == ["entity", "origin", "source", "key", "email", "time",
                                "relation", "columns"]  # fmt: skip
    assert lines[2].split() == ["customers", "registered", "customers", "customer_id", "email",
                                "-", "-", "3"]  # fmt: skip
    visits_csv = str(env["dir"] / "visits.csv")
    assert lines[4].split() == ["visits", "registered", visits_csv, "visit_id", "-", "visited_at",
                                "customer_id", "->", "customers", "4"]  # fmt: skip
    code, out, _ = cli(capsys, "show", "visits")
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[3:]}
    assert rows["visited_at"] == ["TIMESTAMP", "timestamp", "time"]
    assert rows["customer_id"] == ["BIGINT", "number", "->", "customers"]
    assert rows["page"] == ["VARCHAR", "text"]
    assert cli(capsys, "unregister", "refunds")[:2] == (0, "unregistered entity 'refunds'\n")
    assert [s.name for s in Workspace(get_settings()).store.list_entities()] == [
        "customers", "visits"
    ]  # fmt: skip


BAD_REGISTRATIONS = [
    (["orders", "--source", "order", "--key", "order_id"], "cannot read table or view 'order'"),
    (["orders", "--source", "orders", "--key", "id"], "primary key 'id' is not a column"),
    (
        ["orders", "--source", "orders", "--key", "order_id", "--relates-to", "customers",
         "--via", "client_id"],
        "relation foreign key 'client_id' is not a column",
    ),
    (
        ["orders", "--source", "orders", "--key", "order_id", "--relates-to", "clients",
         "--via", "customer_id"],
        "relation to unknown entity 'clients' (known: customers, orders)",
    ),
    (["notes", "--source", "notes.txt", "--key", "customer_id"], "neither a CSV nor a Parquet"),
    (["visits", "--source", "missing.csv", "--key", "visit_id"], "cannot read csv file"),
    (["orders", "--source", "orders", "--key", "order_id", "--time", "amount"], "is not a date"),
    (["orders", "--source", "orders", "--key", "order_id", "--via", "x"], "go together"),
    (["web orders", "--source", "orders", "--key", "order_id"], "is not allowed"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "message"), BAD_REGISTRATIONS)
def test_cli_bad_registration_fails_clearly_and_saves_nothing(
    env: dict[str, Path], capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert cli(capsys, "register", "customers", "--source", "customers", "--key",
               "customer_id")[0] == 0  # fmt: skip
    code, _, err = cli(capsys, "register", *args)
    assert code == 1
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    with Workspace(get_settings()) as ws:
        assert saved_names(ws) == ["customers"]


def test_cli_unregister_errors(env: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "unregister", "customers")
    assert code == 1 and "no saved entity named 'customers'" in err
    assert cli(capsys, "show", "customers")[0] == 1
