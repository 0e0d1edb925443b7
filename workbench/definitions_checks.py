"""Validation of a set of definition documents: every problem at once, nothing written.

Checked: each document's shape (``kind``, ``name``, known keys), duplicates, API keys or other
secrets anywhere (refused, pointing at SENDGRID_API_KEY / secrets.toml / the key file), every
segment against the catalog (problems keep their paths inside the document; ``in_segment``
references may name segments of the same files), destination settings, and activations'
references to segments and destinations, which must be in the files or already saved.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from workbench.definitions import (
    ACTIVATION_KEYS,
    DESTINATION_KEYS,
    KEY_HINT,
    KINDS,
    Document,
    activation_overrides,
    destination_config,
)
from workbench.errors import ConfigError, NotFoundError, Problem
from workbench.store_base import _secret_paths  # the store's own secret detector
from workbench.workspace import Workspace

OVERRIDE_KEYS = ("list_name", "email_column", "schedule", "mode", "guards")


def check_all(ws: Workspace, docs: Sequence[Document]) -> list[Problem]:
    """Every problem of ``docs`` (shape first; documents with a bad shape are not checked on)."""
    problems: list[Problem] = []
    sound = []
    for doc in docs:
        found = shape_problems(doc)
        problems += found
        if not found:
            problems += secret_problems(doc)
            sound.append(doc)
    problems += duplicate_problems(sound)
    by_kind = {kind: {d.name: d for d in sound if d.kind == kind} for kind in KINDS}
    for doc in sound:
        problems += CHECKS[doc.kind](ws, doc, by_kind)
    return problems


def problems_of(doc: Document, check: Callable[[], None]) -> list[Problem]:
    """The error ``check()`` raises about ``doc``, as a problem (none when it passes)."""
    try:
        check()
    except (ConfigError, NotFoundError, ValueError, TypeError) as exc:
        return [Problem(doc.where(), str(exc))]
    return []


def shape_problems(doc: Document) -> list[Problem]:
    """A document must be an object with a known ``kind`` and a ``name``."""
    body: Any = doc.body
    if not isinstance(body, dict):
        return [Problem(doc.source, "a definition must be an object with 'kind' and 'name'")]
    problems = []
    if body.get("kind") not in KINDS:
        problems.append(
            Problem(
                f"{doc.source}: kind",
                f"required, one of {', '.join(KINDS)} (found {body.get('kind')!r})",
            )
        )
    if not isinstance(body.get("name"), str) or not body["name"].strip():
        problems.append(Problem(f"{doc.source}: name", "required: a non-empty text"))
    return problems


def secret_problems(doc: Document) -> list[Problem]:
    """API keys (or anything named like a secret) are refused, wherever they are."""
    secrets = list(_secret_paths(doc.body))
    return [Problem(doc.source, f"refusing {', '.join(secrets)}: {KEY_HINT}")] if secrets else []


def _secret_keys(doc: Document) -> set[str]:
    """Top-level keys already refused as secrets (not reported again as unknown)."""
    return {path.split(".")[0].split("[")[0] for path in _secret_paths(doc.body)}


def duplicate_problems(docs: Sequence[Document]) -> list[Problem]:
    """Two documents defining the same object."""
    counts = Counter((d.kind, d.name) for d in docs)
    return [
        Problem(d.where(), f"defined {counts[(d.kind, d.name)]} times in these files")
        for d in docs
        if counts[(d.kind, d.name)] > 1
    ]


Named = dict[str, dict[str, Document]]


def check_segment(ws: Workspace, doc: Document, by_kind: Named) -> list[Problem]:
    """The segment's top level and filter, with paths inside the document."""
    from workbench.segments.model import top_level_problems
    from workbench.segments.validate import validate_segment

    body = {k: v for k, v in doc.body.items() if k != "kind"}
    found = top_level_problems(body) or validate_segment(body, ws.catalog(), _lookup(ws, by_kind))
    return [Problem(doc.where(p.path or "(document)"), p.message) for p in found]


def _lookup(ws: Workspace, by_kind: Named) -> Callable[[str], Any]:
    def lookup(name: str) -> Any:
        if name in by_kind["segment"]:
            return {k: v for k, v in by_kind["segment"][name].body.items() if k != "kind"}
        return ws.store.get_segment(name)

    return lookup


def _unknown_keys(doc: Document, allowed: set[str] | frozenset[str]) -> list[Problem]:
    return [
        Problem(doc.where(str(key)), f"unknown key (allowed: {', '.join(sorted(allowed))})")
        for key in doc.body
        if key not in allowed and key not in _secret_keys(doc)
    ]


def check_destination(ws: Workspace, doc: Document, by_kind: Named) -> list[Problem]:
    """Known keys and usable default settings."""
    problems = _unknown_keys(doc, DESTINATION_KEYS)
    defaults = doc.body.get("defaults")
    if defaults is not None and not isinstance(defaults, dict):
        return [*problems, Problem(doc.where("defaults"), "expected an object of settings")]
    problems += [
        Problem(
            doc.where(f"defaults.{key}"), f"unknown setting (known: {', '.join(OVERRIDE_KEYS)})"
        )
        for key in defaults or {}
        if key not in OVERRIDE_KEYS
    ]
    return problems + problems_of(doc, lambda: _ignore(destination_config(ws, doc.body)))


def _ignore(_value: object) -> None:
    return None


def check_activation(ws: Workspace, doc: Document, by_kind: Named) -> list[Problem]:
    """References to a segment and a destination that exist, and usable overrides."""
    problems = _unknown_keys(doc, ACTIVATION_KEYS | set(OVERRIDE_KEYS))
    segment, destination = doc.body.get("segment"), doc.body.get("destination")
    if not _exists(segment, by_kind["segment"], ws.store.get_segment):
        problems.append(
            Problem(
                doc.where("segment"),
                f"no segment {segment!r} in these files or saved: define it or fix the name",
            )
        )
    if not _exists(destination, by_kind["destination"], ws.store.get_destination):
        problems.append(
            Problem(
                doc.where("destination"),
                f"no destination {destination!r} in "
                "these files or saved: define it or fix the name",
            )
        )
        return problems
    overrides = {k: v for k, v in doc.body.items() if k in OVERRIDE_KEYS}

    def settle() -> None:
        defaults = _destination_defaults(ws, str(destination), by_kind)
        defaults.overridden(activation_overrides(overrides))

    return problems + problems_of(doc, settle)


def _exists(name: Any, in_files: dict[str, Document], get: Callable[[str], Any]) -> bool:
    if not isinstance(name, str) or not name:
        return False
    if name in in_files:
        return True
    try:
        get(name)
    except NotFoundError:
        return False
    return True


def _destination_defaults(ws: Workspace, name: str, by_kind: Named) -> Any:
    from workbench.destinations.sendgrid.destination import DefaultSettings

    if name in by_kind["destination"]:
        config = destination_config(ws, by_kind["destination"][name].body)
    else:
        config = ws.store.get_destination(name)
    return DefaultSettings.from_dict(config.get("defaults"))


CHECKS: dict[str, Callable[[Workspace, Document, Named], list[Problem]]] = {
    "segment": check_segment,
    "destination": check_destination,
    "activation": check_activation,
}
