"""The segment editor's state without Streamlit: edits by path, widget values, loading text."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

import pytest

from workbench import segment_builder as sb
from workbench import segment_values as sv
from workbench.catalog import ColumnKind
from workbench.errors import CatalogError, SegmentInvalid
from workbench.segments import count
from workbench.segments.values import ValueShape
from workbench.workspace import Workspace

K, V = ColumnKind, ValueShape
SE = {"column": "country", "op": "eq", "value": "SE"}
PRO = {"column": "plan", "op": "eq", "value": "pro"}
RICH = {"column": "lifetime_value", "op": "gte", "value": 500}


def nested() -> dict:
    """customers: SE and (pro or rich)."""
    doc = sb.add_node(sb.new_document("customers", "n"), (), SE)
    doc = sb.add_group(doc, (), "or")
    doc = sb.add_node(doc, (1,), PRO)
    return sb.add_node(doc, (1,), RICH)


def test_edits_by_path_build_nested_groups_without_touching_the_old_document() -> None:
    empty = sb.new_document("customers", "n")
    doc = nested()
    assert empty["filter"] == {"and": []}
    assert doc["filter"] == {"and": [SE, {"or": [PRO, RICH]}]}
    assert sb.groups(doc) == [(), (1,)]
    assert [p for p, _ in sb.flatten(doc)] == [(0,), (1,), (1, 0), (1, 1)]
    assert sb.node_at(doc, (1, 1)) == RICH


def test_move_remove_and_switch_combinator() -> None:
    doc = nested()
    moved = sb.move_node(doc, (1, 1), -1)
    assert moved["filter"]["and"][1] == {"or": [RICH, PRO]}
    assert sb.remove_node(doc, (0,))["filter"] == {"and": [{"or": [PRO, RICH]}]}
    assert sb.set_combinator(doc, (1,), "and")["filter"]["and"][1] == {"and": [PRO, RICH]}
    assert sb.set_combinator(doc, (), "or")["filter"] == {"or": [SE, {"or": [PRO, RICH]}]}
    assert sb.replace_node(doc, (1, 0), SE)["filter"] == {"and": [SE, {"or": [SE, RICH]}]}
    assert doc == nested()
    malformed = {"name": "m", "entity": "customers", "filter": {"and": [1, SE]}}
    assert sb.remove_node(malformed, (0,))["filter"] == {"and": [SE]}
    assert sb.group_size(malformed, ()) == 2


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: sb.node_at(d, (5,)), "no condition at #6"),
        (lambda d: sb.node_at(d, (0, 1)), "no condition at #1.2"),
        (lambda d: sb.add_node(d, (0,), PRO), "#1 is a condition, not a group"),
        (lambda d: sb.remove_node(d, ()), "top-level group cannot be removed"),
        (lambda d: sb.move_node(d, (1,), 1), "cannot move #2 past the end"),
        (lambda d: sb.add_group(d, (), "xor"), "'and' or 'or', not 'xor'"),
        (lambda d: sb.replace_node(d, (1, 4), SE), "no condition at #2.5"),
        (lambda d: sb.replace_node(d, (), SE), "top-level group cannot be replaced"),
    ],
)
def test_edits_that_do_not_fit_say_where(edit: Callable[[dict], object], message: str) -> None:
    with pytest.raises(sb.BuilderError, match=message):
        edit(nested())


def test_editable_wraps_a_lone_condition_and_engine_document_drops_an_empty_root() -> None:
    assert sb.editable({"name": "a", "entity": "customers", "filter": SE})["filter"] == {
        "and": [SE]
    }
    assert sb.editable({"name": "a", "entity": "customers"})["filter"] == {"and": []}
    engine = sb.engine_document(sb.new_document("customers"))
    assert "filter" not in engine and engine["name"] == "unsaved segment"
    assert sb.set_entity(nested(), "orders")["filter"] == {"and": []}
    assert sb.set_entity(nested(), "customers") == nested()


def test_problems_are_placed_at_their_condition(workspace: Workspace) -> None:
    doc = sb.add_node(nested(), (1,), {"column": "plan", "op": "in", "value": []})
    doc = sb.add_group(doc, (), "and")
    problems = sb.live_problems(workspace, sb.engine_document(doc))
    assert sb.problems_at(problems, doc, (1, 2)) == [
        "filter.and[1].or[2].value: expected a non-empty list of values"
    ]
    assert sb.problems_at(problems, doc, (1,), deep=False) == []
    assert len(sb.problems_at(problems, doc, (1,))) == 1
    assert sb.problems_at(problems, doc, (2,), deep=False) == [
        "filter.and[2].and: expected a non-empty list of conditions"
    ]
    assert sb.problems_at(problems, doc, (0,)) == []
    assert sb.unplaced_problems(problems) == []
    assert sb.document_path(doc, (1, 2)) == "filter.and[1].or[2]"
    assert sb.group_label(doc, (1,)) == "#2 (any of)"


@pytest.mark.parametrize(
    ("kind", "shape", "choices", "widget"),
    [
        (K.TEXT, V.LIST, ["SE"], "multiselect"),
        (K.TEXT, V.LIST, None, "text_list"),
        (K.TEXT, V.ONE, ["SE"], "select"),
        (K.TEXT, V.ONE, None, "text"),
        (K.NUMBER, V.ONE, None, "number"),
        (K.NUMBER, V.RANGE, None, "number_range"),
        (K.TIMESTAMP, V.RANGE, None, "date_range"),
        (K.DATE, V.ONE, None, "date"),
        (K.TIMESTAMP, V.DAYS, None, "days"),
        (K.BOOLEAN, V.ONE, None, "boolean"),
        (K.TEXT, V.NONE, ["SE"], "none"),
    ],
)
def test_each_value_gets_a_widget_that_suits_it(
    kind: ColumnKind, shape: ValueShape, choices: list[str] | None, widget: str
) -> None:
    assert sv.value_widget(kind, shape, choices) == widget


@pytest.mark.parametrize(
    ("kind", "shape", "raw", "value"),
    [
        (K.NUMBER, V.ONE, 100.0, 100),
        (K.NUMBER, V.ONE, 99.5, 99.5),
        (K.NUMBER, V.LIST, "1, 2.5,\n3", [1, 2.5, 3]),
        (K.NUMBER, V.LIST, "1, lots", [1, "lots"]),
        (K.TEXT, V.LIST, [], []),
        (K.TEXT, V.LIST, " SE , DE ", ["SE", "DE"]),
        (K.DATE, V.ONE, date(2026, 3, 1), "2026-03-01"),
        (K.TIMESTAMP, V.RANGE, [date(2026, 1, 1), date(2026, 2, 1)], ["2026-01-01", "2026-02-01"]),
        (K.TIMESTAMP, V.ONE, datetime(2026, 1, 1, 12), "2026-01-01T12:00:00"),
        (K.TIMESTAMP, V.DAYS, 30.0, 30),
        (K.BOOLEAN, V.ONE, "true", True),
        (K.TEXT, V.NONE, "ignored", None),
    ],
)
def test_widget_values_become_document_values(
    kind: ColumnKind, shape: ValueShape, raw: object, value: object
) -> None:
    assert sv.coerce_value(kind, shape, raw) == value


@pytest.mark.parametrize(
    ("kind", "shape", "choices", "raw"),
    [
        (K.NUMBER, V.ONE, None, 99.5),
        (K.NUMBER, V.RANGE, None, [100.0, 500.0]),
        (K.NUMBER, V.LIST, None, "1, 2.5, 3"),
        (K.TEXT, V.LIST, ["SE", "DE", "NO"], ["SE", "DE"]),
        (K.TEXT, V.ONE, None, "pro"),
        (K.TEXT, V.ONE, ["free", "pro"], "pro"),
        (K.DATE, V.ONE, None, date(2026, 3, 1)),
        (K.TIMESTAMP, V.RANGE, None, [date(2026, 1, 1), date(2026, 2, 1)]),
        (K.TIMESTAMP, V.DAYS, None, 30),
        (K.BOOLEAN, V.ONE, None, False),
    ],
)
def test_a_saved_value_opens_in_its_widget_as_it_was_entered(
    kind: ColumnKind, shape: ValueShape, choices: list[str] | None, raw: object
) -> None:
    """Editing in place: the document value goes back into the widget it came from."""
    widget = sv.value_widget(kind, shape, choices)
    assert sv.widget_value(widget, sv.coerce_value(kind, shape, raw)) == raw


def test_a_saved_value_that_does_not_fit_its_widget_opens_empty() -> None:
    assert sv.widget_value("number", "lots") is None
    assert sv.widget_value("date", "not a date") is None
    assert sv.widget_value("date", "2026-01-01T12:00:00") == date(2026, 1, 1)


def test_a_value_that_does_not_fit_is_reported_by_validation(workspace: Workspace) -> None:
    value = sv.coerce_value(K.NUMBER, V.LIST, "1, lots")
    doc = sb.add_node(
        sb.new_document("customers", "x"), (), sv.column_condition("age", "in", value)
    )
    doc["filter"]["and"][0]["column"] = "lifetime_value"
    problems = sb.live_problems(workspace, sb.engine_document(doc))
    assert [str(p) for p in problems] == ["filter.and[0].value[1]: expected a number, got 'lots'"]


def test_a_document_built_by_the_builder_counts_like_the_written_one(workspace: Workspace) -> None:
    having = sv.having("count", "gte", 2)
    orders = sv.related_condition("orders", within_last_days=365, having=having)
    doc = sb.add_node(nested(), (), orders)
    written = {
        "name": "n",
        "entity": "customers",
        "filter": {
            "and": [
                SE,
                {"or": [PRO, RICH]},
                {
                    "related": "orders",
                    "within_last_days": 365,
                    "having": {"agg": "count", "op": "gte", "value": 2},
                },
            ]
        },
    }
    as_of = "2026-06-30"
    assert count(workspace, sb.engine_document(doc), as_of) == count(workspace, written, as_of)
    assert sv.segment_condition("VIP", exclude=True) == {"not": {"in_segment": "VIP"}}
    assert sv.having("sum", "gt", 10, "amount") == {
        "agg": "sum",
        "op": "gt",
        "value": 10,
        "column": "amount",
    }


def test_loading_pasted_text() -> None:
    loaded = sb.load_document("name: SE\nentity: customers\nfilter: {column: country, op: eq}")
    assert loaded["filter"] == {"and": [{"column": "country", "op": "eq"}]}
    for text, message in [
        ("", "the document is empty"),
        ("name: [unclosed", "neither valid JSON nor YAML"),
        ('{"entity": "customers", "colour": 1}', "colour: unknown key"),
        ("- a list", "a segment must be an object"),
    ]:
        with pytest.raises(SegmentInvalid, match=message):
            sb.load_document(text)


def test_free_names_and_entity_specs_from_the_form() -> None:
    assert sb.free_name("VIP copy", ["VIP", "VIP copy", "VIP copy 2"]) == "VIP copy 3"
    assert sb.free_name("New", []) == "New"
    fields = {"name": "web", "source": "web.csv", "primary_key": "id", "email_column": " "}
    spec = sb.entity_spec(fields, "customers", "customer_id")
    assert spec.email_column is None and spec.relation is not None
    assert spec.relation.foreign_key == "customer_id"
    with pytest.raises(CatalogError, match="lacks: primary_key"):
        sb.entity_spec({"name": "web", "source": "web.csv", "primary_key": ""})
