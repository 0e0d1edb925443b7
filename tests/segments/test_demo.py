"""End to end on the 2,000-customer demo warehouse: the engine's answers against the same
question answered independently with polars over the raw tables."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from workbench.segments import condition_counts, count, members, preview

AS_OF = datetime(2026, 6, 30)
SEGMENT = {
    "version": 1,
    "name": "Engaged pro users",
    "entity": "customers",
    "filter": {"and": [
        {"column": "plan", "op": "in", "value": ["pro", "enterprise"]},
        {"or": [{"column": "lifetime_value", "op": "gte", "value": 500},
                {"column": "signup_at", "op": "within_last_days", "value": 180}]},
        {"related": "events", "where": {"column": "name", "op": "eq", "value": "purchase"},
         "within_last_days": 90, "having": {"agg": "count", "op": "gte", "value": 2}},
        {"related": "orders", "having": {"agg": "count", "op": "lt", "value": 3}},
    ]},
}  # fmt: skip


def _table(ws, name: str) -> pl.DataFrame:
    return ws.cursor().sql(f'SELECT * FROM "{name}"').pl()


def _expected_ids(ws) -> list[int]:
    customers, events, orders = (_table(ws, t) for t in ("customers", "events", "orders"))
    window = (pl.col("occurred_at") >= AS_OF - timedelta(days=90)) & (
        pl.col("occurred_at") <= AS_OF
    )
    buyers = (
        events.filter((pl.col("name") == "purchase") & window)
        .group_by("customer_id")
        .len()
        .filter(pl.col("len") >= 2)["customer_id"]
    )
    many_orders = orders.group_by("customer_id").len().filter(pl.col("len") >= 3)["customer_id"]
    recent = pl.col("signup_at").is_between(AS_OF - timedelta(days=180), AS_OF)
    chosen = customers.filter(
        pl.col("plan").is_in(["pro", "enterprise"]).fill_null(False)
        & ((pl.col("lifetime_value") >= 500).fill_null(False) | recent.fill_null(False))
        & pl.col("id").is_in(buyers.implode())
        & ~pl.col("id").is_in(many_orders.implode())
    )
    return sorted(chosen["id"].to_list())


def test_demo_segment_matches_an_independent_answer(workspace) -> None:
    expected = _expected_ids(workspace)
    assert 0 < len(expected) < 2000
    assert count(workspace, SEGMENT, as_of=AS_OF) == len(expected)
    assert members(workspace, SEGMENT, as_of=AS_OF)["id"].to_list() == expected


def test_demo_funnel_and_preview(workspace) -> None:
    steps = condition_counts(workspace, SEGMENT, as_of=AS_OF)
    assert steps[0].alone == 2000
    cumulative = [s.cumulative for s in steps]
    assert cumulative == sorted(cumulative, reverse=True)
    assert steps[3].description == (
        "having at least 2 events where name is purchase within the last 90 days"
    )
    shown = preview(workspace, SEGMENT, limit=3, as_of=AS_OF)
    assert shown.total == cumulative[-1]
    assert shown.frame.height == min(3, shown.total)
    assert shown.frame.columns[:2] == ["id", "email"] and "tags" in shown.frame.columns
