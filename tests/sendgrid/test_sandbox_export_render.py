"""The fast CSV export renderer writes byte for byte what the per-row renderer writes."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import pytest

from workbench.destinations.sendgrid.sandbox import export_render, exports, store
from workbench.destinations.sendgrid.sandbox.store import TRUTH, VISIBLE

TRICKY = ["", "Ann", "O'Neil, Jr.", 'say "hi"', "two\nlines", "cr\rhere", "semi;colon", " pad "]
LISTS = [("L-b", 1), ("L-a", 2), ("L-c", 3)]  # creation order differs from id order


def _contacts(rng: random.Random, n: int) -> list[dict]:
    """``n`` contacts with names, alternates and identifiers drawn from tricky values."""
    stamps = [1_800_000_000.0009999, 1_800_000_000.9999, 1_799_999_999.5, 1_700_000_123.25]
    contacts = []
    for i in range(n):
        contact: dict = {"id": f"id-{rng.random():.8f}", "email": f"p{i}@example.com"}
        contact["created_at"] = rng.choice(stamps)
        contact["updated_at"] = contact["created_at"] + rng.choice([0.0, 0.0004, 12.3456])
        if rng.random() < 0.5:
            contact["first_name"] = rng.choice(TRICKY)
            contact["last_name"] = rng.choice([*TRICKY, None, 7])
        contact["alternate_emails"] = [f"a{i}-{k}@example.com" for k in range(rng.randint(0, 2))]
        for name in store.IDENTIFIERS:
            if rng.random() < 0.2:
                contact[name] = rng.choice(TRICKY[1:])
        contacts.append(contact)
    contacts.append({"id": "no-email", "external_id": "x,1", "created_at": 1.5, "updated_at": 2.0})
    return contacts


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """Both layers with 300 seeded contacts, some on one to three lists (seed 11)."""
    path = tmp_path / "render.sqlite"
    store.initialise(path)
    rng = random.Random(11)
    contacts = _contacts(rng, 300)
    with store.transaction(path) as conn:
        for list_id, seq in LISTS:
            conn.execute(
                "INSERT INTO lists(id, seq, name, created_at, updated_at) VALUES (?, ?, ?, 0, 0)",
                (list_id, seq, list_id),
            )
        members = [
            (c["id"], list_id) for c in contacts for list_id, _ in LISTS if rng.random() < 0.4
        ]
        for layer in (TRUTH, VISIBLE):
            store.write_contacts(conn, layer, contacts)
            conn.executemany(
                "INSERT INTO members(layer, list_id, contact_id, added_at) VALUES (?, ?, ?, 0)",
                [(layer, list_id, cid) for cid, list_id in members],
            )
    return path


@pytest.mark.parametrize("list_ids", [[], ["L-a"], ["L-c", "L-b"]])
def test_fast_csv_equals_the_per_row_csv(state: Path, list_ids: list[str]) -> None:
    with store.transaction(state) as conn:
        fast = export_render.render_csv(conn, list_ids)
        slow = exports.render_rows(conn, list_ids, "csv")
    assert fast is not None
    assert fast == slow
    rows = list(csv.DictReader(io.StringIO(fast[0].decode(), newline="")))
    assert len(rows) == fast[1] > 0
    if not list_ids:
        assert any("\n" in r["FIRST_NAME"] for r in rows)  # the tricky values were exported
        assert any("," in r["LIST_IDS"] for r in rows)


def test_an_empty_export_is_the_header_alone(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    store.initialise(path)
    with store.transaction(path) as conn:
        assert export_render.render_csv(conn, []) == exports.render_rows(conn, [], "csv")


def test_a_value_holding_a_separator_falls_back_to_the_per_row_renderer(state: Path) -> None:
    with store.transaction(state) as conn:
        conn.execute(
            "UPDATE contacts SET external_id = ? WHERE id = (SELECT min(id) FROM contacts)",
            (f"odd{export_render.FIELD}id",),
        )
        assert export_render.render_csv(conn, []) == exports.render_rows(conn, [], "csv")
        conn.execute(
            "UPDATE contacts SET email = ? WHERE id = (SELECT max(id) FROM contacts)",
            (f"odd{export_render.ROW}@example.com",),
        )
        assert export_render.render_csv(conn, []) is None


def test_many_lists_with_members_fall_back_to_the_per_row_renderer(state: Path) -> None:
    with store.transaction(state) as conn:
        some = conn.execute("SELECT id FROM contacts WHERE layer = ? LIMIT 1", (VISIBLE,))
        contact_id = some.fetchall()[0][0]
        for k in range(export_render.MAX_LISTS):
            conn.execute(
                "INSERT INTO lists(id, seq, name, created_at, updated_at) VALUES (?, ?, ?, 0, 0)",
                (f"M{k}", 100 + k, f"M{k}"),
            )
            conn.execute(
                "INSERT INTO members(layer, list_id, contact_id, added_at) VALUES (?, ?, ?, 0)",
                (VISIBLE, f"M{k}", contact_id),
            )
        assert export_render.render_csv(conn, []) is None
