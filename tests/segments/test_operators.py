"""Every operator, table-driven: segment -> SQL and bound params -> rows, checked against a
plain-Python reference of the rules (nulls, case, wildcards, lists, day boundaries)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.segments.conftest import matching_ids, people_segment
from tests.segments.fixture_data import generate, holds
from workbench.catalog import ColumnKind
from workbench.segments import OPERATORS, compile_segment, operators_for

_PEOPLE, _ = generate()
A_BIRTHDAY = next(p["born"] for p in _PEOPLE if p["born"] is not None).isoformat()

CASES: list[tuple[str, str, Any]] = [
    ("name", "eq", "anna"), ("name", "eq", "Anna"), ("name", "eq", ""), ("name", "neq", "Anna"),
    ("name", "in", ["Anna", "Bob"]), ("name", "not_in", ["Anna", "Bob"]),
    ("name", "contains", "ANN"), ("name", "contains", "%"), ("name", "contains", "_"),
    ("name", "contains", "o'b"), ("name", "contains", "åsa"), ("name", "not_contains", "an"),
    ("name", "starts_with", "bo"), ("name", "ends_with", "ED"), ("name", "ends_with", "_off"),
    ("name", "is_null", None), ("name", "is_not_null", None), ("country", "eq", "SE"),
    ("score", "eq", 100), ("score", "neq", 0), ("score", "in", [0, 10]),
    ("score", "not_in", [100]), ("score", "gt", 99.5), ("score", "gte", 99.5),
    ("score", "lt", 0), ("score", "lte", 10), ("score", "between", [10, 100]),
    ("score", "is_null", None),
    ("born", "eq", A_BIRTHDAY), ("born", "in", [A_BIRTHDAY]), ("born", "gt", "2000-01-01"),
    ("born", "between", ["1990-01-01", "2000-12-31"]), ("born", "before", "1995-06-15"),
    ("born", "after", "1995-06-15"), ("born", "on", A_BIRTHDAY),
    ("born", "within_last_days", 12000), ("born", "more_than_days_ago", 12000),
    ("seen_at", "before", "2026-03-01"), ("seen_at", "after", "2026-02-28"),
    ("seen_at", "on", "2026-03-01"), ("seen_at", "on", "2026-02-28"),
    ("seen_at", "gt", "2026-03-01"), ("seen_at", "gte", "2026-03-01T00:00:00"),
    ("seen_at", "lt", "2026-03-02"), ("seen_at", "lte", "2026-03-01"),
    ("seen_at", "between", ["2026-02-28", "2026-03-01"]),
    ("seen_at", "between", ["2026-03-01T00:00:00", "2026-03-02T00:00:00"]),
    ("seen_at", "within_last_days", 30), ("seen_at", "within_last_days", 0),
    ("seen_at", "more_than_days_ago", 30), ("seen_at", "is_not_null", None),
    ("active", "is_true", None), ("active", "is_false", None), ("active", "eq", True),
    ("active", "neq", True), ("active", "is_null", None),
    ("tags", "contains", "vip"), ("tags", "contains", "VIP"), ("tags", "not_contains", "vip"),
    ("tags", "is_null", None), ("tags", "is_not_null", None),
]  # fmt: skip
# Cases whose reference result may legitimately be empty or everyone on this fixture.
MAY_BE_TRIVIAL = {"seen_at-within_last_days-0", "name-eq-"}


def _condition(column: str, op: str, value: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"column": column, "op": op}
    if value is not None:
        node["value"] = value
    return node


def _case_id(case: tuple[str, str, Any]) -> str:
    return f"{case[0]}-{case[1]}-{case[2]}"


def test_every_operator_is_exercised() -> None:
    assert {op for _, op, _ in CASES} == set(OPERATORS)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_operator_selects_what_the_rules_say(case, con, catalog, persons) -> None:
    column, op, value = case
    expected = [p["id"] for p in persons if holds(op, p[column], value)]
    assert matching_ids(con, catalog, _condition(column, op, value)) == expected
    if _case_id(case) not in MAY_BE_TRIVIAL:
        assert 0 < len(expected) < len(persons), "the fixture should make this case tell"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_not_is_the_exact_complement(case, con, catalog, persons) -> None:
    column, op, value = case
    chosen = set(matching_ids(con, catalog, _condition(column, op, value)))
    negated = matching_ids(con, catalog, {"not": _condition(column, op, value)})
    assert negated == [p["id"] for p in persons if p["id"] not in chosen]


@pytest.mark.parametrize("case", [c for c in CASES if c[2] is not None], ids=_case_id)
def test_values_are_bound_never_written_into_sql(case, catalog) -> None:
    column, op, value = case
    compiled = compile_segment(people_segment(_condition(column, op, value)), catalog)
    placeholders = set(re.findall(r"\$(p\d+)", compiled.sql))
    assert placeholders == set(compiled.params) and placeholders
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str) and item:
            assert f"'{item}" not in compiled.sql
        if column in ("name", "country", "tags") and item:
            assert any(item in str(p) or item.replace("_", "\\_") in str(p)
                       for p in compiled.params.values())  # fmt: skip


def test_values_bind_as_typed_python_values(catalog) -> None:
    compiled = compile_segment(
        people_segment({"and": [
            {"column": "score", "op": "between", "value": [10, 100]},
            {"column": "born", "op": "on", "value": "2000-01-02"},
            {"column": "name", "op": "starts_with", "value": "5%_"},
        ]}),
        catalog,
    )  # fmt: skip
    values = list(compiled.params.values())
    assert values[:2] == [10, 100]
    assert str(values[2]) == "2000-01-02" and str(values[3]) == "2000-01-03"
    assert values[4] == "5\\%\\_%"


@pytest.mark.parametrize("kind", list(ColumnKind))
def test_operators_for_a_kind_are_the_ones_validation_accepts(kind) -> None:
    keys = [o.key for o in operators_for(kind)]
    assert "is_null" in keys and "is_not_null" in keys
    assert all(kind in OPERATORS[k].kinds for k in keys)
    if kind is ColumnKind.TEXT:
        assert "contains" in keys and "gt" not in keys
    if kind is ColumnKind.TIMESTAMP:
        assert "within_last_days" in keys and "contains" not in keys


def test_null_rule_is_defined_once_in_the_table() -> None:
    true_on_null = {key for key, op in OPERATORS.items() if op.on_null}
    assert true_on_null == {"is_null", "neq", "not_in", "not_contains"}


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_a_null_value_matches_only_where_the_rule_says(case, con, catalog, persons) -> None:
    column, op, value = case
    nulls = {p["id"] for p in persons if p[column] is None}
    chosen = set(matching_ids(con, catalog, _condition(column, op, value)))
    assert nulls, "the fixture has nulls in every column"
    assert chosen & nulls == (nulls if OPERATORS[op].on_null else set())
