"""Definitions as code: segments, destinations and activations applied from YAML or JSON files.

A file holds one document, a list of documents, or (YAML) several ``---`` documents. Every
document names its ``kind`` (required; it is not guessed from the keys, so a typo cannot turn
one kind into another) and its ``name``::

    kind: segment                 # the segment document: name, entity, filter, description
    name: VIP
    entity: customers
    filter: {column: lifetime_value, op: gte, value: 1000}
    ---
    kind: destination             # never an API key: SENDGRID_API_KEY, secrets.toml or key file
    name: sendgrid
    region: global                # host defaults to the region's (or WORKBENCH_SENDGRID_HOST)
    defaults: {schedule: daily 06:30, mode: managed, list_name: "{segment}"}
    ---
    kind: activation              # a segment kept equal to a list of a destination
    name: VIP customers
    segment: VIP
    destination: sendgrid
    schedule: every 6h            # overrides: list_name, email_column, schedule, mode, guards

:func:`apply_documents` validates everything first and lists EVERY problem (segment problems
with their paths, unknown references, API keys in documents); only a fully valid set is
written, in one store transaction. Objects whose content did not change are reported as
``unchanged`` and untouched (no new segment version). An activation keeps its SendGrid list
(``list_id``) across updates unless its destination changes. :mod:`workbench.definitions_io`
reads files and exports the store back into files.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import NotFoundError, Problem, WorkbenchError
from workbench.workspace import Workspace

KINDS = ("segment", "destination", "activation")
DESTINATION_KEYS = frozenset({"kind", "name", "host", "region", "defaults"})
ACTIVATION_KEYS = frozenset({"kind", "name", "segment", "destination", "adopt_existing_list"})
KEY_HINT = (
    "definition files never hold API keys: set SENDGRID_API_KEY, put it in "
    ".streamlit/secrets.toml, or write it to the key file "
    "WORKBENCH_HOME/secrets/<destination>.key (mode 0600)"
)


class DefinitionsInvalid(WorkbenchError):
    """A set of definitions has problems; ``problems`` lists every one. Nothing was applied."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"nothing applied: the definitions have {len(self.problems)} problem(s):\n{lines}"
        )


@dataclass(frozen=True)
class Document:
    """One definition document and where it came from (``file.yaml[2]``)."""

    source: str
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        """``segment``, ``destination`` or ``activation``."""
        return str(self.body.get("kind"))

    @property
    def name(self) -> str:
        """The object's name."""
        return str(self.body.get("name"))

    def where(self, path: str = "") -> str:
        """A problem path: ``file.yaml[2] (segment 'VIP')`` plus ``path`` inside it."""
        label = f"{self.source} ({self.kind} {self.name!r})"
        return f"{label}: {path}" if path else label


@dataclass(frozen=True)
class Change:
    """What applying did to one object: ``created``, ``updated`` or ``unchanged``."""

    kind: str
    name: str
    action: str


@dataclass
class ApplyResult:
    """Every object of the applied documents and what happened to it, in order."""

    changes: list[Change] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when anything was created or updated."""
        return any(c.action != "unchanged" for c in self.changes)

    def describe(self) -> str:
        """One line per object: ``created segment 'VIP'``."""
        return "\n".join(f"{c.action} {c.kind} {c.name!r}" for c in self.changes)


def as_documents(items: Sequence[Any], source: str = "document") -> list[Document]:
    """Wrap plain dicts (e.g. from Python) as documents labelled ``source[i]``."""
    return [Document(f"{source}[{i}]", item) for i, item in enumerate(items)]


def _segment_body(doc: Document) -> dict[str, Any]:
    return {k: v for k, v in doc.body.items() if k != "kind"}


def normal_segment(body: dict[str, Any]) -> dict[str, Any]:
    """The segment document in its saved form (version, name, description, entity, filter)."""
    from workbench.segments import parse_segment

    return parse_segment(body).to_dict()


def normal_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """Activation overrides with the schedule in its short text form, None values dropped."""
    from workbench.destinations.sendgrid.destination import as_schedule

    clean = {k: v for k, v in overrides.items() if v is not None}
    if "schedule" in clean:
        clean["schedule"] = str(as_schedule(clean["schedule"]))
    return clean


def destination_config(ws: Workspace, body: dict[str, Any]) -> dict[str, Any]:
    """The stored config of a destination document (ConfigError if a setting is bad)."""
    from workbench.destinations.sendgrid.destination import (
        DefaultSettings,
        Destination,
        default_host,
    )

    region = str(body.get("region") or "global")
    host = str(body.get("host") or default_host(ws.settings, region))
    defaults = DefaultSettings.from_dict(body.get("defaults"))
    return Destination(str(body["name"]), host, region, defaults).to_dict()  # type: ignore[arg-type]


def activation_overrides(body: dict[str, Any]) -> dict[str, Any]:
    """The overrides an activation document sets (every key that is not structural)."""
    return normal_overrides({k: v for k, v in body.items() if k not in ACTIVATION_KEYS})


def validate_documents(ws: Workspace, docs: Sequence[Document]) -> list[Problem]:
    """Every problem of the set of documents (empty when it may be applied)."""
    from workbench.definitions_checks import check_all

    return check_all(ws, docs)


def apply_documents(ws: Workspace, docs: Sequence[Document | dict[str, Any]]) -> ApplyResult:
    """Create or update every object of ``docs``, all or nothing (DefinitionsInvalid lists all)."""
    documents = [d if isinstance(d, Document) else as_documents([d])[0] for d in docs]
    problems = validate_documents(ws, documents)
    if problems:
        raise DefinitionsInvalid(problems)
    order = {kind: i for i, kind in enumerate(KINDS)}
    result = ApplyResult()
    with ws.store.transaction():
        for doc in sorted(documents, key=lambda d: order[d.kind]):
            result.changes.append(Change(doc.kind, doc.name, _apply_one(ws, doc)))
    return result


def _apply_one(ws: Workspace, doc: Document) -> str:
    if doc.kind == "segment":
        return _apply_segment(ws, normal_segment(_segment_body(doc)))
    if doc.kind == "destination":
        return _apply_destination(ws, doc.name, destination_config(ws, doc.body))
    return _apply_activation(ws, doc)


def _stored(get: Callable[[str], dict[str, Any]], name: str) -> dict[str, Any] | None:
    try:
        return get(name)
    except NotFoundError:
        return None


def _apply_segment(ws: Workspace, segment: dict[str, Any]) -> str:
    current = _stored(ws.store.get_segment, segment["name"])
    if current is not None and normal_segment(current) == segment:
        return "unchanged"
    ws.store.save_segment(segment)
    return "created" if current is None else "updated"


def _apply_destination(ws: Workspace, name: str, config: dict[str, Any]) -> str:
    current = _stored(ws.store.get_destination, name)
    if current is not None and _same(current, config):
        return "unchanged"
    ws.store.save_destination(name, config)
    return "created" if current is None else "updated"


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _apply_activation(ws: Workspace, doc: Document) -> str:
    current = _stored(ws.store.get_activation, doc.name)
    wanted = {
        "segment": doc.body["segment"],
        "destination": doc.body["destination"],
        "overrides": activation_overrides(doc.body),
        "adopt_existing_list": bool(doc.body.get("adopt_existing_list", False)),
    }
    if current is None:
        ws.store.save_activation(doc.name, {**wanted, "list_id": None, "created_by_us": False})
        return "created"
    now = {**current, "overrides": normal_overrides(current.get("overrides") or {})}
    if all(_same({k: now.get(k)}, {k: v}) for k, v in wanted.items()):
        return "unchanged"
    same_account = current.get("destination") == wanted["destination"]
    kept = {k: current.get(k) if same_account else None for k in ("list_id", "created_by_us")}
    kept["created_by_us"] = bool(kept["created_by_us"])
    ws.store.save_activation(doc.name, {**wanted, **kept})
    return "updated"
