"""Support for the sync tests: the demo customers (2,000, fixed seed, with their case, space,
duplicate, invalid and null emails), a sandbox seeded with about 60% of their valid emails as
contacts, a destination and an activation of a segment "id is one of ...".

Everything goes over real HTTP to the sandbox and into a real SQLite state store; the expected
list is computed here independently of the planner (plain Python over the generated rows).
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from workbench import activations
from workbench import store_snapshot_cache as snapshot_cache
from workbench.destinations.sendgrid.run_record import RunRecord
from workbench.destinations.sendgrid.sandbox import SandboxServer
from workbench.destinations.sendgrid.sandbox import store as sandbox_store
from workbench.destinations.sendgrid.sandbox.store import TRUTH, VISIBLE
from workbench.destinations.sendgrid.sync_context import SyncOptions
from workbench.emails import is_valid_email, normalise_email
from workbench.workspace import Workspace

SEED = 11
SEGMENT = "people-seg"
FAST = SyncOptions(poll_s=0.02, heartbeat_s=0.5, client={"backoff": 0.01, "backoff_cap": 0.05})
WRITES = ("PUT /v3/marketing/contacts", "DELETE /v3/marketing/lists/{id}/contacts")


def customer_rows(ws: Workspace) -> list[tuple[int, str | None]]:
    """``(id, raw email)`` of every demo customer, read straight from the warehouse."""
    rows = ws.cursor().sql("SELECT id, email FROM customers ORDER BY id").fetchall()
    return [(int(pid), email) for pid, email in rows]


def expected_emails(rows: list[tuple[int, str | None]], ids: set[int]) -> set[str]:
    """The normalised valid emails of the people ``ids``."""
    emails = (normalise_email(e) for pid, e in rows if pid in ids and e is not None)
    return {e for e in emails if e is not None and is_valid_email(e)}


@dataclass
class World:
    """A workspace with the people entity, a sandbox with contacts, an activation."""

    ws: Workspace
    sandbox: SandboxServer
    rows: list[tuple[int, str | None]]
    contacts: set[str]
    key: str
    name: str = SEGMENT

    def set_segment(self, ids: set[int]) -> None:
        """Save a new version of the segment: exactly the people ``ids``."""
        doc = {"column": "id", "op": "in", "value": sorted(ids)} if ids else None
        flt = doc or {"column": "id", "op": "lt", "value": 0}
        self.ws.store.save_segment({"name": SEGMENT, "entity": "customers", "filter": flt})

    def run(self, **kwargs: Any) -> RunRecord:
        """Run the activation (with fast polling unless ``options`` are given)."""
        return activations.run(self.ws, self.name, **{"options": FAST, **kwargs})

    def list_id(self) -> str:
        """The activation's list id."""
        list_id = activations.get_activation(self.ws, self.name).list_id
        assert list_id
        return list_id

    def on_list(self) -> set[str]:
        """Who is really on the list (the sandbox's truth)."""
        return self.sandbox.admin.list_members(self.list_id())

    def snapshot(self) -> set[str]:
        """The emails the snapshot holds."""
        return set(self.ws.store.read_snapshot(self.name)["email"].to_list())

    def snapshot_copy_is_exact(self) -> bool:
        """Whether the run left a columnar copy of the snapshot for the next run, equal to the
        snapshot in SQLite (read row by row here), or the snapshot never held anyone. Ask
        before anything reads the snapshot: a read would keep a copy of its own."""
        store = self.ws.store
        with closing(sqlite3.connect(store.path)) as con:
            token = snapshot_cache.token_of(con, self.name)
            rows = con.execute(
                "SELECT email, contact_id FROM snapshot_members WHERE activation = ? "
                "ORDER BY email",
                (self.name,),
            ).fetchall()
        copy = snapshot_cache.read_copy(store.path, self.name, token) if token else None
        truth = pl.DataFrame(rows, schema=snapshot_cache.SNAPSHOT_SCHEMA, orient="row")
        left = list(snapshot_cache.cache_folder(store.path).glob(".*.prepared"))
        if token is None and truth.is_empty():  # never changed: nothing to read either way
            return not left
        return copy is not None and copy.equals(truth) and not left

    def expected(self, ids: set[int]) -> set[str]:
        """Who a clean run puts on the list for segment ``ids``: contacts among their emails."""
        return expected_emails(self.rows, ids) & self.contacts

    def contact_count(self) -> int:
        """How many contacts the account holds (a sync must never change it)."""
        return len(self.sandbox.admin.contacts())

    def writes(self) -> list[dict[str, Any]]:
        """The write requests the sandbox received."""
        return [r for r in self.sandbox.admin.request_log() if r["endpoint"] in WRITES]


def delete_contact(world: World, email: str) -> None:
    """Delete a contact in the sandbox as a SendGrid user would (its memberships go too)."""
    contact_id = next(c["id"] for c in world.sandbox.admin.contacts() if c["email"] == email)
    with sandbox_store.transaction(world.sandbox.config.state_path) as conn:
        for layer in (TRUTH, VISIBLE):
            sandbox_store.delete_contact(conn, layer, contact_id)


def make_world(
    workspace: Workspace,
    sandbox: SandboxServer,
    key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    **overrides: Any,
) -> World:
    """Build the world: contacts for ~60% of the customers' valid emails, an activation."""
    monkeypatch.delenv("SENDGRID_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # no .streamlit/secrets.toml from the checkout
    rows = customer_rows(workspace)
    valid = sorted(expected_emails(rows, {pid for pid, _ in rows}))
    contacts = set(random.Random(SEED).sample(valid, int(len(valid) * 0.6)))
    sandbox.admin.add_contacts([{"email": e} for e in sorted(contacts)])
    world = World(workspace, sandbox, rows, contacts, key)
    world.set_segment({pid for pid, _ in rows if pid <= 150})
    activations.create_destination(workspace, "sg", host=sandbox.url, api_key=key)
    activations.activate(workspace, SEGMENT, **overrides)
    return world


@pytest.fixture
def world(
    workspace: Workspace,
    sandbox: SandboxServer,
    sg_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[World]:
    """A managed activation of customers 1..150 over a freshly seeded sandbox."""
    yield make_world(workspace, sandbox, sg_key, tmp_path, monkeypatch)
