"""What the pages show, without Streamlit: distinct values for menus, runs needing attention."""

from __future__ import annotations

from workbench.overview import (
    Overview,
    distinct_values,
    is_sandbox,
    needs_attention,
    next_steps,
    workspace_overview,
)
from workbench.workspace import Workspace


def _direct(ws: Workspace, sql: str) -> list[tuple]:
    return ws.cursor().sql(sql).fetchall()


def test_distinct_values_of_a_low_cardinality_column_most_common_first(
    workspace: Workspace,
) -> None:
    found = distinct_values(workspace, "customers", "plan")
    rows = _direct(workspace, "SELECT plan, count(*) FROM customers WHERE plan IS NOT NULL "
                              "GROUP BY 1 ORDER BY 2 DESC, 1")  # fmt: skip
    assert found == [r[0] for r in rows]
    assert None not in (distinct_values(workspace, "customers", "country") or [])


def test_distinct_values_of_many_values_is_none_and_lists_give_elements(
    workspace: Workspace,
) -> None:
    assert distinct_values(workspace, "customers", "email") is None
    tags = distinct_values(workspace, "customers", "tags")
    assert tags and all(isinstance(t, str) for t in tags)
    plans = len(distinct_values(workspace, "customers", "plan") or [])
    assert distinct_values(workspace, "customers", "plan", limit=plans - 1) is None


def test_overview_counts_entities_and_saved_objects(workspace: Workspace) -> None:
    workspace.store.save_segment({"name": "all", "entity": "customers"})
    overview = workspace_overview(workspace)
    assert {e.name: e.rows for e in overview.entities}["customers"] == 2_000
    assert overview.segments == 1 and overview.runs == [] and overview.attention == []


def test_only_the_latest_run_of_each_activation_needs_attention() -> None:
    runs = [
        {"id": 4, "activation": "a", "status": "succeeded"},
        {"id": 3, "activation": "b", "status": "needs_approval", "message": "removes 40%"},
        {"id": 2, "activation": "a", "status": "failed", "message": "401"},
        {"id": 1, "activation": "c", "status": "failed"},
    ]
    found = [(a.kind, a.activation, a.run_id, a.message) for a in needs_attention(runs)]
    assert found == [("approval", "b", 3, "removes 40%"), ("failed", "c", 1, "failed")]


def test_the_sandbox_is_recognised_by_its_host() -> None:
    assert is_sandbox({"host": "http://127.0.0.1:5123"})
    assert is_sandbox({"host": "https://api.sendgrid.com", "sandbox": True})
    assert not is_sandbox({"host": "https://api.eu.sendgrid.com"})


def test_next_steps_name_only_what_is_missing() -> None:
    empty = Overview(warehouse="w.duckdb", is_demo=True)
    assert next_steps(empty) == (
        "No runs yet. To start: build and save a segment on the Segments page, then give "
        "SendGrid an API key on the Destination page, then activate a segment on the "
        "Activations page."
    )
    demo_destination = Overview(warehouse="w.duckdb", is_demo=True, segments=1, destinations=1)
    assert next_steps(demo_destination) == (
        "No runs yet. To start: activate a segment on the Activations page."
    )
    activated = Overview(warehouse="w.duckdb", is_demo=True, segments=1, destinations=1,
                         activations=1)  # fmt: skip
    assert "push an activation on the Activations page" in next_steps(activated)
