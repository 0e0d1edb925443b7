"""The engine through a real Workspace: counts, previews, members, exports, funnels, breakdowns,
overlaps, saved segments from the state store, and the query time limit."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from tests.segments.conftest import people_segment
from tests.segments.fixture_data import AS_OF, evaluate, holds
from workbench.config import Settings
from workbench.errors import CatalogError, QueryError, WorkbenchError
from workbench.segments import (
    breakdown,
    condition_counts,
    count,
    export_members,
    members,
    overlap,
    preview,
    segment_sql,
)
from workbench.workspace import Workspace

SWEDISH = {"column": "country", "op": "eq", "value": "SE"}
SCORED = {"column": "score", "op": "gte", "value": 10}
RECENT = {"column": "seen_at", "op": "within_last_days", "value": 60}
FUNNEL = people_segment({"and": [SWEDISH, SCORED, RECENT]})


def _ids(persons, node) -> list[int]:
    return [p["id"] for p in persons if evaluate(node, p)]


def test_count_and_members(fixture_ws, persons) -> None:
    node = {"and": [SCORED, RECENT]}
    expected = _ids(persons, node)
    assert count(fixture_ws, people_segment(node), as_of=AS_OF) == len(expected)
    frame = members(fixture_ws, people_segment(node), as_of=AS_OF)
    assert frame.columns == ["id", "email"] and frame["id"].to_list() == expected
    emails = {p["id"]: p["email"] for p in persons}
    assert frame["email"].to_list() == [emails[i] for i in expected]
    named = members(fixture_ws, people_segment(node), as_of=AS_OF, columns=["id", "score"])
    assert named.columns == ["id", "score"]
    with pytest.raises(CatalogError, match="no column 'shoe_size'"):
        members(fixture_ws, people_segment(node), columns=["shoe_size"])


def test_preview_is_bounded_and_says_when_truncated(tmp_path, fixture_warehouse, persons):
    settings = Settings(home=tmp_path / "h", warehouse=fixture_warehouse[0], preview_limit=5)
    with Workspace(settings) as ws:
        shown = preview(ws, people_segment(SCORED))
        assert shown.frame.height == 5 and shown.truncated
        assert shown.total == len(_ids(persons, SCORED))
        assert "tags" in shown.frame.columns and "seen_at" in shown.frame.columns
        assert preview(ws, people_segment(SCORED), limit=500).frame.height == 5
        few = preview(ws, people_segment({"column": "id", "op": "lte", "value": 3}), limit=50)
        assert not few.truncated and few.total == few.frame.height == 3


@pytest.mark.parametrize("ending", [".csv", ".parquet"])
def test_export_writes_every_member(ending, fixture_ws, tmp_path, persons) -> None:
    out = tmp_path / f"members{ending}"
    written = export_members(fixture_ws, people_segment(SCORED), out, as_of=AS_OF)
    expected = _ids(persons, SCORED)
    frame = pl.read_csv(out) if ending == ".csv" else pl.read_parquet(out)
    assert written == len(expected) and frame["id"].to_list() == expected
    assert frame.columns == ["id", "email"]


def test_export_refuses_other_endings_and_missing_folders(fixture_ws, tmp_path: Path) -> None:
    with pytest.raises(WorkbenchError, match=r"name the file \.csv or \.parquet"):
        export_members(fixture_ws, people_segment(SCORED), tmp_path / "members.xlsx")
    with pytest.raises(WorkbenchError, match="the folder does not exist"):
        export_members(fixture_ws, people_segment(SCORED), tmp_path / "no" / "m.csv")


def test_condition_counts_are_a_funnel(fixture_ws, persons) -> None:
    steps = condition_counts(fixture_ws, FUNNEL, as_of=AS_OF)
    nodes = [SWEDISH, SCORED, RECENT]
    assert [s.path for s in steps] == ["", "filter.and[0]", "filter.and[1]", "filter.and[2]"]
    assert steps[0].alone == steps[0].cumulative == len(persons)
    for i, node in enumerate(nodes, start=1):
        assert steps[i].alone == len(_ids(persons, node))
        assert steps[i].cumulative == len(_ids(persons, {"and": nodes[:i]}))
    assert steps[1].description == "country is SE"
    assert steps[-1].cumulative == count(fixture_ws, FUNNEL, as_of=AS_OF)


def test_condition_counts_of_an_or_grow(fixture_ws, persons) -> None:
    steps = condition_counts(fixture_ws, people_segment({"or": [SWEDISH, SCORED]}), as_of=AS_OF)
    assert steps[2].cumulative == len(_ids(persons, {"or": [SWEDISH, SCORED]}))
    assert steps[2].cumulative >= steps[1].cumulative


def test_breakdown_counts_members_by_value(fixture_ws, persons) -> None:
    frame = breakdown(fixture_ws, people_segment(SCORED), "country", as_of=AS_OF)
    chosen = [p for p in persons if evaluate(SCORED, p)]
    expected = Counter(p["country"] for p in chosen)
    assert dict(zip(frame["value"], frame["members"], strict=True)) == expected
    assert frame["members"].to_list() == sorted(frame["members"].to_list(), reverse=True)
    tags = breakdown(fixture_ws, people_segment(None), "tags", limit=2)
    assert tags.height == 2


def test_overlap_of_two_segments(fixture_ws, persons) -> None:
    a, b = set(_ids(persons, SWEDISH)), set(_ids(persons, SCORED))
    parts = overlap(fixture_ws, people_segment(SWEDISH), people_segment(SCORED), as_of=AS_OF)
    assert (parts.only_a, parts.both, parts.only_b) == (len(a - b), len(a & b), len(b - a))
    with pytest.raises(WorkbenchError, match="different entities"):
        overlap(fixture_ws, people_segment(SWEDISH), {"name": "n", "entity": "notes"})


def test_in_segment_reads_saved_segments_from_the_store(fixture_ws, persons) -> None:
    fixture_ws.store.save_segment(people_segment(SWEDISH, name="Swedes"))
    doc = people_segment({"and": [{"not": {"in_segment": "Swedes"}}, SCORED]})
    expected = [p["id"] for p in persons
                if not holds("eq", p["country"], "SE") and evaluate(SCORED, p)]  # fmt: skip
    assert count(fixture_ws, doc, as_of=AS_OF) == len(expected)
    assert "$p1" in segment_sql(fixture_ws, doc).sql


def test_slow_query_stops_at_the_time_limit(tmp_path, fixture_warehouse) -> None:
    settings = Settings(home=tmp_path / "h", warehouse=fixture_warehouse[0], query_timeout_s=0.3)
    slow = {"name": "slow", "entity": "slow_people",
            "filter": {"column": "score", "op": "eq", "value": 3}}  # fmt: skip
    with Workspace(settings) as ws:
        started = time.monotonic()
        with pytest.raises(QueryError, match=r"limit of 0\.3 s.*WORKBENCH_QUERY_TIMEOUT_S"):
            count(ws, slow)
        assert time.monotonic() - started < 10
        assert count(ws, people_segment(SWEDISH)) > 0  # the workspace still answers
