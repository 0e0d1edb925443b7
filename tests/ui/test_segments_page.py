"""The Segments page: building through widgets, the live count, saving, problems, deleting."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.ui.conftest import texts
from workbench.config import Settings
from workbench.segments import count
from workbench.store import Store
from workbench.workspace import Workspace

PAGE = "pages/1_Segments.py"


@pytest.fixture
def page(app: AppTest) -> AppTest:
    """The Segments page, run once with a new (empty) segment."""
    app.run()
    app.switch_page(PAGE)
    return app.run()


def add_column_condition(at: AppTest, column: str, op: str) -> None:
    """Choose the column and operator of the "add a condition" form (value left to the caller)."""
    at.selectbox(key="add_column").set_value(column).run()
    at.selectbox(key="add_op").set_value(op).run()


def open_tab(at: AppTest, label: str) -> None:
    """Open one of the results panel's tabs (they compute only when open)."""
    at.session_state["seg_results_tab"] = label
    at.run()


def members_shown(at: AppTest) -> int:
    """The live count the page shows."""
    [metric] = [m for m in at.metric if m.label == "Members"]
    return int(str(metric.value).replace(",", ""))


def test_two_conditions_built_with_widgets_count_like_the_engine_and_save(
    page: AppTest, app_env: Settings
) -> None:
    at = page
    everyone = members_shown(at)
    add_column_condition(at, "country", "in")
    values = at.multiselect(key="add_value_country_multiselect")
    chosen = list(values.options[:2])
    values.set_value(chosen).run()
    at.button(key="add_condition").click().run()
    add_column_condition(at, "lifetime_value", "gte")
    at.number_input(key="add_value_lifetime_value_number").set_value(100).run()
    at.button(key="add_condition").click().run()
    assert not at.exception, at.exception
    expected = {
        "and": [
            {"column": "country", "op": "in", "value": chosen},
            {"column": "lifetime_value", "op": "gte", "value": 100},
        ]
    }
    with Workspace(app_env) as ws:
        engine = count(ws, {"name": "check", "entity": "customers", "filter": expected})
    assert 0 < members_shown(at) == engine < everyone
    at.text_input(key="seg_name").input("Big spenders").run()
    at.button(key="seg_save").click().run()
    assert not at.exception
    assert "Saved segment 'Big spenders'" in texts(at)
    assert Store(app_env.state_db_path).get_segment("Big spenders")["filter"] == expected
    assert at.selectbox(key="seg_choice").value == "Big spenders"


def test_in_without_values_shows_the_problem_and_is_not_saved(
    page: AppTest, app_env: Settings
) -> None:
    at = page
    add_column_condition(at, "plan", "in")
    at.button(key="add_condition").click().run()
    assert not at.exception
    assert any("filter.and[0].value: expected a non-empty list" in e.value for e in at.error)
    assert not [m for m in at.metric if m.label == "Members"]
    at.button(key="seg_save").click().run()
    assert "give the segment a name" in texts(at)
    at.text_input(key="seg_name").input("Plans").run()
    at.button(key="seg_save").click().run()
    assert not at.exception
    assert "the segment has 1 problem(s)" in texts(at)
    assert Store(app_env.state_db_path).list_segments() == []


def test_a_bad_pasted_document_lists_its_problems(page: AppTest) -> None:
    at = page
    bad = {"name": "", "entity": "customers", "colour": "red"}
    at.text_area(key="paste_text").input(json.dumps(bad)).run()
    at.button(key="load_pasted").click().run()
    assert not at.exception
    shown = texts(at)
    assert "colour: unknown key" in shown and "name: required" in shown


def test_a_malformed_filter_tree_is_shown_with_its_problems(page: AppTest) -> None:
    at = page
    doc = {"name": "odd", "entity": "customers", "filter": {"and": [1, {"or": "x"}, {"op": 2}]}}
    at.text_area(key="paste_text").input(json.dumps(doc)).run()
    at.button(key="load_pasted").click().run()
    assert not at.exception
    shown = texts(at)
    assert "filter.and[0]: expected a condition object" in shown
    assert "filter.and[1].or: expected a non-empty list of conditions" in shown


def test_a_pasted_yaml_document_opens_with_its_problems_inline(page: AppTest) -> None:
    at = page
    doc = "name: SE\nentity: customers\nfilter:\n  column: country\n  op: eq\n  value: 5\n"
    at.text_area(key="paste_text").input(doc).run()
    at.button(key="load_pasted").click().run()
    assert not at.exception
    assert at.text_input(key="seg_name").value == "SE"
    assert any("expected text" in e.value for e in at.error)


def test_deleting_a_used_segment_asks_first(page: AppTest, app_env: Settings) -> None:
    store = Store(app_env.state_db_path)
    sweden = {"column": "country", "op": "eq", "value": "SE"}
    pro = {"column": "plan", "op": "eq", "value": "pro"}
    store.save_segment({"name": "Sweden", "entity": "customers", "filter": sweden})
    uses_it = {"and": [{"in_segment": "Sweden"}, pro]}
    store.save_segment({"name": "Sweden pro", "entity": "customers", "filter": uses_it})
    at = page.run()
    at.selectbox(key="seg_choice").set_value("Sweden").run()
    at.button(key="seg_delete").click().run()
    assert not at.exception
    assert "Sweden pro" in at.warning[0].value
    assert [s.name for s in store.list_segments()] == ["Sweden", "Sweden pro"]
    at.button(key="seg_delete_force").click().run()
    assert not at.exception
    assert [s.name for s in store.list_segments()] == ["Sweden pro"]
    assert at.selectbox(key="seg_choice").value == "+ New segment"


def test_related_condition_group_and_saved_segment_through_widgets(
    page: AppTest, app_env: Settings
) -> None:
    store = Store(app_env.state_db_path)
    store.save_segment({"name": "Pro", "entity": "customers",
                        "filter": {"column": "plan", "op": "eq", "value": "pro"}})  # fmt: skip
    at = page.run()
    at.selectbox(key="rel_entity").set_value("orders").run()
    at.checkbox(key="rel_window").check().run()
    at.number_input(key="rel_days").set_value(365).run()
    at.selectbox(key="rel_op").set_value("gte").run()
    at.number_input(key="rel_value_count_None_number").set_value(2).run()
    at.button(key="add_related").click().run()
    at.radio(key="group_kind").set_value("or").run()
    at.button(key="add_group").click().run()
    at.selectbox(key="add_into").set_value((1,)).run()
    at.selectbox(key="ref_segment").set_value("Pro").run()
    at.radio(key="ref_mode").set_value("not in it").run()
    at.button(key="add_segment").click().run()
    assert not at.exception
    expected = {"and": [
        {"related": "orders", "within_last_days": 365,
         "having": {"agg": "count", "op": "gte", "value": 2}},
        {"or": [{"not": {"in_segment": "Pro"}}]},
    ]}  # fmt: skip
    with Workspace(app_env) as ws:
        engine = count(ws, {"name": "x", "entity": "customers", "filter": expected})
    assert members_shown(at) == engine > 0
    assert "not in segment Pro" in texts(at)


def test_analyses_rename_and_duplicate(page: AppTest, app_env: Settings) -> None:
    store = Store(app_env.state_db_path)
    for name, plan in (("Pro", "pro"), ("Free", "free")):
        store.save_segment({"name": name, "entity": "customers",
                            "filter": {"column": "plan", "op": "eq", "value": plan}})  # fmt: skip
    at = page.run()
    at.selectbox(key="seg_choice").set_value("Pro").run()
    assert "all customers" in str(at.dataframe[-1].value)  # the first tab: condition by condition
    assert not at.code  # closed tabs compute nothing
    open_tab(at, "Preview")
    assert "Showing the first 100 of" in texts(at)
    open_tab(at, "Breakdown")
    at.selectbox(key="breakdown_by").set_value("country").run()
    open_tab(at, "Overlap")
    at.selectbox(key="overlap_with").set_value("Free").run()
    assert not at.exception
    overlap = {m.label: m.value for m in at.metric}
    with Workspace(app_env) as ws:
        free = count(ws, store.get_segment("Free"))
    assert overlap["Both"] == "0" and int(overlap["Only Free"]) == free > 0
    open_tab(at, "SQL")
    at.selectbox(key="sql_dialect").set_value("postgres").run()
    assert '"plan" = $' not in at.code[0].value and "WHERE" in at.code[0].value
    at.text_input(key="seg_rename_to").input("Professionals").run()
    at.button(key="seg_rename").click().run()
    at.button(key="seg_duplicate").click().run()
    assert not at.exception
    assert [s.name for s in store.list_segments()] == [
        "Free", "Professionals", "Professionals copy"
    ]  # fmt: skip
    assert at.selectbox(key="seg_choice").value == "Professionals copy"


def test_a_date_picker_condition_counts_like_the_engine(page: AppTest, app_env: Settings) -> None:
    at = page
    add_column_condition(at, "signup_at", "before")
    at.date_input(key="add_value_signup_at_date").set_value(date(2026, 1, 1)).run()
    at.button(key="add_condition").click().run()
    assert not at.exception
    before = {"column": "signup_at", "op": "before", "value": "2026-01-01"}
    with Workspace(app_env) as ws:
        engine = count(ws, {"name": "x", "entity": "customers", "filter": before})
    assert members_shown(at) == engine > 0


def test_registering_a_csv_file_makes_it_an_entity(page: AppTest, tmp_path: Path) -> None:
    csv = tmp_path / "web_orders.csv"
    csv.write_text("id,customer_id,total\n1,1,9.5\n2,2,20\n", encoding="utf-8")
    at = page
    for field, value in (("name", "web_orders"), ("source", str(csv)), ("primary_key", "id"),
                         ("fk", "customer_id")):  # fmt: skip
        at.text_input(key=f"reg_{field}").input(value)
    at.selectbox(key="reg_to").set_value("customers")
    at.button(key="FormSubmitter:reg-Register").click().run()
    assert not at.exception
    assert "Registered entity 'web_orders'" in texts(at)
    assert "web_orders" in at.selectbox(key="seg_entity").options
    at.text_input(key="reg_primary_key").input("no_such_column")
    at.button(key="FormSubmitter:reg-Register").click().run()
    assert any("primary key 'no_such_column' is not a column" in e.value for e in at.error)


def test_a_condition_opens_filled_in_and_is_edited_in_place(
    page: AppTest, app_env: Settings
) -> None:
    at = page
    add_column_condition(at, "lifetime_value", "between")
    at.number_input(key="add_value_lifetime_value_number_range_low").set_value(100).run()
    at.number_input(key="add_value_lifetime_value_number_range_high").set_value(500).run()
    at.button(key="add_condition").click().run()
    add_column_condition(at, "signup_at", "before")
    at.date_input(key="add_value_signup_at_date").set_value(date(2026, 1, 1)).run()
    at.button(key="add_condition").click().run()
    at.button(key="edit_0").click().run()
    assert not at.exception, at.exception
    assert "Editing condition #1" in texts(at)
    assert at.selectbox(key="edit_column").value == "lifetime_value"
    assert at.selectbox(key="edit_op").value == "between"
    low = at.number_input(key="edit_value_lifetime_value_number_range_low")
    assert (
        low.value,
        at.number_input(key="edit_value_lifetime_value_number_range_high").value,
    ) == (
        100,
        500,
    )
    at.selectbox(key="edit_op").set_value("gte").run()
    at.number_input(key="edit_value_lifetime_value_number").set_value(250).run()
    at.button(key="edit_apply").click().run()
    assert not at.exception, at.exception
    edited = {
        "and": [
            {"column": "lifetime_value", "op": "gte", "value": 250},
            {"column": "signup_at", "op": "before", "value": "2026-01-01"},
        ]
    }
    assert at.session_state["seg_doc"]["filter"] == edited  # in place: still first, date kept
    assert "Editing condition #1" not in texts(at)
    with Workspace(app_env) as ws:
        engine = count(ws, {"name": "x", "entity": "customers", "filter": edited})
    assert members_shown(at) == engine > 0
    at.button(key="edit_1").click().run()  # the date condition opens with its date
    assert at.date_input(key="edit_value_signup_at_date").value == date(2026, 1, 1)
    at.button(key="edit_cancel").click().run()
    assert at.session_state["seg_doc"]["filter"] == edited
    assert "Editing condition #2" not in texts(at)


def test_a_list_condition_opens_with_its_values(page: AppTest) -> None:
    at = page
    add_column_condition(at, "country", "in")
    values = at.multiselect(key="add_value_country_multiselect")
    chosen = list(values.options[:2])
    values.set_value(chosen).run()
    at.button(key="add_condition").click().run()
    at.button(key="edit_0").click().run()
    assert at.multiselect(key="edit_value_country_multiselect").value == chosen


def test_why_tab_explains_a_member_condition_by_condition(page: AppTest, app_env: Settings) -> None:
    store = Store(app_env.state_db_path)
    store.save_segment({"name": "Pro", "entity": "customers",
                        "filter": {"column": "plan", "op": "eq", "value": "pro"}})  # fmt: skip
    at = page.run()
    at.selectbox(key="seg_choice").set_value("Pro").run()
    open_tab(at, "Why?")
    with Workspace(app_env) as ws:
        plans = dict(ws.cursor().sql("SELECT id, plan FROM customers ORDER BY id").fetchall())
    pro = next(k for k, plan in plans.items() if plan == "pro")
    free = next(k for k, plan in plans.items() if plan != "pro")
    at.text_input(key="explain_member").input(str(pro)).run()
    assert not at.exception, at.exception
    assert f"{pro} is in the segment" in [s.value for s in at.success]
    assert at.code[0].value == "✓ all of these\n  ✓ plan is pro (plan: 'pro')"
    at.text_input(key="explain_member").input(str(free)).run()
    assert f"{free} is not in the segment" in [w.value for w in at.warning]
    assert at.code[0].value == f"✗ all of these\n  ✗ plan is pro (plan: {plans[free]!r})"
    at.text_input(key="explain_member").input("nobody@nowhere.test").run()
    assert "no row of customers has id or email 'nobody@nowhere.test'" in texts(at)
