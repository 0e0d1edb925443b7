"""The compiler: other dialects, hostile values, as-of moments, and the English description."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
import sqlglot

from tests.segments.conftest import matching_ids, people_segment
from tests.segments.fixture_data import AS_OF
from workbench.errors import WorkbenchError
from workbench.segments import compile_segment, describe_segment, resolve_as_of

FULL = people_segment({"and": [
    {"column": "country", "op": "eq", "value": "SE"},
    {"column": "name", "op": "in", "value": ["Anna", "Bob"]},
    {"or": [{"column": "score", "op": "gte", "value": 50},
            {"column": "seen_at", "op": "within_last_days", "value": 30}]},
    {"related": "purchases", "where": {"column": "kind", "op": "eq", "value": "purchase"},
     "within_last_days": 90, "having": {"agg": "count", "op": "gte", "value": 3}},
    {"related": "purchases", "having": {"agg": "sum", "column": "amount", "op": "gt",
                                        "value": 1000}},
    {"not": {"column": "tags", "op": "contains", "value": "churn"}},
]})  # fmt: skip
PLACEHOLDER = {"duckdb": r"\$({})", "postgres": r"%\(({})\)s", "snowflake": r":({})",
               "bigquery": r"@({})"}  # fmt: skip


@pytest.mark.parametrize("dialect", sorted(PLACEHOLDER))
def test_other_dialects_parse_back_with_every_placeholder(dialect, catalog) -> None:
    compiled = compile_segment(FULL, catalog, as_of=AS_OF, dialect=dialect)
    assert compiled.dialect == dialect
    sqlglot.parse_one(compiled.sql, read=dialect)
    found = set(re.findall(PLACEHOLDER[dialect].format(r"p\d+"), compiled.sql))
    assert found == set(compiled.params) == {f"p{i}" for i in range(1, 13)}
    assert "'SE'" not in compiled.sql and "purchase'" not in compiled.sql


def test_unknown_dialect_is_a_clear_error(catalog) -> None:
    with pytest.raises(WorkbenchError, match="unknown SQL dialect 'cobol'"):
        compile_segment(FULL, catalog, dialect="cobol")


HOSTILE = "x'; DROP TABLE people; --"


@pytest.mark.parametrize("op", ["eq", "contains", "starts_with", "in"])
def test_injection_in_a_value_matches_nothing_and_the_table_survives(op, con, catalog) -> None:
    value = [HOSTILE] if op == "in" else HOSTILE
    assert matching_ids(con, catalog, {"column": "name", "op": op, "value": value}) == []
    assert con.sql("SELECT count(*) FROM people").fetchall() == [(80,)]


def test_as_of_makes_relative_dates_reproducible(con, catalog) -> None:
    recent = {"column": "seen_at", "op": "within_last_days", "value": 30}
    first = matching_ids(con, catalog, recent, as_of="2026-06-30T12:00:00")
    assert matching_ids(con, catalog, recent, as_of=AS_OF) == first
    later = matching_ids(con, catalog, recent, as_of="2026-08-01")
    assert later != first
    at_midnight = compile_segment(people_segment(recent), catalog, as_of="2026-08-01")
    assert list(at_midnight.params.values()) == [datetime(2026, 7, 2), datetime(2026, 8, 1)]


def test_resolve_as_of_forms() -> None:
    assert resolve_as_of("2026-03-01") == datetime(2026, 3, 1)
    assert resolve_as_of(date(2026, 3, 1)) == datetime(2026, 3, 1)
    assert resolve_as_of("2026-03-01T02:00:00+02:00") == datetime(2026, 3, 1)
    assert resolve_as_of(datetime(2026, 3, 1, 2, tzinfo=UTC)) == datetime(2026, 3, 1, 2)
    now = datetime.now(UTC).replace(tzinfo=None)
    assert abs((resolve_as_of(None) - now).total_seconds()) < 5


def test_description_reads_like_the_document(catalog) -> None:
    assert describe_segment(FULL, catalog) == (
        "people where country is SE and name is one of Anna, Bob and (score is at least 50 or "
        "seen at is within the last 30 days) and having at least 3 purchases where kind is "
        "purchase within the last 90 days and having purchases with total amount more than "
        "1000 and not (tags contains churn)"
    )


@pytest.mark.parametrize(
    ("node", "text"),
    [
        (None, "all people"),
        ({"related": "purchases", "having": {"agg": "count", "op": "eq", "value": 0}},
         "people where having no purchases"),
        ({"not": {"in_segment": "Churn risk"}}, "people where not in segment Churn risk"),
        ({"column": "score", "op": "between", "value": [1, 5]},
         "people where score is between 1 and 5"),
        ({"column": "active", "op": "is_null"}, "people where active has no value"),
    ],
)  # fmt: skip
def test_description_of_special_cases(node, text, catalog) -> None:
    assert describe_segment(people_segment(node), catalog) == text


def test_snowflake_gets_coalesce_instead_of_is_true(catalog) -> None:
    sql = compile_segment(FULL, catalog, as_of=AS_OF, dialect="snowflake").sql
    assert "IS TRUE" not in sql and "IS FALSE" not in sql
    assert "NOT COALESCE((ARRAY_CONTAINS(" in sql


def test_the_coalesce_form_selects_the_same_rows(con, catalog) -> None:
    from tests.segments.test_operators import CASES, _condition
    from tests.segments.test_related import NESTED, RELATED_CASES
    from workbench.segments.compiler import (
        PredicateCompiler,
        _coalesced,
        as_lookup,
        member_query,
        parse_segment,
    )

    nodes = [_condition(*case) for case in CASES] + [NESTED, *RELATED_CASES]
    for node in (*nodes, *({"not": n} for n in nodes)):
        compiler = PredicateCompiler(catalog, as_lookup(None), AS_OF)
        tree = member_query(catalog.entity("people"), compiler.segment(parse_segment(
            people_segment(node))))  # fmt: skip
        native = tree.sql(dialect="duckdb")
        portable = tree.copy().transform(_coalesced).sql(dialect="duckdb")
        assert "IS TRUE" not in portable and "IS FALSE" not in portable
        rows = [con.sql(sql, params=compiler.params).fetchall() for sql in (native, portable)]
        assert rows[0] == rows[1], node


def test_strict_predicates_are_never_null(con, catalog) -> None:
    from tests.segments.test_operators import CASES, _condition
    from tests.segments.test_related import NESTED, RELATED_CASES
    from workbench.segments.compiler import PredicateCompiler, as_lookup

    for node in [_condition(*case) for case in CASES] + [NESTED, *RELATED_CASES]:
        compiler = PredicateCompiler(catalog, as_lookup(None), AS_OF)
        predicate = compiler.node(node, catalog.entity("people"), strict=True)
        sql = f'SELECT count(*) FROM "people" AS "t0" WHERE ({predicate.sql("duckdb")}) IS NULL'
        assert con.sql(sql, params=compiler.params).fetchall() == [(0,)], node
