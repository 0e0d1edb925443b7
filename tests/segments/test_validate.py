"""Validation collects every problem at once, each with its exact path in the document."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.segments.conftest import people_segment
from workbench.errors import SegmentInvalid
from workbench.segments import load_segment_file, parse_segment, validate_segment


def _no_saved(name: str) -> dict:
    from workbench.errors import NotFoundError

    raise NotFoundError(name)


def problems_of(doc, catalog) -> list[str]:
    return [str(p) for p in validate_segment(doc, catalog, _no_saved)]


def test_many_problems_at_once_with_their_paths(catalog) -> None:
    doc = people_segment({"and": [
        {"column": "country", "op": "gt", "value": "SE"},
        {"column": "score", "op": "in", "value": []},
        {"or": [{"column": "score", "op": "eq", "value": "ten"},
                {"column": "seen_at", "op": "on", "value": "2026-02-30"}]},
        {"column": "nope", "op": "eq", "value": 1},
        {"column": "name", "op": "frobnicate", "value": "x"},
        {"column": "born", "op": "between", "value": ["2000-01-01"]},
        {"column": "active", "op": "is_true", "value": True},
        {"column": "seen_at", "op": "within_last_days", "value": -1},
        {"column": "name", "op": "eq"},
        {"column": "name", "and": []},
        {"colum": "name", "op": "eq", "value": "x"},
        {"not": [{"column": "name", "op": "is_null"}]},
        {"or": []},
    ]})  # fmt: skip
    assert problems_of(doc, catalog) == [
        "filter.and[0].op: operator 'gt' does not apply to text column 'country' (use one of: "
        "eq, neq, in, not_in, contains, not_contains, starts_with, ends_with, is_null, "
        "is_not_null)",
        "filter.and[1].value: expected a non-empty list of values",
        "filter.and[2].or[0].value: expected a number, got 'ten'",
        "filter.and[2].or[1].value: expected a date like 2026-03-01, got '2026-02-30'",
        "filter.and[3].column: unknown column 'nope' of 'people' (columns: id, email, name, "
        "country, score, born, seen_at, active, tags)",
        "filter.and[4].op: unknown operator 'frobnicate' (operators: eq, neq, in, not_in, "
        "contains, not_contains, starts_with, ends_with, gt, gte, lt, lte, between, is_null, "
        "is_not_null, is_true, is_false, before, after, on, within_last_days, "
        "more_than_days_ago)",
        "filter.and[5].value: expected a list of two values [low, high]",
        "filter.and[6].value: operator 'is_true' takes no value: remove it",
        "filter.and[7].value: expected a whole number of days (0 or more), got -1",
        "filter.and[8].value: operator 'eq' needs a value",
        "filter.and[9]: a condition needs exactly one of and, or, not, column, related, "
        "in_segment (found: and, column)",
        "filter.and[10]: a condition needs exactly one of and, or, not, column, related, "
        "in_segment (found: none of them)",
        "filter.and[11].not: expected a condition object",
        "filter.and[12].or: expected a non-empty list of conditions",
    ]


def test_related_condition_problems(catalog) -> None:
    doc = people_segment({"and": [
        {"related": "notes"},
        {"related": "ghosts"},
        {"related": "purchases", "having": {"agg": "sum", "op": "gt", "value": 1}},
        {"related": "purchases", "having": {"agg": "count", "column": "amount", "op": "gt",
                                            "value": 1}},
        {"related": "purchases", "having": {"agg": "avg", "column": "kind", "op": "gt",
                                            "value": 1}},
        {"related": "purchases", "having": {"agg": "median", "op": "gt", "value": 1}},
        {"related": "purchases", "within_last_days": "week",
         "where": {"column": "country", "op": "eq", "value": "SE"}, "sort": "up"},
        {"related": "purchases", "having": {"agg": "count", "op": "contains", "value": 1}},
    ]})  # fmt: skip
    assert problems_of(doc, catalog) == [
        "filter.and[0].related: entity 'notes' is not related to 'people' (related: purchases)",
        "filter.and[1].related: unknown entity 'ghosts' (related to 'people': purchases)",
        "filter.and[2].having.column: sum needs a column of 'purchases'",
        "filter.and[3].having.column: count counts rows: remove the column",
        "filter.and[4].having.column: cannot take avg of text column 'kind'",
        "filter.and[5].having.agg: expected one of count, sum, avg, min, max, got 'median'",
        "filter.and[6].sort: unknown key in a 'related' condition (allowed: having, related, "
        "where, within_last_days)",
        "filter.and[6].where.column: unknown column 'country' of 'purchases' (columns: id, "
        "person_id, amount, kind, at)",
        "filter.and[6].within_last_days: expected a whole number of days (0 or more), got 'week'",
        "filter.and[7].having.op: expected one of eq, neq, gt, gte, lt, lte, between",
    ]


def test_top_level_problems(catalog) -> None:
    doc = {"version": 2, "name": "", "entity": "people", "colour": "red", "filter": []}
    assert problems_of(doc, catalog) == [
        "colour: unknown key (allowed: version, name, description, entity, filter)",
        "name: required: a non-empty text",
        "version: unsupported version 2 (this is 1)",
        "filter: expected a condition object (or leave it out)",
    ]
    assert problems_of({"name": "x", "entity": "martians"}, catalog) == [
        "entity: unknown entity 'martians' (known: people, purchases, notes, slow_people)"
    ]


def test_injection_in_a_column_name_is_an_unknown_column(catalog) -> None:
    doc = people_segment({"column": 'country"; DROP TABLE people; --', "op": "eq", "value": "x"})
    problems = problems_of(doc, catalog)
    assert len(problems) == 1
    assert problems[0].startswith("filter.column: unknown column 'country\"; DROP TABLE")


def test_segment_invalid_message_lists_every_problem(catalog) -> None:
    from workbench.segments import compile_segment

    doc = people_segment({"or": [{"column": "x", "op": "eq", "value": 1}, {"and": []}]})
    with pytest.raises(SegmentInvalid) as raised:
        compile_segment(doc, catalog)
    message = str(raised.value)
    assert "2 problem(s)" in message
    assert "  - filter.or[0].column: unknown column 'x'" in message
    assert "  - filter.or[1].and: expected a non-empty list of conditions" in message


def test_yaml_json_dict_and_files_parse_to_the_same_segment(tmp_path: Path) -> None:
    yaml_text = "name: Swedes\nentity: people\nfilter:\n  column: country\n  op: eq\n  value: SE\n"
    json_text = (
        '{"name": "Swedes", "entity": "people", '
        '"filter": {"column": "country", "op": "eq", "value": "SE"}}'
    )
    (tmp_path / "s.yaml").write_text(yaml_text)
    parsed = [
        parse_segment(yaml_text),
        parse_segment(json_text),
        load_segment_file(tmp_path / "s.yaml"),
    ]
    assert parsed[0] == parsed[1] == parsed[2]
    assert parsed[0].to_dict()["filter"] == {"column": "country", "op": "eq", "value": "SE"}


def test_unreadable_text_and_missing_file_are_clear(tmp_path: Path) -> None:
    with pytest.raises(SegmentInvalid, match="neither valid JSON nor YAML"):
        parse_segment("name: [unclosed")
    with pytest.raises(SegmentInvalid, match="cannot read"):
        load_segment_file(tmp_path / "missing.json")
    with pytest.raises(SegmentInvalid, match="a segment must be an object"):
        parse_segment("[1, 2]")
