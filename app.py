"""Home page: what is set up, what ran, what needs attention."""

from __future__ import annotations

import streamlit as st

from workbench.errors import WorkbenchError
from workbench.overview import next_steps, workspace_overview
from workbench.run_views import status_said_once, when
from workbench.ui import page_link, show_error, workspace

st.set_page_config(page_title="Audience Workbench", page_icon=":material/campaign:", layout="wide")
st.title("Audience Workbench")
st.caption("Segments over DuckDB, kept equal to SendGrid lists.")

try:
    overview = workspace_overview(workspace())
except WorkbenchError as exc:
    show_error(exc)
    st.stop()

st.subheader("Needs attention")
if not overview.attention:
    st.success("Nothing needs attention: no failed runs, no runs waiting for approval.")
for item in overview.attention:
    what = "failed" if item.kind == "failed" else "is waiting for your approval"
    box = st.error if item.kind == "failed" else st.warning
    message = status_said_once(item.message)
    box(f"Run {item.run_id} of activation **{item.activation}** {what}: {message}")
if overview.attention:
    page_link("pages/4_Runs.py", "Open the runs", icon=":material/history:")
    page_link("pages/3_Activations.py", "Open the activations", icon=":material/rocket_launch:")

label = "demo warehouse" if overview.is_demo else "warehouse"
st.subheader("Data")
st.write(f"Reading the {label} `{overview.warehouse}` (read-only).")
st.dataframe(
    [
        {
            "entity": e.name,
            "source": e.source,
            "rows": e.rows,
            "columns": e.columns,
            "email column": e.email_column or "",
        }
        for e in overview.entities
    ],
    hide_index=True,
)

st.subheader("Set up")
cols = st.columns(3)
cols[0].metric("Saved segments", overview.segments)
cols[1].metric("Destinations", overview.destinations)
cols[2].metric("Activations", overview.activations)
with cols[0]:
    page_link("pages/1_Segments.py", "Build a segment", icon=":material/filter_alt:")
with cols[1]:
    page_link("pages/2_Destination.py", "Set up SendGrid", icon=":material/outgoing_mail:")
with cols[2]:
    page_link("pages/3_Activations.py", "Activate a segment", icon=":material/rocket_launch:")

st.subheader("Latest runs")
if not overview.runs:
    st.info(next_steps(overview))
else:
    st.dataframe(
        [
            {
                "id": run.get("id"),
                "activation": run.get("activation"),
                "status": run.get("status"),
                "started": when(str(run.get("started_at") or "")),
                "updated": when(str(run.get("updated_at") or "")),
            }
            for run in overview.runs
        ],
        hide_index=True,
    )
