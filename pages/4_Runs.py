"""Runs: each activation's history, its list size over time, and one run in detail."""

from __future__ import annotations

import streamlit as st

from workbench import run_views, ui, ui_runs
from workbench.activations import get_run, list_runs
from workbench.errors import WorkbenchError

st.set_page_config(page_title="Runs", page_icon=":material/history:", layout="wide")
ui.sidebar_navigation()
st.title("Runs")
ws = ui.workspace()

names = sorted({r.activation for r in list_runs(ws, limit=1000)})
if not names:
    st.info("No runs yet: push an activation on the Activations page.")
    ui.page_link("pages/3_Activations.py", "Open the activations", icon=":material/rocket_launch:")
    st.stop()
name = str(st.selectbox("Activation", names, key="runs_activation"))
records = list_runs(ws, name, limit=200)

st.subheader("History")
st.dataframe(run_views.history_rows(records), hide_index=True)
ui_runs.show_history_charts(records)

st.subheader("Run detail")
labels: dict[int, str] = {r.id: run_views.run_label(r) for r in records}
run_id = st.selectbox(
    "Run",
    list(labels),
    format_func=lambda rid: labels.get(rid, str(rid)),
    key=f"runs_run_{name}",
)
try:
    ui_runs.show_run_detail(ws, get_run(ws, int(run_id or records[0].id)))
except WorkbenchError as error:
    ui.show_error(error)
