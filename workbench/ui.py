"""The few Streamlit helpers every page shares: the sidebar navigation, the cached workspace,
errors, flash messages.

Pages stay thin: they call these helpers (and those of the other ``workbench.ui_*`` modules,
the only workbench modules importing streamlit) to render widgets, and ``workbench`` functions
to act. The segment editor's helpers live in ``workbench.ui_segments`` and
``workbench.ui_conditions``; the Activations and Runs pages' in ``workbench.ui_runs``,
``workbench.ui_push`` (background pushes and their progress) and ``workbench.ui_settings``
(the custom activation settings form).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path as FilePath
from typing import Any

import streamlit as st

from workbench.config import Settings, get_settings
from workbench.errors import Problem, SegmentInvalid, WorkbenchError
from workbench.workspace import Workspace

APP_DIR = FilePath(__file__).resolve().parent.parent
FLASH = "flash"
HOME_ICON = ":material/campaign:"
NAVIGATION = (  # page file (relative to app.py), sidebar label, icon
    ("app.py", "Home", HOME_ICON),
    ("pages/1_Segments.py", "Segments", ":material/filter_alt:"),
    ("pages/2_Destination.py", "Destination", ":material/outgoing_mail:"),
    ("pages/3_Activations.py", "Activations", ":material/rocket_launch:"),
    ("pages/4_Runs.py", "Runs", ":material/history:"),
)


def sidebar_navigation() -> None:
    """The sidebar's page list, drawn by every page: the home page says "Home", not "app".

    Streamlit's own list (which names each page after its file) is hidden by
    ``[client] showSidebarNavigation = false`` in ``.streamlit/config.toml``.
    """
    with st.sidebar:
        for page, label, icon in NAVIGATION:
            st.page_link(page, label=label, icon=icon)


@st.cache_resource(show_spinner="Opening the warehouse…")
def _cached_workspace(settings_json: str) -> Workspace:
    return Workspace(Settings.model_validate_json(settings_json))


def workspace() -> Workspace:
    """The server's workspace for the current settings (one per distinct settings)."""
    return _cached_workspace(get_settings().model_dump_json())


def workspace_for(settings_json: str) -> Workspace:
    """The server's workspace for settings given as JSON (for cached functions' keys)."""
    return _cached_workspace(settings_json)


def show_error(error: WorkbenchError) -> None:
    """An error in plain words; a SegmentInvalid shows every problem with its path."""
    if isinstance(error, SegmentInvalid):
        show_problems(error.problems)
    else:
        st.error(str(error))


def show_problems(problems: list[Problem] | list[str]) -> None:
    """Every problem as one error box, one line each."""
    if problems:
        st.error("Problems to fix:\n" + "\n".join(f"- {p}" for p in problems))


def flash(kind: str, message: str) -> None:
    """Remember a message to show on the next run (from callbacks and before a rerun)."""
    st.session_state[FLASH] = (kind, message)


def show_flash() -> None:
    """Show (once) the message left by the last action."""
    kind, message = st.session_state.pop(FLASH, ("", ""))
    if message:
        getattr(st, kind)(message)


def page_link(page: str, label: str, icon: str | None = None) -> None:
    """A link to ``page`` (relative to app.py), or a note when that page is not built yet."""
    if (APP_DIR / page).exists():
        st.page_link(page, label=label, icon=icon)
    else:
        st.caption(f"{label} (page not available yet)")


def guarded(action: Callable[[], Any], success: str = "") -> Callable[[], None]:
    """A callback running ``action``; a WorkbenchError becomes an error message, not a crash."""

    def run() -> None:
        try:
            action()
        except WorkbenchError as error:
            flash("error", str(error))
        else:
            if success:
                flash("success", success)

    return run
