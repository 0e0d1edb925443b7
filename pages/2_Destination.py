"""Destination: the SendGrid account (API key, host), a connection test, default settings."""

from __future__ import annotations

import streamlit as st

from workbench import ui
from workbench.activations import create_destination, get_destination, test_connection
from workbench.destinations.sendgrid.destination import EU_HOST, MODES, Destination
from workbench.errors import ConfigError, WorkbenchError
from workbench.overview import destination_key, is_sandbox
from workbench.schedules import parse_schedule
from workbench.secrets import SOURCE_KEY_FILE, validate_key_format

NEW = "+ New destination"
MODE_TEXT = {
    "managed": "Managed (add-only): add who entered, remove who left; others on the list stay",
    "mirror": "Mirror: the list holds exactly the segment; anyone else on it is removed",
}
st.set_page_config(page_title="Destination", page_icon=":material/outgoing_mail:", layout="wide")
ui.sidebar_navigation()
st.title("SendGrid destination")
ws = ui.workspace()
if "dest_saved" in st.session_state:  # after a save: open it, and forget the typed key
    st.session_state["dest_choice"] = st.session_state.pop("dest_saved")
    st.session_state["dest_api_key"] = ""
choice = st.selectbox(
    "Destination", [NEW, *(d.name for d in ws.store.list_destinations())], key="dest_choice"
)
dest = Destination("sendgrid", ws.settings.sendgrid_host) if choice == NEW else None
try:
    dest = dest or get_destination(ws, choice)
except WorkbenchError as error:
    ui.show_error(error)
    st.stop()
if is_sandbox(dest.to_dict()):
    st.info(
        "Sandbox: this destination is the local SendGrid sandbox; nothing leaves this machine.",
        icon=":material/science:",
    )
ui.show_flash()
k = f"{choice}_"  # widget keys per destination, so switching shows its saved values

name = st.text_input("Name", value=dest.name, key=k + "name")
try:
    key = destination_key(ws, name)
    st.caption(f"API key: {key.masked} (from {key.source})" if key else "No API key saved yet.")
    if key and key.source != SOURCE_KEY_FILE:
        st.caption(f"A key saved here is used instead of the one from {key.source}.")
except WorkbenchError as error:
    ui.show_error(error)
st.text_input(
    "API key (stored in a private key file, shown only masked)",
    type="password",
    key="dest_api_key",
    placeholder="SG.…  (leave empty to keep the saved key)",
)
regions = ["global", "eu", "custom"]
saved_region = dest.region if dest.host in (ws.settings.sendgrid_host, EU_HOST) else "custom"
region = st.radio(
    "Host",
    regions,
    index=regions.index(saved_region),
    horizontal=True,
    format_func={
        "global": f"Global ({ws.settings.sendgrid_host})",
        "eu": f"EU ({EU_HOST})",
        "custom": "Custom URL",
    }.get,
    key=k + "region",
)
host = st.text_input("Host URL", value=dest.host, key=k + "host") if region == "custom" else None

st.subheader("Default activation settings")
defaults = dest.defaults
list_name = st.text_input(
    "List name ({segment}, {entity})", value=defaults.list_name, key=k + "list"
)
email = st.text_input(
    "Email column (empty: the entity's own)", value=defaults.email_column or "", key=k + "email"
)
schedule = st.text_input(
    "Schedule (manual, every 6h, daily 06:30, weekly mon 07:00, cron …)",
    value=str(defaults.schedule),
    key=k + "schedule",
)
try:
    st.caption(f"Runs {parse_schedule(schedule).describe()}.")
except WorkbenchError as error:
    st.error(str(error))
mode = st.radio(
    "Mode", MODES, index=MODES.index(defaults.mode), format_func=MODE_TEXT.get, key=k + "mode"
)
allow_empty = st.checkbox(
    "Allow an empty segment to empty the list (otherwise the run asks)",
    value=defaults.guards.allow_empty,
    key=k + "empty",
)
share = st.slider(
    "Ask before a run removes more than this % of the list",
    0,
    100,
    round(defaults.guards.max_remove_fraction * 100),
    key=k + "share",
)


def save() -> None:
    """Save the destination and the typed key; open it, with the key cleared from the form."""
    if not name.strip():
        raise ConfigError("give the destination a name (for example sendgrid) before saving it")
    typed = str(st.session_state.get("dest_api_key", "")).strip()
    warnings = validate_key_format(typed) if typed else []
    guards = {"allow_empty": allow_empty, "max_remove_fraction": share / 100}
    create_destination(
        ws,
        name.strip(),
        host=host,
        region="eu" if region == "eu" else "global",
        api_key=typed or None,
        list_name=list_name,
        email_column=email or None,
        schedule=schedule,
        mode=mode,
        guards=guards,
    )
    st.session_state["dest_saved"] = name.strip()
    ui.flash(
        "warning" if warnings else "success",
        f"Saved destination {name.strip()!r}. " + " ".join(warnings),
    )


save_col, test_col = st.columns(2)
if save_col.button("Save destination", type="primary", key="dest_save"):
    ui.guarded(save)()
    if "dest_saved" in st.session_state:
        st.rerun()
    ui.show_flash()
if test_col.button(
    "Test connection",
    key="dest_test",
    disabled=choice == NEW,
    help="Tests the saved destination with its saved key: save changes first.",
):
    try:
        check = test_connection(ws, choice)
        (st.success if check.ok else st.error)(check.message)
    except WorkbenchError as error:
        ui.show_error(error)
