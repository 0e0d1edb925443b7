"""The Segments page's cached live results: equal documents share a key, and a change the
segment depends on (a referenced saved segment saved again) is never hidden by the cache."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from tests.ui.test_segments_page import PAGE, members_shown
from workbench.config import Settings
from workbench.segments import count
from workbench.store import Store
from workbench.ui_results import live_key
from workbench.workspace import Workspace

SWEDEN = {"column": "country", "op": "eq", "value": "SE"}
PRO = {"column": "plan", "op": "eq", "value": "pro"}


def test_equal_documents_share_a_key_and_a_new_saved_version_changes_it(
    app_env: Settings,
) -> None:
    doc = {"name": "x", "entity": "customers", "filter": {"and": [SWEDEN, PRO]}}
    reordered = json.loads(
        json.dumps({"filter": doc["filter"], "entity": "customers", "name": "x"})
    )
    with Workspace(app_env) as ws:
        first = live_key(ws, doc)
        assert live_key(ws, reordered) == first
        assert live_key(ws, {**doc, "filter": SWEDEN}) != first
        ws.store.save_segment({"name": "Sweden", "entity": "customers", "filter": SWEDEN})
        assert live_key(ws, doc) != first  # in_segment references may now point elsewhere


def test_the_count_follows_a_referenced_segment_saved_again(
    app: AppTest, app_env: Settings
) -> None:
    store = Store(app_env.state_db_path)
    store.save_segment({"name": "Ref", "entity": "customers", "filter": SWEDEN})
    store.save_segment({"name": "Uses ref", "entity": "customers", "filter": {"in_segment": "Ref"}})
    app.run()
    app.switch_page(PAGE)
    at = app.run()
    at.selectbox(key="seg_choice").set_value("Uses ref").run()
    with Workspace(app_env) as ws:
        sweden, pro = (
            count(ws, store.get_segment("Ref")),
            count(ws, {**store.get_segment("Ref"), "filter": PRO}),
        )
    assert members_shown(at) == sweden > 0
    store.save_segment({"name": "Ref", "entity": "customers", "filter": PRO})
    at.run()
    assert not at.exception
    assert members_shown(at) == pro != sweden
