"""Saved segments in the state store: versioned documents and the segments that depend on them.

Every save whose content changed adds a row to ``segment_versions`` and bumps the segment's
current ``version``; a save of identical content keeps the version. A segment *depends on*
another when its current document holds an ``{"in_segment": name}`` node anywhere inside it.

The helper functions work inside an open transaction (``con``); ``SegmentsMixin`` adds the
reading and saving methods to ``workbench.store.Store`` (renaming and deleting live on ``Store``
itself, since they also touch activations).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from workbench.errors import NotFoundError, Problem, SegmentInvalid
from workbench.store_base import StoreBase, not_found, utc_now

_CURRENT_SEGMENTS = (
    "SELECT s.name, s.version, s.updated_at, v.description, v.doc FROM segments s "
    "JOIN segment_versions v ON v.name = s.name AND v.version = s.version"
)


@dataclass(frozen=True)
class SegmentInfo:
    """One saved segment version: its name, number, when it was saved and its description."""

    name: str
    version: int
    updated_at: str
    description: str


def segment_document(doc: Any) -> dict[str, Any]:
    """The document as plain JSON; SegmentInvalid when it has no name or is not JSON-able."""
    if not isinstance(doc, dict):
        raise SegmentInvalid([Problem("", "a segment document must be a JSON object")])
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SegmentInvalid([Problem("name", "a saved segment needs a non-empty name")])
    try:
        clean: dict[str, Any] = json.loads(json.dumps(doc))
    except (TypeError, ValueError) as exc:
        raise SegmentInvalid([Problem("", f"the document is not plain JSON: {exc}")]) from None
    return clean


def save_segment_in(con: sqlite3.Connection, doc: dict[str, Any]) -> int:
    """Save ``doc`` inside the open transaction ``con``; returns its (maybe unchanged) version."""
    name, now = doc["name"], utc_now()
    current = con.execute(f"{_CURRENT_SEGMENTS} WHERE s.name = ?", (name,)).fetchall()
    if current and json.loads(current[0]["doc"]) == doc:
        return int(current[0]["version"])
    version = int(current[0]["version"]) + 1 if current else 1
    con.execute(
        "INSERT INTO segments (name, version, created_at, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET version = excluded.version, "
        "updated_at = excluded.updated_at",
        (name, version, now, now),
    )
    con.execute(
        "INSERT INTO segment_versions (name, version, doc, description, saved_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (name, version, json.dumps(doc), str(doc.get("description") or ""), now),
    )
    return version


def rename_versions_in(con: sqlite3.Connection, name: str) -> None:
    """Set the "name" inside every stored version of segment ``name`` (after a rename)."""
    rows = con.execute("SELECT version, doc FROM segment_versions WHERE name = ?", (name,))
    for row in rows.fetchall():
        doc = {**json.loads(row["doc"]), "name": name}
        con.execute(
            "UPDATE segment_versions SET doc = ? WHERE name = ? AND version = ?",
            (json.dumps(doc), name, row["version"]),
        )


def references_segment(node: Any, name: str) -> bool:
    """True when an ``{"in_segment": name}`` node occurs anywhere inside ``node``."""
    if isinstance(node, dict):
        return node.get("in_segment") == name or any(
            references_segment(v, name) for v in node.values()
        )
    if isinstance(node, list):
        return any(references_segment(v, name) for v in node)
    return False


def replace_segment_reference(node: Any, old: str, new: str) -> Any:
    """A copy of ``node`` with every ``{"in_segment": old}`` pointing at ``new`` instead."""
    if isinstance(node, dict):
        copy = {k: replace_segment_reference(v, old, new) for k, v in node.items()}
        if copy.get("in_segment") == old:
            copy["in_segment"] = new
        return copy
    if isinstance(node, list):
        return [replace_segment_reference(v, old, new) for v in node]
    return node


class SegmentsMixin(StoreBase):
    """Saving, reading and listing versioned segments, and finding a segment's dependents."""

    def save_segment(self, doc: dict[str, Any]) -> int:
        """Save a segment document (needs a "name"); a new version only if its content changed."""
        clean = segment_document(doc)
        with self.transaction() as con:
            return save_segment_in(con, clean)

    def get_segment(self, name: str, version: int | None = None) -> dict[str, Any]:
        """A saved segment's document: the current version, or the one asked for."""
        with self._reading() as con:
            if version is None:
                rows = con.execute(f"{_CURRENT_SEGMENTS} WHERE s.name = ?", (name,)).fetchall()
            else:
                rows = con.execute(
                    "SELECT doc FROM segment_versions WHERE name = ? AND version = ?",
                    (name, version),
                ).fetchall()
            if not rows:
                raise self._segment_not_found(con, name, version)
        doc: dict[str, Any] = json.loads(rows[0]["doc"])
        return doc

    def _segment_not_found(
        self, con: sqlite3.Connection, name: str, version: int | None
    ) -> NotFoundError:
        names = self._names(con, "segments")
        if name not in names:
            return not_found("segment", name, names)
        latest = con.execute("SELECT version FROM segments WHERE name = ?", (name,)).fetchall()
        return NotFoundError(
            f"segment {name!r} has no version {version} (versions 1 to {latest[0][0]})"
        )

    def list_segments(self) -> list[SegmentInfo]:
        """Every saved segment's current version, by name."""
        with self._reading() as con:
            rows = con.execute(f"{_CURRENT_SEGMENTS} ORDER BY s.name").fetchall()
        return [
            SegmentInfo(r["name"], r["version"], r["updated_at"], r["description"]) for r in rows
        ]

    def segment_versions(self, name: str) -> list[SegmentInfo]:
        """Every version of one segment, oldest first (``updated_at`` is when it was saved)."""
        with self._reading() as con:
            rows = con.execute(
                "SELECT name, version, saved_at, description FROM segment_versions "
                "WHERE name = ? ORDER BY version",
                (name,),
            ).fetchall()
            if not rows:
                raise not_found("segment", name, self._names(con, "segments"))
        return [SegmentInfo(r["name"], r["version"], r["saved_at"], r["description"]) for r in rows]

    def segment_dependents(self, name: str) -> list[str]:
        """Saved segments whose current document has an ``{"in_segment": name}`` node."""
        with self._reading() as con:
            rows = con.execute(_CURRENT_SEGMENTS).fetchall()
        return sorted(
            r["name"]
            for r in rows
            if r["name"] != name and references_segment(json.loads(r["doc"]), name)
        )
