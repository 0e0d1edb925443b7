"""Home page: what is set up, what ran, what needs attention.

A classic multipage app: this script is the home page and the other pages are the files in
``pages/`` (URLs /Segments, /Destination, /Activations, /Runs). Streamlit's automatic sidebar
list is hidden (``[client] showSidebarNavigation = false`` in ``.streamlit/config.toml``),
because it would name this page "app" after its file; every page draws our own list instead
with ``workbench.ui.sidebar_navigation``, where this page is "Home".
"""

from __future__ import annotations

import streamlit as st

from workbench.errors import WorkbenchError
from workbench.overview import Overview, next_steps, workspace_overview
from workbench.run_views import status_said_once, when
from workbench.ui import HOME_ICON, page_link, show_error, sidebar_navigation, workspace


def attention(overview: Overview) -> None:
    """Failed runs and runs waiting for approval, with links to act on them."""
    st.subheader("Needs attention")
    if not overview.attention:
        st.success("Nothing needs attention: no failed runs, no runs waiting for approval.")
        return
    for item in overview.attention:
        what = "failed" if item.kind == "failed" else "is waiting for your approval"
        box = st.error if item.kind == "failed" else st.warning
        message = status_said_once(item.message)
        box(f"Run {item.run_id} of activation **{item.activation}** {what}: {message}")
    page_link("pages/4_Runs.py", "Open the runs", icon=":material/history:")
    page_link("pages/3_Activations.py", "Open the activations", icon=":material/rocket_launch:")


def data(overview: Overview) -> None:
    """The warehouse and its entities with row counts."""
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


def set_up(overview: Overview) -> None:
    """How many segments, destinations and activations exist, each with its page."""
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


def latest_runs(overview: Overview) -> None:
    """The latest runs of every activation, or what to do first."""
    st.subheader("Latest runs")
    if not overview.runs:
        st.info(next_steps(overview))
        return
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


def home() -> None:
    """The home page: what needs attention, the data, what is set up, the latest runs."""
    st.set_page_config(page_title="Audience Workbench", page_icon=HOME_ICON, layout="wide")
    sidebar_navigation()
    st.title("Audience Workbench")
    st.caption("Segments over DuckDB, kept equal to SendGrid lists.")
    try:
        overview = workspace_overview(workspace())
    except WorkbenchError as exc:
        show_error(exc)
        st.stop()
    for section in (attention, data, set_up, latest_runs):
        section(overview)


home()
