"""Segments: build a segment without SQL, watch its size live, look inside it, save it.

The add-forms and the results panel are fragments (``workbench.ui_segments``,
``workbench.ui_results``): editing a form or choosing an analysis reruns only that part.
"""

from __future__ import annotations

import streamlit as st

from workbench import segment_builder as sb
from workbench import ui, ui_results, ui_segments
from workbench.errors import WorkbenchError
from workbench.registry import register_entity
from workbench.ui_segments import DOC

st.set_page_config(page_title="Segments", page_icon=":material/filter_alt:", layout="wide")
ui.sidebar_navigation()
st.title("Segments")
ws = ui.workspace()
try:
    catalog = ws.catalog()
except WorkbenchError as error:
    ui.show_error(error)
    st.stop()
saved = [s.name for s in ws.store.list_segments()]
default_entity = (catalog.activatable() or list(catalog.entities.values()))[0].name
ui_segments.pick_segment(ws, saved, default_entity)
ui.show_flash()

edit, results = st.columns([5, 4], gap="large")
with edit:
    st.text_input(
        "Name",
        key="seg_name",
        help="Saving under a new name keeps the old segment: use Rename to rename it.",
    )
    entity = catalog.entity(st.selectbox("Entity", list(catalog.entities), key="seg_entity"))
    st.session_state[DOC] = sb.set_entity(st.session_state[DOC], entity.name)
    live, problems = ui_segments.current(ws)
with results:  # before the rest of the editor, so the browser shows the count first
    if problems:
        st.warning("Fix the problems on the left to see the segment's size.")
    else:
        others = [n for n in saved if n != live["name"]]
        ui_results.results_panel(live, list(entity.columns), others)
with edit:
    ui.show_problems(sb.unplaced_problems(problems))
    ui_segments.condition_tree(ws, entity, st.session_state[DOC], problems)
    ui_segments.add_forms(ws, entity, [n for n in saved if n != live["name"]])
    ui_segments.segment_actions(ws)
    with st.expander("Paste or upload a segment document (JSON or YAML)"):
        st.text_area("Document", key="paste_text", height=160)
        st.file_uploader("…or a file", type=["json", "yaml", "yml"], key="paste_file")
        st.button("Load document", key="load_pasted", on_click=ui.guarded(ui_segments.load_pasted))
    with st.expander("Register a CSV/Parquet file or a DuckDB table as an entity"), st.form("reg"):
        fields = {k: st.text_input(k.replace("_", " ").capitalize(), key=f"reg_{k}") for k in
                  ("name", "source", "primary_key", "email_column", "time_column")}  # fmt: skip
        to = st.selectbox("Related to", ["", *catalog.entities], key="reg_to")
        foreign_key = st.text_input("Foreign key (column pointing at it)", key="reg_fk")
        if st.form_submit_button("Register"):
            try:
                register_entity(ws, sb.entity_spec(fields, to, foreign_key))
            except WorkbenchError as error:
                st.error(str(error))
            else:
                ui.flash("success", f"Registered entity {fields['name']!r}: choose it above.")
                st.rerun()
