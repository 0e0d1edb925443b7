"""The segment editor's state as plain data: no Streamlit here, so it is unit-tested directly.

The page keeps one segment document in ``st.session_state`` and changes it only through these
functions. While editing, the filter is always a group (``{"and": [...]}`` or ``{"or": [...]}``)
so conditions can be added to it; a *path* is a tuple of child indexes from that root group
(``()`` is the root, ``(2, 0)`` the first child of the group at position 2). Every change returns
a new document and never mutates the old one, so a rerun can never see half an edit.

The conditions themselves, and the widget values they hold, are built by
``workbench.segment_values``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from workbench.catalog import EntitySpec
from workbench.errors import Problem, SegmentInvalid, WorkbenchError
from workbench.segments.engine import store_lookup
from workbench.segments.model import FORMAT_VERSION, load_text, top_level_problems
from workbench.segments.validate import validate_segment
from workbench.workspace import Workspace

Path = tuple[int, ...]
GROUP_KINDS = ("and", "or")


class BuilderError(WorkbenchError):
    """An edit that does not fit the document (a path that points nowhere, a bad move)."""


def new_document(entity: str, name: str = "") -> dict[str, Any]:
    """An empty segment of ``entity``: everyone, until conditions are added."""
    return {"version": FORMAT_VERSION, "name": name, "entity": entity, "filter": {"and": []}}


def editable(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a saved or pasted document whose filter is a group (wrapping a lone condition)."""
    result = copy.deepcopy(dict(doc))
    root = result.get("filter")
    if root is None:
        result["filter"] = {"and": []}
    elif not (isinstance(root, Mapping) and len(root) == 1 and group_kind(root) is not None):
        result["filter"] = {"and": [root]}
    return result


def engine_document(doc: Mapping[str, Any], unnamed: str = "unsaved segment") -> dict[str, Any]:
    """The document the engine gets: an empty root group means "everyone" (no filter), and a
    blank name becomes ``unnamed`` so an unsaved segment can still be counted."""
    result = copy.deepcopy(dict(doc))
    if not str(result.get("name") or "").strip():
        result["name"] = unnamed
    root = result.get("filter")
    if isinstance(root, Mapping) and group_kind(root) and not root[group_kind(root)]:
        result.pop("filter")
    return result


def set_entity(doc: Mapping[str, Any], entity: str) -> dict[str, Any]:
    """The document about ``entity``; changing the entity drops conditions of the old one."""
    if doc.get("entity") == entity:
        return copy.deepcopy(dict(doc))
    return new_document(entity, str(doc.get("name", "")))


def group_kind(node: Mapping[str, Any]) -> str | None:
    """``and`` or ``or`` when ``node`` is a group, None when it is a condition."""
    found = [k for k in GROUP_KINDS if k in node]
    return found[0] if len(found) == 1 and isinstance(node[found[0]], list) else None


def _children(doc: dict[str, Any], group_path: Path) -> list[Any]:
    group = node_at(doc, group_path)
    kind = group_kind(group)
    if kind is None:
        raise BuilderError(f"position {format_path(group_path)} is a condition, not a group")
    children: list[Any] = group[kind]
    return children


def _siblings(doc: dict[str, Any], path: Path) -> list[Any]:
    """The list holding the node at ``path`` (even a malformed one, so it can be removed)."""
    siblings = _children(doc, path[:-1])
    if not 0 <= path[-1] < len(siblings):
        raise BuilderError(f"no condition at {format_path(path)}")
    return siblings


def group_size(doc: Mapping[str, Any], group_path: Path) -> int:
    """How many children the group at ``group_path`` has."""
    return len(_children(dict(doc), group_path))


def node_at(doc: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """The node at ``path`` (``()`` is the root group); BuilderError when there is none."""
    node: Any = doc.get("filter")
    for depth, index in enumerate(path):
        kind = group_kind(node) if isinstance(node, Mapping) else None
        if kind is None or not 0 <= index < len(node[kind]):
            raise BuilderError(f"no condition at {format_path(path[: depth + 1])}")
        node = node[kind][index]
    if not isinstance(node, dict):
        raise BuilderError(f"no condition at {format_path(path)}")
    return node


def add_node(doc: Mapping[str, Any], group_path: Path, node: Mapping[str, Any]) -> dict[str, Any]:
    """The document with ``node`` appended to the group at ``group_path``."""
    result = copy.deepcopy(dict(doc))
    _children(result, group_path).append(copy.deepcopy(dict(node)))
    return result


def add_group(doc: Mapping[str, Any], group_path: Path, kind: str = "or") -> dict[str, Any]:
    """The document with a new empty ``and``/``or`` group inside the group at ``group_path``."""
    if kind not in GROUP_KINDS:
        raise BuilderError(f"a group is 'and' or 'or', not {kind!r}")
    return add_node(doc, group_path, {kind: []})


def remove_node(doc: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """The document without the node at ``path`` (the root group itself cannot be removed)."""
    if not path:
        raise BuilderError("the top-level group cannot be removed: remove its conditions")
    result = copy.deepcopy(dict(doc))
    del _siblings(result, path)[path[-1]]
    return result


def replace_node(doc: Mapping[str, Any], path: Path, node: Mapping[str, Any]) -> dict[str, Any]:
    """The document with the condition at ``path`` replaced by ``node`` (edited in place)."""
    if not path:
        raise BuilderError("the top-level group cannot be replaced: edit its conditions")
    node_at(doc, path)  # says where when the path points nowhere
    result = copy.deepcopy(dict(doc))
    _siblings(result, path)[path[-1]] = copy.deepcopy(dict(node))
    return result


def move_node(doc: Mapping[str, Any], path: Path, offset: int) -> dict[str, Any]:
    """The document with the node at ``path`` moved ``offset`` places within its group."""
    if not path:
        raise BuilderError("the top-level group cannot be moved")
    result = copy.deepcopy(dict(doc))
    siblings = _siblings(result, path)
    target = path[-1] + offset
    if not 0 <= target < len(siblings):
        raise BuilderError(f"cannot move {format_path(path)} past the end of its group")
    siblings.insert(target, siblings.pop(path[-1]))
    return result


def set_combinator(doc: Mapping[str, Any], group_path: Path, kind: str) -> dict[str, Any]:
    """The document with the group at ``group_path`` combining by ``kind`` (``and``/``or``)."""
    if kind not in GROUP_KINDS:
        raise BuilderError(f"a group is 'and' or 'or', not {kind!r}")
    result = copy.deepcopy(dict(doc))
    children = _children(result, group_path)
    group = node_at(result, group_path)
    group.clear()
    group[kind] = children
    return result


def groups(doc: Mapping[str, Any]) -> list[Path]:
    """Every group's path, depth first, the root first (the "add into" menu)."""
    found: list[Path] = []

    def walk(node: Any, path: Path) -> None:
        kind = group_kind(node) if isinstance(node, Mapping) else None
        if kind is None:
            return
        found.append(path)
        for i, child in enumerate(node[kind]):
            walk(child, (*path, i))

    walk(doc.get("filter"), ())
    return found


def flatten(doc: Mapping[str, Any]) -> list[tuple[Path, dict[str, Any]]]:
    """Every node below the root with its path, depth first (groups before their children)."""
    found: list[tuple[Path, dict[str, Any]]] = []

    def walk(node: Any, path: Path) -> None:
        kind = group_kind(node) if isinstance(node, Mapping) else None
        for i, child in enumerate(node[kind] if kind else []):
            found.append(((*path, i), child))
            walk(child, (*path, i))

    walk(doc.get("filter"), ())
    return found


def format_path(path: Path) -> str:
    """A path as people count: ``()`` -> ``top level``, ``(2, 0)`` -> ``#3.1``."""
    return "#" + ".".join(str(i + 1) for i in path) if path else "top level"


def group_label(doc: Mapping[str, Any], path: Path) -> str:
    """A group as a menu shows it: ``top level (all of)``, ``#2 (any of)``."""
    kind = group_kind(node_at(doc, path))
    return f"{format_path(path)} ({'all of' if kind == 'and' else 'any of'})"


def document_path(doc: Mapping[str, Any], path: Path) -> str:
    """The validator's path of the node at ``path``, e.g. ``filter.and[2].or[0]``."""
    text, node = "filter", doc.get("filter")
    for index in path:
        kind = group_kind(node) if isinstance(node, Mapping) else None
        if kind is None:
            raise BuilderError(f"no condition at {format_path(path)}")
        text, node = f"{text}.{kind}[{index}]", node[kind][index]  # type: ignore[index]
    return text


def problems_at(
    problems: Sequence[Problem], doc: Mapping[str, Any], path: Path, *, deep: bool = True
) -> list[str]:
    """Messages of the problems at the node at ``path``; ``deep`` includes its children's."""
    prefix = document_path(doc, path)
    found = []
    for problem in problems:
        rest = problem.path[len(prefix) :] if problem.path.startswith(prefix) else None
        if rest is None or (rest and rest[0] not in ".[") or (not deep and "[" in rest):
            continue
        found.append(str(problem))
    return found


def unplaced_problems(problems: Sequence[Problem]) -> list[str]:
    """Messages of problems outside the filter tree (name, entity, version...)."""
    return [str(p) for p in problems if not p.path.startswith("filter.")]


# -- documents from outside, checks and names ---------------------------------------------


def load_document(text: str) -> dict[str, Any]:
    """A pasted or uploaded JSON/YAML segment, ready to edit; SegmentInvalid lists problems.

    Only the top level is checked here (name, entity, version, keys); the filter is checked
    against the catalog by the live validation like any edit.
    """
    if not text.strip():
        raise SegmentInvalid([Problem("", "the document is empty: paste JSON or YAML")])
    doc = load_text(text)
    problems = top_level_problems(doc)
    if problems:
        raise SegmentInvalid(problems)
    return editable(doc)


def live_problems(ws: Workspace, doc: Mapping[str, Any]) -> list[Problem]:
    """Every problem of the document against the catalog and the saved segments."""
    return validate_segment(doc, ws.catalog(), store_lookup(ws))


def free_name(wanted: str, taken: Sequence[str]) -> str:
    """``wanted``, or ``wanted 2``, ``wanted 3``... whichever is not taken yet."""
    name, n = wanted, 1
    while name in taken:
        n += 1
        name = f"{wanted} {n}"
    return name


def entity_spec(
    fields: Mapping[str, str], related_to: str = "", foreign_key: str = ""
) -> EntitySpec:
    """An entity spec from the registration form (blank fields left out); CatalogError if the
    name, source or primary key is missing."""
    data: dict[str, Any] = {k: v.strip() for k, v in fields.items() if v and v.strip()}
    if related_to:
        data["relation"] = {"to": related_to, "foreign_key": foreign_key.strip()}
    return EntitySpec.from_dict(data)
