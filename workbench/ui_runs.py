"""Streamlit helpers of the Activations and Runs pages: activate, preview, drift, delete, history.

Pushes run in the background: their registry, progress and outcome live in ``workbench.ui_push``.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from workbench import activations
from workbench import run_views as rv
from workbench.destinations.sendgrid.reconcile import Drift
from workbench.destinations.sendgrid.run_record import RunRecord
from workbench.destinations.sendgrid.sync import SyncPlan
from workbench.errors import ConflictError
from workbench.ui import flash, guarded
from workbench.ui_push import current_push, show_run_summary, start_push
from workbench.workspace import Workspace

CONFIRM_DELETE = "act_confirm_delete"
PLAN = "act_plan"
SIZE_FIELDS = ("list size", "added", "removed")


# -- activating and pushing ---------------------------------------------------------------


def activate_segment(
    ws: Workspace, segment: str, destination: str, settings: dict[str, Any] | None = None
) -> None:
    """Activate ``segment`` (with the destination's defaults unless ``settings``) and open it."""
    made = activations.activate(ws, segment, destination, **(settings or {}))
    st.session_state["act_choice"] = made.name
    how = "custom settings" if settings else f"the defaults of {destination}"
    flash("success", f"Activated {segment!r} as {made.name!r} with {how}. Preview or push it.")


def push(ws: Workspace, name: str, *, reconcile_first: bool, recreate_list: bool) -> None:
    """Start a push of ``name`` in the background (the old preview is dropped)."""
    st.session_state.pop(PLAN, None)

    def action() -> RunRecord:
        return activations.run(ws, name, reconcile=reconcile_first, recreate_list=recreate_list)

    start_push(ws, name, action)


def preview(ws: Workspace, name: str) -> None:
    """Plan a run of ``name`` now (reads SendGrid, changes nothing) and keep it for display."""
    with st.spinner("Reading the segment and looking up SendGrid contacts…"):
        st.session_state[PLAN] = activations.preview(ws, name)


def current_plan(name: str) -> SyncPlan | None:
    """The preview of ``name`` made in this session, if any."""
    plan: SyncPlan | None = st.session_state.get(PLAN)
    return plan if plan is not None and plan.activation == name else None


# -- preview --------------------------------------------------------------------------------


def show_funnel(funnel: list[tuple[str, int]]) -> None:
    """The coverage funnel as metrics and a bar chart."""
    rows = rv.funnel_rows(funnel)
    for column, row in zip(st.columns(len(rows)), rows, strict=True):
        column.metric(row["step"], f"{row['count']:,}", row["share"], delta_color="off")
    st.bar_chart(
        {"step": [r["step"] for r in rows], "count": [r["count"] for r in rows]},
        x="step",
        y="count",
        horizontal=True,
        sort=False,
    )


def show_plan(plan: SyncPlan) -> None:
    """A preview: funnel, counts, guard problems and the bounded tables with CSV downloads."""
    st.caption(f"List {plan.list_name!r}, {rv.MODE_TEXT[plan.mode]}.")
    show_funnel(plan.funnel)
    counts = plan.counts
    for column, label in zip(
        st.columns(4), ("to_add", "to_remove", "unchanged", "skipped"), strict=True
    ):
        column.metric(label.replace("_", " "), f"{counts[label]:,}")
    for problem in plan.guard_problems:
        st.warning(f"A push would stop and ask for approval: {problem}")
    tabs = st.tabs(["To add", "To remove", "Skipped (with reasons)"])
    frames = {"to_add": plan.to_add.drop("entry"), "to_remove": plan.to_remove}
    frames["skipped"] = plan.skipped
    for tab, (label, frame) in zip(tabs, frames.items(), strict=True):
        with tab:
            shown, note = rv.bounded(frame)
            if note:
                st.caption(note + " The download holds every row.")
            st.dataframe(rv.readable_reasons(shown).to_pandas(), hide_index=True)
            st.download_button(
                f"Download {label.replace('_', ' ')} (CSV)",
                rv.csv_bytes(frame),
                file_name=f"{plan.activation}-{label}.csv",
                mime="text/csv",
                key=f"dl_{label}",
            )


# -- drift and delete -----------------------------------------------------------------------


def show_drift(drift: Drift) -> None:
    """Both directions of drift between our snapshot and the real list."""
    if drift.in_sync:
        st.success("In sync: the list holds exactly the members we recorded.")
        return
    left, right = st.columns(2)
    for column, title, frame in (
        (left, "On the list but not in our records", drift.on_list_not_in_snapshot),
        (right, "In our records but gone from the list", drift.in_snapshot_not_on_list),
    ):
        column.metric(title, f"{frame.height:,}")
        shown, note = rv.bounded(frame)
        column.dataframe(shown.to_pandas(), hide_index=True)
        if note:
            column.caption(note)


def delete_box(ws: Workspace, name: str) -> None:
    """Delete the activation, asking first (its runs and its SendGrid list are kept)."""
    if st.session_state.get(CONFIRM_DELETE) != name:
        st.button("Delete activation", key="act_delete", on_click=lambda: _ask_delete(name))
        return
    st.warning(
        f"Delete activation {name!r}? Its run history and its SendGrid list stay; "
        "the list is no longer updated."
    )
    yes, no = st.columns(2)
    yes.button(
        "Delete it",
        key="act_delete_yes",
        on_click=guarded(lambda: _delete(ws, name), f"Deleted activation {name!r}."),
    )
    no.button("Keep it", key="act_delete_no", on_click=lambda: st.session_state.pop(CONFIRM_DELETE))


def _ask_delete(name: str) -> None:
    st.session_state[CONFIRM_DELETE] = name


def _delete(ws: Workspace, name: str) -> None:
    st.session_state.pop(CONFIRM_DELETE, None)
    push = current_push(ws, name)
    if push is not None and push.running:
        raise ConflictError(f"activation {name} is running: delete it once the push finished")
    activations.delete_activation(ws, name)


# -- the Runs page --------------------------------------------------------------------------


def show_history_charts(records: list[RunRecord]) -> None:
    """Our members on the list after each run, and each run's adds and removes, over time."""
    series = rv.size_over_time(records).to_pandas()
    size, changes = st.columns(2)
    size.caption("Members on the list after each run")
    size.vega_lite_chart(series, _chart({"type": "line", "point": True}, {
        "y": {"field": "list size", "type": "quantitative", "title": "members"},
    }))  # fmt: skip
    changes.caption("Added and removed per run")
    changes.vega_lite_chart(series, _chart({"type": "bar", "width": 8}, {
        "y": {"field": "rows", "type": "quantitative", "title": "rows"},
        "xOffset": {"field": "change"},
        "color": {"field": "change", "type": "nominal", "title": None},
    }, [{"fold": ["added", "removed"], "as": ["change", "rows"]}]))  # fmt: skip


TIME_AXIS = {"format": "%Y-%m-%d %H:%M", "labelAngle": 0, "labelOverlap": True, "tickCount": 4}


def _chart(
    mark: dict[str, Any], encoding: dict[str, Any], transform: list[Any] | None = None
) -> dict[str, Any]:
    """A chart over the runs' start times, labelled like the tables (not ``.064``)."""
    x = {"field": "started", "type": "temporal", "title": "run started (UTC)", "axis": TIME_AXIS}
    tooltip = [{"field": "started", "type": "temporal", "format": "%Y-%m-%d %H:%M:%S"}]
    tooltip += [{"field": f, "type": "quantitative"} for f in SIZE_FIELDS]
    spec = {"mark": mark, "encoding": {"x": x, **encoding, "tooltip": tooltip}}
    return {**spec, "transform": transform} if transform else spec


def show_run_detail(ws: Workspace, record: RunRecord) -> None:
    """One run: its summary, funnel, API calls, guard problems and the per-row log."""
    show_run_summary(record)
    if record.status == "needs_approval":
        st.caption("Approve or discard it on the Activations page.")
    funnel = record.fields.get("funnel") or []
    calls, steps = st.columns(2)
    if funnel:
        steps.caption("Coverage funnel when the run was planned")
        steps.dataframe(rv.funnel_rows(funnel), hide_index=True)
    if rv.api_call_rows(record):
        calls.caption(f"API calls by endpoint ({rv.retries(record)} retries, "
                      f"{rv.waited_s(record):.1f} s waited on rate limits)")  # fmt: skip
        calls.dataframe(rv.api_call_rows(record), hide_index=True)
    show_log(ws, record.id)


def show_log(ws: Workspace, run_id: int) -> None:
    """The per-row log (bounded) with CSV and Parquet downloads of every row."""
    frame = activations.run_log(ws, run_id)
    shown, note = rv.bounded(frame)
    st.caption(f"Per-row log: {frame.height:,} row(s). {note}")
    st.dataframe(rv.readable_reasons(shown).to_pandas(), hide_index=True)
    csv, parquet = st.columns(2)
    csv.download_button(
        "Download the log (CSV)", rv.csv_bytes(frame), f"run-{run_id}-log.csv", "text/csv",
        key="log_csv",
    )  # fmt: skip
    parquet.download_button(
        "Download the log (Parquet)", rv.parquet_bytes(frame), f"run-{run_id}-log.parquet",
        "application/vnd.apache.parquet", key="log_parquet",
    )  # fmt: skip
