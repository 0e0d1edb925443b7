"""Activations: keep a saved segment equal to a SendGrid list — activate, preview, push."""

from __future__ import annotations

import streamlit as st

from workbench import run_views, ui, ui_push, ui_runs, ui_settings
from workbench.activations import reconcile
from workbench.errors import WorkbenchError

st.set_page_config(page_title="Activations", page_icon=":material/rocket_launch:", layout="wide")
ui.sidebar_navigation()
st.title("Activations")
ws = ui.workspace()
ui.show_flash()

segments = [s.name for s in ws.store.list_segments()]
destinations = [d.name for d in ws.store.list_destinations()]
st.subheader("Activate a segment")
if not segments or not destinations:
    st.info("First save a segment on the Segments page and a SendGrid destination on the "
            "Destination page; then activate the segment here in one click.")  # fmt: skip
else:
    segment = str(st.selectbox("Saved segment", segments, key="act_segment"))
    dest = destinations[0]
    if len(destinations) > 1:
        dest = str(st.selectbox("Destination", destinations, key="act_destination"))
    st.button(
        "Activate with defaults",
        type="primary",
        key="act_defaults",
        help=f"Uses the default activation settings of {dest} (see the Destination page).",
        on_click=ui.guarded(lambda: ui_runs.activate_segment(ws, segment, dest)),
    )
    with st.expander("Custom settings"):
        try:
            chosen = ui_settings.custom_settings(ws, segment, dest)
        except WorkbenchError as error:  # e.g. the segment's entity left the catalog
            ui.show_error(error)
        else:
            st.button(
                "Activate with these settings",
                key="act_custom",
                on_click=ui.guarded(lambda: ui_runs.activate_segment(ws, segment, dest, chosen)),
            )

st.subheader("Your activations")
try:
    rows = run_views.activation_rows(ws)
except WorkbenchError as error:
    ui.show_error(error)
    st.stop()
if not rows:
    st.info("No activation yet.")
    st.stop()
st.dataframe(rows, hide_index=True)
name = str(st.selectbox("Activation", [r["activation"] for r in rows], key="act_choice"))

preview_tab, push_tab, drift_tab, delete_tab = st.tabs(
    ["Preview", "Push", "Drift", "Delete"], key="act_tab", on_change="rerun"
)  # kept in the session, so a rerun (a push ending) stays on the chosen tab
with preview_tab:
    st.caption("What a push would do now, read from SendGrid; nothing is changed.")
    if st.button("Preview", key="act_preview"):
        ui.guarded(lambda: ui_runs.preview(ws, name))()
        ui.show_flash()
    plan = ui_runs.current_plan(name)
    if plan is not None:
        ui_runs.show_plan(plan)
with push_tab:
    first = st.checkbox("Read the list first and correct our records (reconcile)", key="act_rec")
    recreate = st.checkbox("Create the list again if it was deleted in SendGrid", key="act_recr")
    st.button(
        "Push now",
        type="primary",
        key="act_push",
        on_click=ui.guarded(
            lambda: ui_runs.push(ws, name, reconcile_first=first, recreate_list=recreate)
        ),
    )
    ui_push.push_panel(ws, name)
with drift_tab:
    st.caption("Compares the SendGrid list (read by an export) with what we recorded on it.")
    if st.button("Check the list for drift", key="act_drift"):
        try:
            ui_runs.show_drift(reconcile(ws, name))
        except WorkbenchError as error:
            ui.show_error(error)
with delete_tab:
    ui_runs.delete_box(ws, name)
