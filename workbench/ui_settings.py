"""The Activations page's custom settings form, and the ``activate`` arguments it yields.

The form starts from the destination's defaults and returns only what differs from them, so a
later change of a default still reaches the activation. The email column is a choice among the
segment's entity's text columns, headed by "use the entity's email column (default)": picking
it when the destination's default names another column stores the override
``ENTITY_EMAIL_COLUMN`` (the entity's own column); otherwise it stores nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from workbench import activations
from workbench import run_views as rv
from workbench.activations import ENTITY_EMAIL_COLUMN
from workbench.catalog import ColumnKind, Entity
from workbench.destinations.sendgrid.destination import MODES, DefaultSettings
from workbench.errors import WorkbenchError
from workbench.schedules import parse_schedule
from workbench.workspace import Workspace

ENTITY_CHOICE = "use the entity's email column (default)"
MODES_PLAINLY = (
    "managed removes only members this activation added; mirror makes the list exactly "
    "segment ∩ contacts and removes members others added"
)


def segment_entity(ws: Workspace, segment: str) -> Entity:
    """The catalogued entity of a saved segment."""
    return ws.catalog().entity(str(ws.store.get_segment(segment)["entity"]))


def email_column_choices(entity: Entity, default: str | None) -> list[str]:
    """ENTITY_EMAIL_COLUMN first, then the entity's text columns (and ``default`` when it is
    not among them, so the form can show it)."""
    text = [c.name for c in entity.columns.values() if c.kind is ColumnKind.TEXT]
    extra = [default] if default and default not in text else []
    return [ENTITY_EMAIL_COLUMN, *text, *extra]


def email_column_label(own: str | None) -> Callable[[str], str]:
    """How a choice of :func:`email_column_choices` reads; ``own``: the entity's email column."""

    def label(choice: str) -> str:
        if choice == ENTITY_EMAIL_COLUMN:
            return f"{ENTITY_CHOICE}: {own or 'none set'}"
        return choice

    return label


def changed_settings(defaults: DefaultSettings, chosen: dict[str, Any]) -> dict[str, Any]:
    """``activate`` keyword arguments from a settings form: ``name`` and
    ``adopt_existing_list`` as given, every setting only where it differs from the defaults.

    ``chosen`` holds ``list_name, email_column, schedule, mode, allow_empty,
    max_remove_percent`` (0..100) besides ``name`` and ``adopt_existing_list``; an
    ``email_column`` of None or ENTITY_EMAIL_COLUMN means the entity's own column.
    """
    kwargs: dict[str, Any] = {"name": chosen.get("name") or None}
    kwargs["adopt_existing_list"] = bool(chosen.get("adopt_existing_list"))
    for key in ("list_name", "mode"):
        if chosen.get(key) != getattr(defaults, key):
            kwargs[key] = chosen.get(key)
    email = chosen.get("email_column") or ENTITY_EMAIL_COLUMN
    if email != (defaults.email_column or ENTITY_EMAIL_COLUMN):
        kwargs["email_column"] = email
    if str(chosen.get("schedule", "")).strip() != str(defaults.schedule):
        kwargs["schedule"] = str(chosen["schedule"]).strip()
    guards = {
        "allow_empty": bool(chosen.get("allow_empty")),
        "max_remove_fraction": float(chosen.get("max_remove_percent", 0)) / 100,
    }
    if guards != defaults.guards.to_dict():
        kwargs["guards"] = guards
    return kwargs


def _email_column(ws: Workspace, segment: str, default: str | None, key: str) -> str:
    """The email column select box, starting at the destination's default."""
    entity = segment_entity(ws, segment)
    choices = email_column_choices(entity, default)
    return str(
        st.selectbox(
            "Email column",
            choices,
            index=choices.index(default or ENTITY_EMAIL_COLUMN),
            format_func=email_column_label(entity.spec.email_column),
            key=key,
        )
    )


def custom_settings(ws: Workspace, segment: str, destination: str) -> dict[str, Any]:
    """Every activation setting, starting from the destination's defaults; ``activate`` kwargs
    holding only what differs from the defaults (so later default changes still apply)."""
    defaults = activations.get_destination(ws, destination).defaults
    k = f"act_{destination}_{segment}_"  # per segment/destination, so defaults show again
    chosen: dict[str, Any] = {
        "name": st.text_input("Activation name", value=segment, key=k + "name").strip(),
        "list_name": st.text_input(
            "List name ({segment}, {entity})", value=defaults.list_name, key=k + "list"
        ),
        "email_column": _email_column(ws, segment, defaults.email_column, k + "email"),
        "schedule": st.text_input(
            "Schedule (manual, every 6h, daily 06:30, weekly mon 07:00, cron …)",
            value=str(defaults.schedule), key=k + "schedule",
        ),
    }  # fmt: skip
    try:
        st.caption(f"Runs {parse_schedule(chosen['schedule']).describe()}.")
    except WorkbenchError as error:
        st.error(str(error))
    chosen["mode"] = st.radio(
        "Mode", MODES, index=MODES.index(defaults.mode), format_func=rv.MODE_TEXT.get,
        key=k + "mode",
    )  # fmt: skip
    st.caption(MODES_PLAINLY)
    chosen["allow_empty"] = st.checkbox(
        "Allow an empty segment to empty the list (otherwise the run asks)",
        value=defaults.guards.allow_empty, key=k + "empty",
    )  # fmt: skip
    chosen["max_remove_percent"] = st.slider(
        "Ask before a run removes more than this % of the list", 0, 100,
        round(defaults.guards.max_remove_fraction * 100), key=k + "share",
    )  # fmt: skip
    chosen["adopt_existing_list"] = st.checkbox(
        "Adopt an existing SendGrid list of that name (otherwise a list of that name that "
        "this activation did not create stops the run)", key=k + "adopt",
    )  # fmt: skip
    return changed_settings(defaults, chosen)
