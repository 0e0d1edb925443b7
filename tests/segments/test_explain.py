"""``explain``: why one member is in or not in a segment, condition by condition.

Every verdict is checked against the plain-Python reference of the rules (``evaluate``) and
the related-entity verdict against the compiled segment, for every person of the fixture
warehouse (nulls in every column, mixed case, boundary times).
"""

from __future__ import annotations

import json

import pytest

from tests.segments.conftest import matching_ids, people_segment
from tests.segments.fixture_data import AS_OF, evaluate
from workbench.cli import main
from workbench.errors import NotFoundError, SegmentInvalid
from workbench.segments import explain

SCORED = {"column": "score", "op": "gte", "value": 10}
SWEDES = {"column": "country", "op": "eq", "value": "SE"}
RECENT = {"column": "seen_at", "op": "within_last_days", "value": 30}
NOT_VIP = {"not": {"column": "tags", "op": "contains", "value": "vip"}}
BUYERS = {"related": "purchases", "having": {"agg": "count", "op": "gte", "value": 2}}
FILTER = {"and": [SCORED, {"or": [SWEDES, RECENT]}, NOT_VIP, BUYERS]}


def test_every_verdict_agrees_with_the_rules_for_every_person(
    fixture_ws, persons, con, catalog
) -> None:
    buyers = set(matching_ids(con, catalog, BUYERS))
    members = set(matching_ids(con, catalog, FILTER))
    segment = people_segment(FILTER)
    for person in persons:
        [found] = explain(fixture_ws, segment, str(person["id"]), as_of=AS_OF)
        verdicts = {v.path: v for v in found.verdicts}
        assert found.key == person["id"]
        assert found.in_segment is (person["id"] in members)
        assert verdicts["filter.and[0]"].holds is evaluate(SCORED, person)
        assert verdicts["filter.and[1]"].holds is evaluate({"or": [SWEDES, RECENT]}, person)
        assert verdicts["filter.and[1].or[0]"].holds is evaluate(SWEDES, person)
        assert verdicts["filter.and[1].or[1]"].holds is evaluate(RECENT, person, AS_OF)
        assert verdicts["filter.and[2]"].holds is evaluate(NOT_VIP, person)
        assert verdicts["filter.and[3]"].holds is (person["id"] in buyers)
        assert verdicts["filter"].holds is found.in_segment
        assert verdicts["filter.and[0]"].value == person["score"]  # the member's own value


def test_the_text_says_which_condition_failed_and_the_value_that_failed_it(
    fixture_ws, persons
) -> None:
    low = next(p for p in persons if p["score"] is not None and p["score"] < 10)
    [found] = explain(fixture_ws, people_segment(FILTER), str(low["id"]), as_of=AS_OF)
    lines = found.text().splitlines()
    assert lines[0] == f"{low['id']}: not in the segment"
    [failed] = [line.strip() for line in lines if "score is at least 10" in line]
    assert failed.startswith("✗ score is at least 10 (score: ")
    assert float(failed.rsplit(" ", 1)[1].rstrip(")")) == low["score"]
    assert "(country: no value)" in found.text() or "(country: '" in found.text()
    assert lines[1].startswith("✗ all of these")
    assert any(line.startswith("    ") for line in lines)  # nested conditions are indented


def test_a_member_is_found_by_email_in_any_case(fixture_ws, persons) -> None:
    person = next(p for p in persons if p["email"])
    shouted = f"  {person['email'].upper()} "
    [found] = explain(fixture_ws, people_segment(SCORED), shouted, as_of=AS_OF)
    assert found.key == person["id"]
    assert found.in_segment is evaluate(SCORED, person)


def test_an_unknown_member_or_an_invalid_segment_is_refused_clearly(fixture_ws) -> None:
    with pytest.raises(NotFoundError, match="no row of people has id or email 'nobody'"):
        explain(fixture_ws, people_segment(SCORED), "nobody")
    bad = people_segment({"column": "nope", "op": "eq", "value": 1})
    with pytest.raises(SegmentInvalid, match="nope"):
        explain(fixture_ws, bad, "1")


def test_a_segment_without_conditions_holds_everyone(fixture_ws) -> None:
    [found] = explain(fixture_ws, people_segment(None), "1")
    assert found.in_segment and found.verdicts == []


def test_the_cli_prints_the_explanation(
    tmp_path, monkeypatch, fixture_warehouse, persons, capsys
) -> None:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WORKBENCH_WAREHOUSE", str(fixture_warehouse[0]))
    path = tmp_path / "scored.json"
    path.write_text(json.dumps(people_segment(SCORED, name="Scored")))
    person = persons[0]
    assert main(["segment", "explain", str(path), str(person["id"])]) == 0
    out = capsys.readouterr().out
    verdict = "in the segment" if evaluate(SCORED, person) else "not in the segment"
    assert out.splitlines()[0] == f"{person['id']}: {verdict}"
    assert main(["segment", "explain", str(path), "nobody"]) != 0
    assert "no row of people has id or email 'nobody'" in capsys.readouterr().err
