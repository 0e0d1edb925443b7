"""The segment document: parsing JSON/YAML text, files and dicts into a ``Segment``.

A segment is data, and SQL is derived from it. The document's top level is checked here
(name, entity, version, known keys); the filter tree is checked by ``validate_segment``
against the catalog. ``FORMAT_VERSION`` is the document format this code reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from workbench.errors import NotFoundError, Problem, SegmentInvalid
from workbench.segments.values import parse_moment, to_naive_utc

FORMAT_VERSION = 1
Lookup = Callable[[str], Any]  # a saved segment's document by name, or NotFoundError
TOP_LEVEL_KEYS = ("version", "name", "description", "entity", "filter")


@dataclass(frozen=True)
class Segment:
    """A parsed segment document (its filter is still the document's nested dicts)."""

    name: str
    entity: str
    filter: dict[str, Any] | None = None
    description: str = ""
    version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The document form (what is saved, exported and shown)."""
        doc: dict[str, Any] = {"version": self.version, "name": self.name}
        if self.description:
            doc["description"] = self.description
        doc["entity"] = self.entity
        if self.filter is not None:
            doc["filter"] = self.filter
        return doc


def top_level_problems(doc: Any) -> list[Problem]:
    """Every problem of the document's top level (not of its filter tree)."""
    if not isinstance(doc, Mapping):
        return [Problem("", f"a segment must be an object with keys {', '.join(TOP_LEVEL_KEYS)}")]
    problems = [
        Problem(str(key), f"unknown key (allowed: {', '.join(TOP_LEVEL_KEYS)})")
        for key in doc
        if key not in TOP_LEVEL_KEYS
    ]
    for key in ("name", "entity"):
        if not isinstance(doc.get(key), str) or not doc[key].strip():
            problems.append(Problem(key, "required: a non-empty text"))
    if "description" in doc and not isinstance(doc["description"], str):
        problems.append(Problem("description", "expected text"))
    if doc.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        problems.append(
            Problem("version", f"unsupported version {doc['version']!r} (this is {FORMAT_VERSION})")
        )
    if doc.get("filter") is not None and not isinstance(doc["filter"], Mapping):
        problems.append(Problem("filter", "expected a condition object (or leave it out)"))
    return problems


def _from_mapping(doc: Mapping[str, Any]) -> Segment:
    problems = top_level_problems(doc)
    if problems:
        raise SegmentInvalid(problems)
    return Segment(
        name=doc["name"],
        entity=doc["entity"],
        filter=dict(doc["filter"]) if doc.get("filter") is not None else None,
        description=doc.get("description", ""),
        version=doc.get("version", FORMAT_VERSION),
    )


def load_text(text: str) -> Any:
    """The object in JSON or YAML text; SegmentInvalid when it is neither."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise SegmentInvalid([Problem("", f"neither valid JSON nor YAML{at}")]) from None


def parse_segment(source: str | Mapping[str, Any] | Segment) -> Segment:
    """A ``Segment`` from JSON or YAML text, a dict or a Segment; SegmentInvalid lists problems.

    Only the top level is checked here; use ``validate_segment`` for the filter.
    """
    if isinstance(source, Segment):
        return source
    if isinstance(source, str):
        source = load_text(source)
    return _from_mapping(source)  # type: ignore[arg-type]


def load_segment_file(path: str | Path) -> Segment:
    """Read and parse a segment file (``.json``, ``.yaml`` or ``.yml``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SegmentInvalid([Problem("", f"cannot read {str(path)!r}: {exc.strerror}")]) from None
    return parse_segment(text)


def document_of(saved: Any) -> dict[str, Any]:
    """The document of a saved segment, whatever the store hands back (dict, Segment, record)."""
    if isinstance(saved, Segment):
        return saved.to_dict()
    if isinstance(saved, Mapping):
        return dict(saved)
    for attribute in ("document", "doc", "definition"):
        value = getattr(saved, attribute, None)
        if isinstance(value, Mapping):
            return dict(value)
        if isinstance(value, str):
            return dict(load_text(value))
    raise TypeError(f"cannot read a segment document from {type(saved).__name__}")


def resolve_as_of(as_of: datetime | date | str | None = None) -> datetime:
    """The as-of moment as naive UTC: now by default; a date alone is 00:00 UTC that day."""
    if as_of is None:
        return datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    if isinstance(as_of, str):
        as_of = parse_moment(as_of)
    if isinstance(as_of, datetime):
        return to_naive_utc(as_of)
    return datetime(as_of.year, as_of.month, as_of.day)


def no_saved_segments(name: str) -> dict[str, Any]:
    """A lookup for when no store is at hand: every name is unknown."""
    raise NotFoundError(f"no saved segment called {name!r}")


def as_lookup(lookup: Lookup | Mapping[str, Any] | None) -> Lookup:
    """A lookup function from a function, a dict of documents by name, or None."""
    if lookup is None:
        return no_saved_segments
    if isinstance(lookup, Mapping):
        documents = lookup

        def from_mapping(name: str) -> Any:
            if name not in documents:
                raise NotFoundError(f"no saved segment called {name!r}")
            return documents[name]

        return from_mapping
    return lookup
