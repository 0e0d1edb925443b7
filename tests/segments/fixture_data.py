"""A small warehouse generated in code (fixed seed) and a plain-Python reference of the rules.

``people`` has nulls in every column, mixed-case text, LIKE wildcards in text, lists with
NULL elements and empty lists, and timestamps exactly at day boundaries. ``purchases`` points
at people (some rows at nobody, some amounts NULL). The reference functions below implement the
segment rules from the spec directly in Python, so tests compare SQL results against them.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from workbench.catalog import EntitySpec, Relation, write_embedded_specs

SEED = 20260630
AS_OF = datetime(2026, 6, 30, 12, 0, 0)
NAMES = ["Anna", "anna", "ÅSA", "Bob", "bobby", "O'Brien", "50%_off", "x_y", "", "Zed"]
COUNTRIES = ["SE", "se", "Se", "DE", "NO"]
TAGS = ["vip", "VIP", "new", "churn"]
KINDS = ["purchase", "Purchase", "refund"]
BOUNDARY_TIMES = [
    datetime(2026, 3, 1, 0, 0, 0),
    datetime(2026, 2, 28, 23, 59, 59, 999999),
    datetime(2026, 3, 2, 0, 0, 0),
    AS_OF - timedelta(days=30),
    AS_OF - timedelta(days=30, microseconds=1),
    AS_OF,
    AS_OF + timedelta(microseconds=1),
]

SPECS = [
    EntitySpec("people", "people", "id", email_column="email"),
    EntitySpec("purchases", "purchases", "id", time_column="at",
               relation=Relation("people", "person_id")),
    EntitySpec("notes", "notes", "id"),
    EntitySpec("slow_people", "slow_people", "id", email_column="email"),
]  # fmt: skip


def _maybe(rng: random.Random, value: Any, null_share: float = 0.15) -> Any:
    return None if rng.random() < null_share else value


def _person(rng: random.Random, i: int) -> dict[str, Any]:
    seen = (
        rng.choice(BOUNDARY_TIMES)
        if i % 3 == 0
        else AS_OF - timedelta(seconds=rng.randrange(0, 200 * 86400))
    )
    tags = rng.choice([[], ["vip"], ["VIP", "new"], [None, "churn"], ["new", "churn", "vip"]])
    return {
        "id": i,
        "email": _maybe(rng, f"p{i}@example.org"),
        "name": _maybe(rng, rng.choice(NAMES)),
        "country": _maybe(rng, rng.choice(COUNTRIES)),
        "score": _maybe(rng, rng.choice([0, 10, 99.5, 100, 250, -3])),
        "born": _maybe(rng, date(1980, 1, 1) + timedelta(days=rng.randrange(0, 15000))),
        "seen_at": _maybe(rng, seen),
        "active": _maybe(rng, rng.random() < 0.5),
        "tags": _maybe(rng, tags),
    }


def _purchase(rng: random.Random, i: int, people: int) -> dict[str, Any]:
    return {
        "id": i,
        "person_id": _maybe(rng, rng.randrange(1, people // 2), 0.05),
        "amount": _maybe(rng, rng.choice([5.0, 20.0, 100.0, 400.0]), 0.1),
        "kind": rng.choice(KINDS),
        "at": AS_OF - timedelta(hours=rng.randrange(0, 24 * 200)),
    }


def generate(people: int = 80, purchases: int = 160) -> tuple[list[dict], list[dict]]:
    """The fixture rows, the same for the same seed."""
    rng = random.Random(SEED)
    persons = [_person(rng, i) for i in range(1, people + 1)]
    rows = [_purchase(rng, i, people) for i in range(1, purchases + 1)]
    return persons, rows


def build_warehouse(path: Path) -> tuple[list[dict], list[dict]]:
    """Write the fixture warehouse (with its embedded catalog) to ``path``; returns the rows."""
    persons, rows = generate()
    people_frame = pl.DataFrame(persons, schema={
        "id": pl.Int64, "email": pl.Utf8, "name": pl.Utf8, "country": pl.Utf8,
        "score": pl.Float64, "born": pl.Date, "seen_at": pl.Datetime("us"),
        "active": pl.Boolean, "tags": pl.List(pl.Utf8),
    })  # fmt: skip
    purchase_frame = pl.DataFrame(rows, schema={
        "id": pl.Int64, "person_id": pl.Int64, "amount": pl.Float64, "kind": pl.Utf8,
        "at": pl.Datetime("us"),
    })  # fmt: skip
    with duckdb.connect(str(path)) as con:
        con.register("people_frame", people_frame)
        con.register("purchase_frame", purchase_frame)
        con.sql("CREATE TABLE people AS SELECT * FROM people_frame")
        con.sql("CREATE TABLE purchases AS SELECT * FROM purchase_frame")
        con.sql("CREATE TABLE notes AS SELECT 1 AS id, 'n' AS body")
        con.sql(
            "CREATE VIEW slow_people AS SELECT i AS id, 'p' || i AS email, i % 7 AS score "
            "FROM range(50000000000) t(i)"
        )
        write_embedded_specs(con, SPECS)
    return persons, rows


# -- the reference: the rules of the spec, written directly in Python ------------------------

TRUE_ON_NULL = {"is_null", "neq", "not_in", "not_contains"}


def _day(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _as_moment(cell: Any) -> datetime:
    return cell if isinstance(cell, datetime) else datetime(cell.year, cell.month, cell.day)


def _time_holds(op: str, cell: Any, value: Any, as_of: datetime) -> bool:
    t = _as_moment(cell)
    if op in ("before", "after", "on"):
        d = _day(value)
        return {"before": t < d, "after": t >= d + timedelta(days=1),
                "on": d <= t < d + timedelta(days=1)}[op]  # fmt: skip
    if op == "within_last_days":
        return as_of - timedelta(days=value) <= t <= as_of
    return t < as_of - timedelta(days=value)  # more_than_days_ago


def _value_of(cell: Any, value: Any) -> Any:
    if isinstance(cell, datetime | date) and isinstance(value, str):
        moment = _day(value)
        return moment.date() if type(cell) is date else moment
    return value


def holds(op: str, cell: Any, value: Any = None, as_of: datetime = AS_OF) -> bool:
    """Whether ``cell op value`` is true under the spec's two-valued rules."""
    if op == "is_null" or op == "is_not_null":
        return (cell is None) == (op == "is_null")
    if cell is None:
        return op in TRUE_ON_NULL
    if op in ("before", "after", "on", "within_last_days", "more_than_days_ago"):
        return _time_holds(op, cell, value, as_of)
    if op in ("is_true", "is_false"):
        return cell is (op == "is_true")
    if isinstance(cell, list) and op in ("contains", "not_contains"):
        return (value in cell) == (op == "contains")
    if op in ("contains", "not_contains", "starts_with", "ends_with"):
        return _text_holds(op, cell.lower(), value.lower())
    return _compare_holds(op, cell, value)


def _text_holds(op: str, cell: str, value: str) -> bool:
    if op == "starts_with":
        return cell.startswith(value)
    if op == "ends_with":
        return cell.endswith(value)
    return (value in cell) == (op == "contains")


def _compare_holds(op: str, cell: Any, value: Any) -> bool:
    if op in ("in", "not_in"):
        return (cell in [_value_of(cell, v) for v in value]) == (op == "in")
    if op == "between":
        low, high = (_value_of(cell, v) for v in value)
        if isinstance(cell, datetime) and len(value[1]) == 10:
            return low <= cell < high + timedelta(days=1)
        return low <= cell <= high
    v = _value_of(cell, value)
    return {"eq": cell == v, "neq": cell != v, "gt": cell > v, "gte": cell >= v,
            "lt": cell < v, "lte": cell <= v}[op]  # fmt: skip


def aggregate(agg: str, rows: list[dict], column: str | None) -> Any:
    """count / sum / avg / min / max of related rows, None where SQL gives NULL."""
    if agg == "count":
        return len(rows)
    values = [r[column] for r in rows if r[column] is not None]  # type: ignore[index]
    if not values:
        return None
    if agg in ("min", "max"):
        return min(values) if agg == "min" else max(values)
    return sum(values) if agg == "sum" else sum(values) / len(values)


def evaluate(node: dict[str, Any], row: dict[str, Any], as_of: datetime = AS_OF) -> bool:
    """A property-level filter node (and/or/not/column) on one row, by the rules above."""
    if "and" in node:
        return all(evaluate(n, row, as_of) for n in node["and"])
    if "or" in node:
        return any(evaluate(n, row, as_of) for n in node["or"])
    if "not" in node:
        return not evaluate(node["not"], row, as_of)
    return holds(node["op"], row[node["column"]], node.get("value"), as_of)
