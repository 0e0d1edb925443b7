"""Streamlit helpers of the Segments page: the condition tree, the add-forms, save and friends.

The segment editor's document lives in ``st.session_state[DOC]`` and changes only through
``workbench.segment_builder``; row buttons change it in ``on_click`` callbacks (which run
before the script); the add-forms are a fragment that changes it and reruns the page.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import streamlit as st

from workbench import segment_builder as sb
from workbench import segment_values as sv
from workbench.catalog import Entity
from workbench.errors import ConflictError, Problem, SegmentInvalid, WorkbenchError
from workbench.segments import describe_node
from workbench.ui import flash, guarded
from workbench.ui_conditions import (
    column_condition_input,
    editable_in_place,
    related_condition_input,
    seed_column_input,
)
from workbench.workspace import Workspace

DOC = "seg_doc"
EDITING = "seg_editing"  # the path of the condition open for editing in place, if any


# -- the condition tree ------------------------------------------------------------------


def _edit(change: Callable[..., dict[str, Any]], *args: Any) -> Callable[[], None]:
    def apply() -> None:
        st.session_state[DOC] = change(st.session_state[DOC], *args)
        st.session_state.pop(EDITING, None)  # paths may have moved: close the edit form

    return guarded(apply)


def _row_text(node: Any) -> str:
    kind = sb.group_kind(node) if isinstance(node, Mapping) else None
    if kind is not None:
        return "**all** of these:" if kind == "and" else "**any** of these:"
    try:
        return describe_node(node)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError):
        return f"`{json.dumps(node, default=str)}`"  # malformed: its problem is shown below


def condition_tree(
    ws: Workspace, entity: Entity, doc: dict[str, Any], problems: list[Problem]
) -> None:
    """Every condition with its problems inline, and buttons to edit, move, remove, switch
    and/or; a column condition opens for editing in place."""
    root = "and" if "and" in doc["filter"] else "or"
    st.caption(f"Members match **{'all' if root == 'and' else 'any'}** of the conditions below.")
    other = "or" if root == "and" else "and"
    label = "any (OR)" if other == "or" else "all (AND)"
    st.button(
        f"Switch top level to {label}",
        key="flip_root",
        on_click=_edit(sb.set_combinator, (), other),
    )
    rows = sb.flatten(doc)
    if not rows:
        st.info("No conditions yet: the segment holds everyone. Add a condition below.")
    for path, node in rows:
        _condition_row(ws, entity, doc, path, node, problems)
        if st.session_state.get(EDITING) == path:
            _edit_in_place(ws, entity, path)


def _condition_row(
    ws: Workspace,
    entity: Entity,
    doc: dict[str, Any],
    path: sb.Path,
    node: dict[str, Any],
    problems: list[Problem],
) -> None:
    name = "-".join(map(str, path))
    text, move, edit, up, down, drop = st.columns([9, 3, 1, 1, 1, 1], vertical_alignment="center")
    indent = "&nbsp;" * 6 * (len(path) - 1)
    text.markdown(f"{indent}`{sb.format_path(path)}` {_row_text(node)}")
    kind = sb.group_kind(node) if isinstance(node, Mapping) else None
    if kind is not None:
        other = "or" if kind == "and" else "and"
        move.button(
            f"Make {other.upper()}", key=f"flip_{name}", icon=":material/swap_horiz:",
            help=f"Members match {'any' if other == 'or' else 'all'} of this group's conditions",
            on_click=_edit(sb.set_combinator, path, other),
        )  # fmt: skip
    elif editable_in_place(node):
        edit.button("", key=f"edit_{name}", icon=":material/edit:", help="Edit",
                    on_click=guarded(lambda: _open_editor(ws, entity, path, node)))  # fmt: skip
    last = sb.group_size(doc, path[:-1]) - 1
    up.button("", key=f"up_{name}", icon=":material/arrow_upward:", help="Move up",
              on_click=_edit(sb.move_node, path, -1), disabled=path[-1] == 0)  # fmt: skip
    down.button("", key=f"down_{name}", icon=":material/arrow_downward:", help="Move down",
                on_click=_edit(sb.move_node, path, 1), disabled=path[-1] == last)  # fmt: skip
    drop.button("", key=f"remove_{name}", icon=":material/close:", help="Remove",
                on_click=_edit(sb.remove_node, path))  # fmt: skip
    for message in sb.problems_at(problems, doc, path, deep=kind is None):
        st.error(message)


def _open_editor(ws: Workspace, entity: Entity, path: sb.Path, node: dict[str, Any]) -> None:
    seed_column_input(ws, entity, "edit", node)
    st.session_state[EDITING] = path


def _edit_in_place(ws: Workspace, entity: Entity, path: sb.Path) -> None:
    """The column form under the condition at ``path``, filled with it: Apply replaces it."""
    with st.container(border=True):
        st.caption(f"Editing condition {sb.format_path(path)}")
        node = column_condition_input(ws, entity, "edit")
        apply, cancel = st.columns(2)
        apply.button("Apply", key="edit_apply", type="primary", disabled=node is None,
                     on_click=_edit(sb.replace_node, path, node or {}))  # fmt: skip
        cancel.button("Cancel", key="edit_cancel",
                      on_click=lambda: st.session_state.pop(EDITING, None))  # fmt: skip


# -- the segment being edited: load, save, rename, duplicate, delete -----------------------

NEW = "+ New segment"
CONFIRM_DELETE = "confirm_delete"


def _put(doc: dict[str, Any], loaded: str, *, choose: bool = True) -> None:
    """Make ``doc`` the edited document and sync the name and entity widgets (and, from a
    callback, the segment menu) to it."""
    st.session_state[DOC] = doc
    st.session_state["seg_loaded"] = loaded
    if choose:
        st.session_state["seg_choice"] = loaded
    st.session_state["seg_name"] = doc.get("name", "")
    st.session_state["seg_entity"] = doc["entity"]
    st.session_state.pop(CONFIRM_DELETE, None)
    st.session_state.pop(EDITING, None)


def pick_segment(ws: Workspace, saved: list[str], default_entity: str) -> dict[str, Any]:
    """The saved-segment menu; loads the chosen one (or a new one) into the editor."""
    choice = st.selectbox("Segment", [NEW, *saved], key="seg_choice")
    if DOC not in st.session_state or st.session_state.get("seg_loaded") != choice:
        if choice == NEW:
            _put(sb.new_document(default_entity), NEW, choose=False)
        else:
            _put(sb.editable(ws.store.get_segment(choice)), choice, choose=False)
    doc: dict[str, Any] = st.session_state[DOC]
    return doc


def current(ws: Workspace) -> tuple[dict[str, Any], list[Problem]]:
    """The edited document as the engine reads it, and every problem it has."""
    doc = {**st.session_state[DOC], "name": st.session_state.get("seg_name", "")}
    live = sb.engine_document(doc)
    return live, sb.live_problems(ws, live)


def save_segment(ws: Workspace) -> None:
    """Validate and save the edited segment under the name typed (a new version if changed)."""
    doc, problems = current(ws)
    if not str(st.session_state.get("seg_name", "")).strip():
        raise WorkbenchError("give the segment a name before saving it")
    if problems:
        raise SegmentInvalid(problems)
    version = ws.store.save_segment(doc)
    _put(sb.editable(doc), doc["name"])
    flash("success", f"Saved segment {doc['name']!r} (version {version}).")


def rename_segment(ws: Workspace) -> None:
    """Rename the loaded saved segment (its dependents and activations follow)."""
    old, new = st.session_state["seg_loaded"], str(st.session_state.get("seg_rename_to", ""))
    ws.store.rename_segment(old, new.strip())
    _put(sb.editable(ws.store.get_segment(new.strip())), new.strip())
    flash("success", f"Renamed {old!r} to {new.strip()!r}.")


def duplicate_segment(ws: Workspace) -> None:
    """Save a copy of the loaded saved segment under a free name and open it."""
    original = st.session_state["seg_loaded"]
    name = sb.free_name(f"{original} copy", [s.name for s in ws.store.list_segments()])
    ws.store.save_segment({**ws.store.get_segment(original), "name": name})
    _put(sb.editable(ws.store.get_segment(name)), name)
    flash("success", f"Saved a copy of {original!r} as {name!r}.")


def delete_segment(ws: Workspace, force: bool = False) -> None:
    """Delete the loaded segment; when others use it, ask first (unless ``force``)."""
    name = st.session_state["seg_loaded"]
    try:
        ws.store.delete_segment(name, force=force)
    except ConflictError as error:
        st.session_state[CONFIRM_DELETE] = str(error)
        return
    st.session_state["seg_choice"] = NEW
    st.session_state.pop(CONFIRM_DELETE, None)
    flash("success", f"Deleted segment {name!r}.")


def load_pasted() -> None:
    """Open the pasted (or uploaded) JSON/YAML document in the editor."""
    upload = st.session_state.get("paste_file")
    text = upload.getvalue().decode("utf-8") if upload else st.session_state.get("paste_text", "")
    _put(sb.load_document(text), NEW)
    flash("success", "Loaded the document: check it below, then save it.")


# -- adding conditions, and the segment's actions -----------------------------------------


def _add(node: dict[str, Any] | None) -> None:
    """Append ``node`` to the group chosen in "Add into", then rerun the whole page (the
    forms are a fragment: only this rerun shows the new condition and count)."""
    if node is not None:
        into = st.session_state.get("add_into") or ()
        st.session_state[DOC] = sb.add_node(st.session_state[DOC], into, node)
        st.rerun(scope="app")


@st.fragment
def add_forms(ws: Workspace, entity: Entity, others: list[str]) -> None:
    """Add a column condition, a related-entity condition, a saved segment or a group.

    A fragment: choosing a column, an operator or a value reruns only these forms; adding
    reruns the page once."""
    doc = st.session_state[DOC]
    label = {p: sb.group_label(doc, p) for p in sb.groups(doc)}
    st.selectbox("Add into", list(label), key="add_into", format_func=label.__getitem__)
    column, related, segment, group = st.tabs(["Column", "Related entity", "Segment", "Group"])
    with column:
        node = column_condition_input(ws, entity, "add")
        if st.button("Add condition", key="add_condition"):
            _add(node)
    with related:
        choices = [e.name for e in ws.catalog().related_to(entity.name)]
        name = st.selectbox("Related entity", choices, key="rel_entity")
        if name is None:
            st.caption(f"No entity is related to {entity.name}.")
        else:
            node = related_condition_input(ws, ws.catalog().entity(name))
            if st.button("Add related condition", key="add_related"):
                _add(node)
    with segment:
        ref = st.selectbox("Saved segment", others, key="ref_segment")
        mode = st.radio("Members must be", ["in it", "not in it"], key="ref_mode", horizontal=True)
        if st.button("Add segment condition", key="add_segment", disabled=ref is None):
            _add(sv.segment_condition(str(ref), exclude=mode == "not in it"))
    with group:
        kind = st.radio("Group matches", ["or", "and"], key="group_kind", horizontal=True,
                        format_func=lambda k: "any (OR)" if k == "or" else "all (AND)")  # fmt: skip
        if st.button("Add group", key="add_group"):
            _add({kind: []})


def segment_actions(ws: Workspace) -> None:
    """Save; and for a saved segment rename, duplicate and delete (asking first when used)."""
    loaded = st.session_state.get("seg_loaded", NEW)
    st.button("Save", key="seg_save", type="primary", on_click=guarded(lambda: save_segment(ws)))
    if loaded == NEW:
        return
    rename, copy, delete = st.columns(3)
    rename.text_input("Rename to", key="seg_rename_to")
    rename.button("Rename", key="seg_rename", on_click=guarded(lambda: rename_segment(ws)))
    copy.button("Duplicate", key="seg_duplicate", on_click=guarded(lambda: duplicate_segment(ws)))
    delete.button("Delete", key="seg_delete", on_click=guarded(lambda: delete_segment(ws)))
    if CONFIRM_DELETE in st.session_state:
        st.warning(f"{st.session_state[CONFIRM_DELETE]}. Delete it anyway?")
        yes, no = st.columns(2)
        yes.button("Delete anyway", key="seg_delete_force",
                   on_click=guarded(lambda: delete_segment(ws, force=True)))  # fmt: skip
        no.button("Keep it", key="seg_delete_cancel",
                  on_click=lambda: st.session_state.pop(CONFIRM_DELETE, None))  # fmt: skip
