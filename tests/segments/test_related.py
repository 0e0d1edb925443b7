"""Related-entity conditions, nested groups and saved segments, against the Python reference.

People without related rows count 0 (so "has none" finds them) and have NULL sum/avg/min/max
(so those comparisons are false); people whose amounts are all NULL behave the same way.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.segments.conftest import matching_ids, people_segment
from tests.segments.fixture_data import AS_OF, aggregate, evaluate, holds
from workbench.errors import SegmentInvalid
from workbench.segments import compile_segment

PURCHASE = {"column": "kind", "op": "eq", "value": "purchase"}


def _agg(agg: str, op: str, value: Any, column: str | None = "amount") -> dict[str, Any]:
    having = {"agg": agg, "column": column, "op": op, "value": value}
    if column is None:
        del having["column"]
    return {"related": "purchases", "having": having}


RELATED_CASES: list[dict[str, Any]] = [
    {"related": "purchases"},
    {"related": "purchases", "having": {"agg": "count", "op": "eq", "value": 0}},
    {"related": "purchases", "having": {"agg": "count", "op": "lt", "value": 2}},
    {"related": "purchases", "having": {"agg": "count", "op": "lte", "value": 1}},
    {"related": "purchases", "having": {"agg": "count", "op": "gte", "value": 3}},
    {"related": "purchases", "having": {"agg": "count", "op": "neq", "value": 1}},
    {"related": "purchases", "having": {"agg": "count", "op": "between", "value": [0, 1]}},
    {"related": "purchases", "having": {"agg": "count", "op": "between", "value": [2, 3]}},
    _agg("sum", "gt", 100),
    _agg("sum", "lt", 50),
    _agg("avg", "gte", 50),
    _agg("min", "lt", 10),
    _agg("max", "lte", 20),
    _agg("max", "gte", "2026-06-01", column="at"),
    {"related": "purchases", "where": PURCHASE},
    {"related": "purchases", "where": {"or": [PURCHASE, {"column": "kind", "op": "eq",
                                                         "value": "refund"}]}},
    {"related": "purchases", "where": {"not": PURCHASE},
     "having": {"agg": "count", "op": "gte", "value": 2}},
    {"related": "purchases", "within_last_days": 30, "having": {"agg": "count", "op": "gte",
                                                                "value": 2}},
    {"related": "purchases", "within_last_days": 30, "having": {"agg": "count", "op": "eq",
                                                                "value": 0}},
    {"related": "purchases", "where": PURCHASE, "within_last_days": 60,
     "having": {"agg": "sum", "column": "amount", "op": "between", "value": [20, 400]}},
]  # fmt: skip


def _in_window(row: dict[str, Any], days: int | None) -> bool:
    return days is None or AS_OF - timedelta(days=days) <= row["at"] <= AS_OF


def related_holds(node: dict[str, Any], person: dict[str, Any], purchases: list[dict]) -> bool:
    """The reference of a related condition for one person."""
    rows = [
        r
        for r in purchases
        if r["person_id"] == person["id"]
        and (node.get("where") is None or evaluate(node["where"], r))
        and _in_window(r, node.get("within_last_days"))
    ]
    having = node.get("having") or {"agg": "count", "op": "gte", "value": 1}
    value = aggregate(having["agg"], rows, having.get("column"))
    if value is None:
        return False
    target = having["value"]
    if having.get("column") == "at":
        target = target + "T00:00:00"
    return holds(having["op"], value, target)


@pytest.mark.parametrize("node", RELATED_CASES, ids=lambda n: str(n)[:90])
def test_related_condition_matches_reference(node, con, catalog, persons, purchases) -> None:
    expected = [p["id"] for p in persons if related_holds(node, p, purchases)]
    assert matching_ids(con, catalog, node) == expected
    negated = [p["id"] for p in persons if not related_holds(node, p, purchases)]
    assert matching_ids(con, catalog, {"not": node}) == negated
    assert 0 < len(expected) < len(persons)


def test_has_none_compiles_to_anti_join_and_has_some_to_semi_join(catalog) -> None:
    none = {"related": "purchases", "having": {"agg": "count", "op": "lt", "value": 3}}
    some = {"related": "purchases", "having": {"agg": "count", "op": "gte", "value": 3}}
    anti = compile_segment(people_segment(none), catalog).sql
    semi = compile_segment(people_segment(some), catalog).sql
    correlated = 'FROM "purchases" AS "t1" WHERE "t1"."person_id" = "t0"."id"'
    assert f"WHERE NOT EXISTS(SELECT 1 {correlated} GROUP BY" in anti
    assert "HAVING NOT COUNT(*) < $p1" in anti
    assert f"WHERE EXISTS(SELECT 1 {correlated} GROUP BY" in semi
    assert "HAVING COUNT(*) >= $p1" in semi


def test_any_or_no_related_row_needs_no_grouping(catalog) -> None:
    some = compile_segment(people_segment({"related": "purchases"}), catalog).sql
    none = {"related": "purchases", "having": {"agg": "count", "op": "eq", "value": 0}}
    nothing = compile_segment(people_segment(none), catalog).sql
    assert "GROUP BY" not in some and "WHERE EXISTS(SELECT 1" in some
    assert "GROUP BY" not in nothing and "WHERE NOT EXISTS(SELECT 1" in nothing


NESTED = {"or": [
    {"and": [{"column": "country", "op": "eq", "value": "SE"},
             {"not": {"column": "score", "op": "gt", "value": 50}}]},
    {"not": {"or": [{"column": "name", "op": "contains", "value": "a"},
                    {"column": "active", "op": "is_true"}]}},
    {"and": [{"column": "tags", "op": "not_contains", "value": "vip"},
             {"column": "seen_at", "op": "within_last_days", "value": 60}]},
]}  # fmt: skip


def test_nested_groups_with_not_follow_two_valued_logic(con, catalog, persons) -> None:
    expected = [p["id"] for p in persons if evaluate(NESTED, p)]
    assert matching_ids(con, catalog, NESTED) == expected
    assert matching_ids(con, catalog, {"not": NESTED}) == [
        p["id"] for p in persons if p["id"] not in expected
    ]


def test_no_filter_means_everyone(con, catalog, persons) -> None:
    assert matching_ids(con, catalog, None) == [p["id"] for p in persons]


SWEDES = people_segment({"column": "country", "op": "eq", "value": "SE"}, name="Swedes")
HIGH = people_segment({"column": "score", "op": "gte", "value": 100}, name="High")
SWEDISH_HIGH = people_segment(
    {"and": [{"in_segment": "Swedes"}, {"in_segment": "High"}]}, name="Swedish high"
)
SAVED = {"Swedes": SWEDES, "High": HIGH, "Swedish high": SWEDISH_HIGH}


def test_in_segment_includes_and_excludes_saved_segments(con, catalog, persons) -> None:
    node = {"and": [{"in_segment": "Swedish high"}, {"not": {"in_segment": "Swedes"}}]}
    assert matching_ids(con, catalog, node, SAVED) == []
    node = {"and": [{"in_segment": "High"}, {"not": {"in_segment": "Swedes"}}]}
    expected = [p["id"] for p in persons if holds("gte", p["score"], 100)
                and not holds("eq", p["country"], "SE")]  # fmt: skip
    assert matching_ids(con, catalog, node, SAVED) == expected and expected


def _problems(doc: dict[str, Any], catalog, saved: dict[str, Any]) -> list[str]:
    with pytest.raises(SegmentInvalid) as raised:
        compile_segment(doc, catalog, saved)
    return [str(p) for p in raised.value.problems]


def test_direct_cycle_is_a_problem(catalog) -> None:
    me = people_segment({"in_segment": "Me"}, name="Me")
    assert _problems(me, catalog, {"Me": me}) == ["filter.in_segment: cycle: Me → Me"]


def test_indirect_cycle_is_a_problem(catalog) -> None:
    a = people_segment({"and": [{"in_segment": "B"}]}, name="A")
    b = people_segment({"not": {"in_segment": "C"}}, name="B")
    c = people_segment({"or": [{"in_segment": "A"}]}, name="C")
    problems = _problems(a, catalog, {"A": a, "B": b, "C": c})
    assert len(problems) == 1
    assert problems[0].startswith("filter.and[0].in_segment: in segment 'B': ")
    assert problems[0].endswith("cycle: A → B → C → A")


def test_unknown_saved_segment_and_other_entity_are_problems(catalog) -> None:
    notes = {"name": "Notes", "entity": "notes"}
    doc = people_segment({"or": [{"in_segment": "Nobody"}, {"in_segment": "Notes"}]})
    assert _problems(doc, catalog, {"Notes": notes}) == [
        "filter.or[0].in_segment: unknown segment 'Nobody': save it first, or check the name",
        "filter.or[1].in_segment: segment 'Notes' is about 'notes', not 'people'",
    ]


def test_people_without_rows_have_count_zero_but_no_sum(con, catalog, persons, purchases):
    buyers = {r["person_id"] for r in purchases}
    nobody = {p["id"] for p in persons if p["id"] not in buyers}
    assert nobody
    few = set(matching_ids(con, catalog, _agg("count", "lt", 2, column=None)))
    small_sum = set(matching_ids(con, catalog, _agg("sum", "lt", 50)))
    small_max = set(matching_ids(con, catalog, _agg("max", "lte", 1000)))
    assert nobody <= few
    assert not nobody & small_sum and not nobody & small_max
