"""The demo warehouse: determinism, shape, realistic mess, time range, catalog and CLI.

Most checks read the session's demo warehouse (2,000 customers, seed 7, reference date
2026-06-30, built by ``tests/conftest.py`` through ``build_demo``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from workbench.catalog import build_catalog, embedded_specs
from workbench.cli import main
from workbench.demo import DEMO_SPECS, build_demo
from workbench.demo_vocabulary import CITIES, TAGS
from workbench.errors import ConfigError

REF = datetime(2026, 6, 30)
START = REF - timedelta(days=730)
VALID_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

EXPECTED_COLUMNS = {
    "customers": [
        ("id", "BIGINT"), ("email", "VARCHAR"), ("first_name", "VARCHAR"),
        ("last_name", "VARCHAR"), ("country", "VARCHAR"), ("city", "VARCHAR"),
        ("plan", "VARCHAR"), ("signup_at", "TIMESTAMP"), ("last_seen_at", "TIMESTAMP"),
        ("lifetime_value", "DOUBLE"), ("marketing_opt_in", "BOOLEAN"), ("tags", "VARCHAR[]"),
    ],
    "orders": [
        ("id", "BIGINT"), ("customer_id", "BIGINT"), ("created_at", "TIMESTAMP"),
        ("amount", "DECIMAL(12,2)"), ("status", "VARCHAR"), ("category", "VARCHAR"),
    ],
    "events": [
        ("id", "BIGINT"), ("customer_id", "BIGINT"), ("name", "VARCHAR"),
        ("occurred_at", "TIMESTAMP"),
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def con(demo_warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The session's demo warehouse, opened read-only."""
    connection = duckdb.connect(str(demo_warehouse), read_only=True)
    yield connection
    connection.close()


def one(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    """The single value a query returns."""
    return con.sql(sql).fetchall()[0][0]


def share(con: duckdb.DuckDBPyConnection, condition: str) -> float:
    """The fraction of customers meeting ``condition``."""
    return float(one(con, f"SELECT avg(CASE WHEN {condition} THEN 1 ELSE 0 END) FROM customers"))


def table_digests(path: Path) -> dict[str, str]:
    """A SHA-256 of every table's rows in stored order, keyed by table name."""
    with duckdb.connect(str(path), read_only=True) as c:
        tables = [r[0] for r in c.sql("SELECT table_name FROM duckdb_tables()").fetchall()]
        return {
            t: hashlib.sha256(
                repr(c.sql(f'SELECT * FROM "{t}" ORDER BY rowid').fetchall()).encode()
            ).hexdigest()
            for t in tables
        }


def invalid_kind(email: str) -> str:
    """Why an address is syntactically invalid."""
    if "@" not in email:
        return "no @"
    if " " in email.strip():
        return "space inside"
    return "no dot in domain" if "." not in email.split("@")[-1] else "other"


def test_same_seed_gives_identical_tables_and_another_seed_differs(tmp_path: Path) -> None:
    args = {"customers": 2_000, "reference_date": "2026-06-30"}
    first = build_demo(tmp_path / "a.duckdb", seed=7, **args)
    build_demo(tmp_path / "b.duckdb", seed=7, **args)
    build_demo(tmp_path / "c.duckdb", seed=8, **args)
    a, b, c = (table_digests(tmp_path / f"{n}.duckdb") for n in "abc")
    assert set(a) == {"customers", "orders", "events", "workbench_catalog"}
    assert a == b
    assert all(a[t] != c[t] for t in ("customers", "orders", "events"))
    assert first.rows["customers"] == 2_000
    assert first.seed == 7 and first.reference_date == date(2026, 6, 30)


def test_build_leaves_only_the_warehouse_and_replaces_an_old_one(tmp_path: Path) -> None:
    path = tmp_path / "wh" / "demo.duckdb"
    build_demo(path, customers=200, seed=1, reference_date="2026-06-30")
    old = table_digests(path)
    summary = build_demo(path, customers=300, seed=2, reference_date="2026-06-30")
    assert sorted(p.name for p in path.parent.iterdir()) == ["demo.duckdb"]
    assert table_digests(path) != old
    assert summary.rows["customers"] == 300 and summary.path == path


def test_tables_have_exactly_the_documented_columns_and_types(
    con: duckdb.DuckDBPyConnection,
) -> None:
    for table, expected in EXPECTED_COLUMNS.items():
        got = [(r[0], r[1]) for r in con.sql(f"DESCRIBE {table}").fetchall()]
        assert got == expected, table


def test_row_counts_and_skewed_per_customer_averages(con: duckdb.DuckDBPyConnection) -> None:
    assert one(con, "SELECT count(*) FROM customers") == 2_000
    assert one(con, "SELECT min(id) = 1 AND max(id) = 2000 FROM customers")
    assert 2.4 <= float(one(con, "SELECT count(*) / 2000 FROM orders")) <= 3.6
    assert 32 <= float(one(con, "SELECT count(*) / 2000 FROM events")) <= 48
    per_customer = """SELECT c.id, count(o.id) AS n FROM customers c
                      LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id"""
    assert float(one(con, f"SELECT avg((n <= 1)::INT) FROM ({per_customer})")) > 0.4
    assert int(one(con, f"SELECT max(n) FROM ({per_customer})")) >= 15
    assert (
        one(con, "SELECT count(*) FROM orders WHERE customer_id NOT IN (SELECT id FROM customers)")
        == 0
    )


def test_email_mess_is_present_in_a_few_percent(con: duckdb.DuckDBPyConnection) -> None:
    trimmed_valid = f"regexp_matches(trim(email), '{VALID_EMAIL}')"
    assert 0.01 <= share(con, "email IS NULL") <= 0.04
    assert 0.01 <= share(con, "email <> trim(email)") <= 0.04
    assert 0.015 <= share(con, "email <> lower(email) AND email <> upper(email)") <= 0.05
    assert 0.01 <= share(con, f"NOT {trimmed_valid}") <= 0.04
    assert 0.02 <= share(con, f"{trimmed_valid} AND email LIKE '%+%@%'") <= 0.07
    invalid = [
        r[0] for r in con.sql(f"SELECT email FROM customers WHERE NOT {trimmed_valid}").fetchall()
    ]
    assert {invalid_kind(e) for e in invalid} == {"no @", "no dot in domain", "space inside"}


def test_emails_are_unique_except_deliberate_case_duplicates(
    con: duckdb.DuckDBPyConnection,
) -> None:
    groups = con.sql(f"""
        SELECT lower(trim(email)) AS k, count(*) AS n, count(DISTINCT email) AS spellings
        FROM customers WHERE regexp_matches(trim(email), '{VALID_EMAIL}')
        GROUP BY k HAVING count(*) > 1""").fetchall()
    assert 0.007 * 2000 <= len(groups) <= 0.03 * 2000
    assert all(n == 2 and spellings == 2 for _, n, spellings in groups)
    domains = con.sql(f"""SELECT DISTINCT split_part(lower(trim(email)), '@', 2) FROM customers
                         WHERE regexp_matches(trim(email), '{VALID_EMAIL}')""").fetchall()
    assert {d for (d,) in domains} <= {"example.com", "example.org", "example.net",
                                       "mail.example.net", "demo.example.com"}  # fmt: skip


def test_nulls_countries_cities_plans_and_tags(con: duckdb.DuckDBPyConnection) -> None:
    for column in ("country", "last_seen_at", "lifetime_value"):
        assert 0.01 <= share(con, f"{column} IS NULL") <= 0.07, column
    countries = dict(con.sql("SELECT country, count(*) FROM customers GROUP BY 1").fetchall())
    assert {"SE", "DE", "FR", "GB", "US"} <= set(countries) and len(countries) - 1 >= 12
    assert countries["US"] > 3 * countries["SE"]
    pairs = con.sql("SELECT DISTINCT country, city FROM customers WHERE country IS NOT NULL")
    assert all(city in CITIES[country] for country, city in pairs.fetchall())
    plans = dict(con.sql("SELECT plan, count(*) FROM customers GROUP BY 1").fetchall())
    assert set(plans) == {"free", "pro", "enterprise"}
    assert plans["free"] > plans["pro"] > plans["enterprise"] > 0
    tag_lists = [r[0] for r in con.sql("SELECT tags FROM customers").fetchall()]
    assert {len(t) for t in tag_lists} == {0, 1, 2, 3}
    assert all(set(t) <= set(TAGS) and len(set(t)) == len(t) for t in tag_lists)
    assert 0.4 < share(con, "marketing_opt_in") < 0.8


def test_orders_and_events_vocabularies(con: duckdb.DuckDBPyConnection) -> None:
    statuses = dict(con.sql("SELECT status, count(*) FROM orders GROUP BY 1").fetchall())
    assert set(statuses) == {"paid", "refunded", "cancelled"}
    assert statuses["paid"] > 0.8 * sum(statuses.values())
    assert 4 <= int(one(con, "SELECT count(DISTINCT category) FROM orders")) <= 8
    assert one(con, "SELECT min(amount) > 0 FROM orders")
    names = {r[0] for r in con.sql("SELECT DISTINCT name FROM events").fetchall()}
    assert {"page_view", "add_to_cart", "purchase", "email_open", "email_click", "signup"} <= names


def test_all_timestamps_lie_in_the_two_years_before_the_reference_date(
    con: duckdb.DuckDBPyConnection,
) -> None:
    for table, column in [("customers", "signup_at"), ("customers", "last_seen_at"),
                          ("orders", "created_at"), ("events", "occurred_at")]:  # fmt: skip
        low, high = con.sql(f"SELECT min({column}), max({column}) FROM {table}").fetchall()[0]
        assert low >= START and high < REF, (table, column)
        assert high > REF - timedelta(days=7), (table, column)
    first_signup = one(con, "SELECT min(signup_at) FROM customers")
    assert first_signup < START + timedelta(days=30)
    assert one(con, "SELECT count(*) FROM customers WHERE last_seen_at < signup_at") == 0
    for table, column in [("orders", "created_at"), ("events", "occurred_at")]:
        early = f"""SELECT count(*) FROM {table} t JOIN customers c ON c.id = t.customer_id
                    WHERE t.{column} < c.signup_at"""
        assert one(con, early) == 0, table
    assert share(con, "signup_at >= DATE '2026-06-30' - 30") > 0.02
    assert one(con, "SELECT count(*) FROM events WHERE name = 'purchase' "
                    "AND occurred_at >= DATE '2026-06-30' - 90") > 0  # fmt: skip


def test_orders_and_events_are_stored_in_time_order(con: duckdb.DuckDBPyConnection) -> None:
    for table, column in [("orders", "created_at"), ("events", "occurred_at")]:
        disorder = f"""SELECT count(*) FROM (SELECT id, rowid AS r, {column} AS t,
                         lag({column}) OVER (ORDER BY rowid) AS before FROM {table})
                       WHERE t < before OR id <> r + 1"""
        assert one(con, disorder) == 0, table


def test_embedded_catalog_builds_with_the_relations(con: duckdb.DuckDBPyConnection) -> None:
    specs = embedded_specs(con)
    assert specs == DEMO_SPECS
    catalog = build_catalog(con, specs)
    assert [e.name for e in catalog.activatable()] == ["customers"]
    assert sorted(e.name for e in catalog.related_to("customers")) == ["events", "orders"]
    assert catalog.entity("orders").spec.time_column == "created_at"
    assert catalog.entity("events").column("occurred_at").kind == "timestamp"
    assert catalog.entity("customers").column("tags").kind == "list"


def test_bad_arguments_are_refused_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="YYYY-MM-DD"):
        build_demo(tmp_path / "x.duckdb", customers=10, reference_date="30/06/2026")
    with pytest.raises(ConfigError, match="at least 1"):
        build_demo(tmp_path / "x.duckdb", customers=0)
    with pytest.raises(ConfigError, match="events per customer"):
        build_demo(tmp_path / "x.duckdb", customers=10, events_per_customer=-1)
    assert not list(tmp_path.iterdir())


def test_reference_date_defaults_to_today_in_utc(tmp_path: Path) -> None:
    before = datetime.now(UTC).date()
    summary = build_demo(tmp_path / "d.duckdb", customers=100, events_per_customer=2)
    assert summary.reference_date in {before, datetime.now(UTC).date()}
    with duckdb.connect(str(tmp_path / "d.duckdb"), read_only=True) as c:
        newest = one(c, "SELECT max(occurred_at) FROM events")
    assert newest < datetime(before.year, before.month, before.day) + timedelta(days=1)


def test_cli_builds_once_and_refuses_to_overwrite_without_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    monkeypatch.delenv("WORKBENCH_WAREHOUSE", raising=False)
    argv = ["demo", "--customers", "300", "--seed", "3", "--reference-date", "2026-06-30"]
    assert main(argv) == 0
    warehouse = tmp_path / "demo.duckdb"
    assert "customers 300" in capsys.readouterr().out
    built = table_digests(warehouse)
    assert main(argv) == 1
    assert "--force" in capsys.readouterr().err
    assert table_digests(warehouse) == built
    assert main([*argv[:4], "4", *argv[5:], "--force"]) == 0
    assert table_digests(warehouse)["customers"] != built["customers"]
    assert main(["demo", "--reference-date", "tomorrow", "--force"]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_cli_takes_size_and_seed_defaults_from_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    monkeypatch.setenv("WORKBENCH_DEMO_CUSTOMERS", "150")
    monkeypatch.setenv("WORKBENCH_DEMO_SEED", "11")
    monkeypatch.delenv("WORKBENCH_WAREHOUSE", raising=False)
    assert main(["demo", "--reference-date", "2026-06-30", "--events-per-customer", "1"]) == 0
    out = capsys.readouterr().out
    assert "customers 150," in out and "seed 11" in out
    with duckdb.connect(str(tmp_path / "demo.duckdb"), read_only=True) as c:
        assert one(c, "SELECT count(*) FROM customers") == 150
