"""Segments: build a segment without SQL, watch its size live, look inside it, save it."""

from __future__ import annotations

import streamlit as st

from workbench import segment_builder as sb
from workbench import ui, ui_segments
from workbench.errors import WorkbenchError
from workbench.registry import register_entity
from workbench.segments import (
    DIALECTS,
    breakdown,
    condition_counts,
    count,
    describe_segment,
    overlap,
    preview,
    segment_sql,
)
from workbench.ui_segments import DOC

st.set_page_config(page_title="Segments", page_icon="🧩", layout="wide")
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

edit, results = st.columns([3, 2], gap="large")
with edit:
    st.text_input(
        "Name",
        key="seg_name",
        help="Saving under a new name keeps the old segment: use Rename to rename it.",
    )
    entity = catalog.entity(st.selectbox("Entity", list(catalog.entities), key="seg_entity"))
    st.session_state[DOC] = sb.set_entity(st.session_state[DOC], entity.name)
    live, problems = ui_segments.current(ws)
    ui.show_problems(sb.unplaced_problems(problems))
    ui_segments.condition_tree(st.session_state[DOC], problems)
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

with results:
    if problems:
        st.warning("Fix the problems on the left to see the segment's size.")
        st.stop()
    try:
        st.metric("Members", f"{count(ws, live):,}")
        st.info(describe_segment(live, catalog))
        st.markdown("**Condition by condition**")
        funnel = [{"condition": c.description, "alone": c.alone, "so far": c.cumulative}
                  for c in condition_counts(ws, live)]  # fmt: skip
        st.dataframe(funnel, hide_index=True)
        shown = preview(ws, live)
        st.markdown("**Preview**")
        st.dataframe(shown.frame, hide_index=True)
        if shown.truncated:
            st.caption(f"Showing the first {shown.frame.height} of {shown.total:,} members.")
        by = st.selectbox("Break down by", ["", *entity.columns], key="breakdown_by")
        if by:
            st.bar_chart(breakdown(ws, live, by), x="value", y="members")
        other = st.selectbox(
            "Overlap with", ["", *(n for n in saved if n != live["name"])], key="overlap_with"
        )
        if other:
            parts = overlap(ws, live, ws.store.get_segment(other))
            a, both, b = st.columns(3)
            a.metric("Only this one", parts.only_a)
            both.metric("Both", parts.both)
            b.metric(f"Only {other}", parts.only_b)
        dialect = st.selectbox("SQL dialect", DIALECTS, key="sql_dialect")
        st.code(segment_sql(ws, live, dialect).sql, language="sql")
    except WorkbenchError as error:
        ui.show_error(error)
