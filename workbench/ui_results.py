"""The Segments page's results panel: the live count, cached, and the analyses shown on demand.

Every rerun of the page used to recompute the count, the condition-by-condition counts, the
preview and the SQL, even when the edit did not change the segment. Here each derived result
is cached (``st.cache_data``, short TTL) under a ``LiveKey``: the segment document's canonical
JSON, what it depends on (saved segments' versions, the catalog's entity specs), the as-of day
and the settings. The panel is a fragment, and the analyses sit in tabs that run only when open,
so picking a breakdown column or a dialect reruns the panel alone, on cached figures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl
import streamlit as st

from workbench.config import get_settings
from workbench.errors import WorkbenchError
from workbench.segments import (
    DIALECTS,
    ConditionCount,
    Explanation,
    Overlap,
    Preview,
    breakdown,
    condition_counts,
    count,
    describe_segment,
    explain,
    overlap,
    preview,
    segment_sql,
)
from workbench.ui import show_error, workspace, workspace_for
from workbench.workspace import Workspace

LIVE_CACHE_TTL_S = 120  # a warehouse rebuilt under the app shows within two minutes
LIVE_CACHE_ENTRIES = 256
TABS = ("By condition", "Preview", "Breakdown", "Overlap", "Why?", "SQL")
TAB_KEY = "seg_results_tab"


@dataclass(frozen=True)
class LiveKey:
    """What a derived result of the edited segment depends on, as plain text (hashable)."""

    doc_json: str
    depends_on: str
    day: str
    settings_json: str

    def document(self) -> dict[str, Any]:
        """The segment document back from its JSON."""
        doc: dict[str, Any] = json.loads(self.doc_json)
        return doc

    def workspace(self) -> Workspace:
        """The server's cached workspace for these settings."""
        return workspace_for(self.settings_json)


def canonical_json(doc: Any) -> str:
    """The document as JSON with sorted keys, so equal documents give equal keys."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)


def dependencies(ws: Workspace) -> str:
    """Saved segments' versions and the catalog's entity specs: a change to either (a segment
    referenced with ``in_segment`` saved again, an entity registered) gives new keys."""
    saved = [(s.name, s.version) for s in ws.store.list_segments()]
    specs = sorted(repr(e.spec) for e in ws.catalog().entities.values())
    return canonical_json([saved, specs])


def live_key(ws: Workspace, doc: dict[str, Any]) -> LiveKey:
    """The cache key of ``doc`` for this workspace today (UTC)."""
    day = datetime.now(UTC).date().isoformat()
    return LiveKey(canonical_json(doc), dependencies(ws), day, get_settings().model_dump_json())


@st.cache_data(ttl=LIVE_CACHE_TTL_S, max_entries=LIVE_CACHE_ENTRIES, show_spinner=False)
def cached_count(key: LiveKey) -> int:
    """The segment's member count."""
    return count(key.workspace(), key.document())


@st.cache_data(ttl=LIVE_CACHE_TTL_S, max_entries=LIVE_CACHE_ENTRIES, show_spinner=False)
def cached_condition_counts(key: LiveKey) -> list[ConditionCount]:
    """Each top-level condition's count alone and so far."""
    return condition_counts(key.workspace(), key.document())


@st.cache_data(ttl=LIVE_CACHE_TTL_S, max_entries=LIVE_CACHE_ENTRIES, show_spinner=False)
def cached_preview(key: LiveKey) -> Preview:
    """The bounded preview of the members."""
    return preview(key.workspace(), key.document())


@st.cache_data(ttl=LIVE_CACHE_TTL_S, max_entries=LIVE_CACHE_ENTRIES, show_spinner=False)
def cached_breakdown(key: LiveKey, by: str) -> pl.DataFrame:
    """Members by the values of column ``by``."""
    return breakdown(key.workspace(), key.document(), by)


@st.cache_data(ttl=LIVE_CACHE_TTL_S, max_entries=LIVE_CACHE_ENTRIES, show_spinner=False)
def cached_overlap(key: LiveKey, other: str) -> Overlap:
    """Members only in this segment, in both, only in the saved segment ``other``."""
    ws = key.workspace()
    return overlap(ws, key.document(), ws.store.get_segment(other))


@st.cache_data(ttl=LIVE_CACHE_TTL_S, max_entries=LIVE_CACHE_ENTRIES, show_spinner=False)
def cached_explanation(key: LiveKey, member: str) -> list[Explanation]:
    """Each node's verdict for the member(s) matching ``member`` (primary key or email)."""
    return explain(key.workspace(), key.document(), member)


@st.fragment
def results_panel(live: dict[str, Any], columns: list[str], others: list[str]) -> None:
    """The live count and description, then the analyses in tabs computed only when open.

    A fragment: switching tabs or choosing a breakdown, an overlap or a dialect reruns only
    this panel."""
    ws = workspace()
    try:
        key = live_key(ws, live)
        st.metric("Members", f"{cached_count(key):,}")
        st.info(describe_segment(live, ws.catalog()))
        funnel, shown, by, both, why, sql = st.tabs(list(TABS), key=TAB_KEY, on_change="rerun")
        if funnel.open:
            with funnel:
                _show_funnel(key)
        if shown.open:
            with shown:
                _show_preview(key)
        if by.open:
            with by:
                _show_breakdown(key, columns)
        if both.open:
            with both:
                _show_overlap(key, others)
        if why.open:
            with why:
                _show_explanation(key)
        if sql.open:
            with sql:
                _show_sql(ws, live)
    except WorkbenchError as error:
        show_error(error)


def _show_funnel(key: LiveKey) -> None:
    rows = [{"condition": c.description, "alone": c.alone, "so far": c.cumulative}
            for c in cached_condition_counts(key)]  # fmt: skip
    st.dataframe(rows, hide_index=True)


def _show_preview(key: LiveKey) -> None:
    shown = cached_preview(key)
    st.dataframe(shown.frame, hide_index=True)
    if shown.truncated:
        st.caption(f"Showing the first {shown.frame.height} of {shown.total:,} members.")


def _show_breakdown(key: LiveKey, columns: list[str]) -> None:
    by = st.selectbox("Break down by", ["", *columns], key="breakdown_by")
    if by:
        st.bar_chart(cached_breakdown(key, by), x="value", y="members")


def _show_overlap(key: LiveKey, others: list[str]) -> None:
    other = st.selectbox("Overlap with", ["", *others], key="overlap_with")
    if not other:
        if not others:
            st.caption("Save another segment to compare this one with it.")
        return
    parts = cached_overlap(key, other)
    a, both, b = st.columns(3)
    a.metric("Only this one", parts.only_a)
    both.metric("Both", parts.both)
    b.metric(f"Only {other}", parts.only_b)


def _show_explanation(key: LiveKey) -> None:
    member = st.text_input(
        "Why is this member in the segment, or not?",
        key="explain_member",
        placeholder="a primary key, or an email",
    )
    if member.strip():
        for found in cached_explanation(key, member.strip()):
            (st.success if found.in_segment else st.warning)(
                f"{found.key} is {'in' if found.in_segment else 'not in'} the segment"
            )
            st.code("\n".join(v.line() for v in found.verdicts) or "(no conditions)", language=None)


def _show_sql(ws: Workspace, live: dict[str, Any]) -> None:
    dialect = st.selectbox("SQL dialect", DIALECTS, key="sql_dialect")
    st.code(segment_sql(ws, live, dialect).sql, language="sql")
