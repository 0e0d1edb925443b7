"""The sandbox's set-based job paths give exactly what the per-item path gives, and the job
poll pace follows a job's reported progress."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.sendgrid.helpers import HandClock
from workbench.destinations.sendgrid.models import ImportJob
from workbench.destinations.sendgrid.polling import PACE_MARGIN, JobPace
from workbench.destinations.sendgrid.sandbox import bulk, jobs, plain_upsert, store
from workbench.destinations.sendgrid.sandbox.config import MAX_LISTS_PER_CONTACT
from workbench.destinations.sendgrid.sandbox.job_records import insert_jobs, job_status, new_job
from workbench.destinations.sendgrid.sandbox.store import TRUTH, VISIBLE

NOW = 1_800_000_000.0
FULL = "full@example.com"  # already on the most lists a contact may be on


def _state(path: Path) -> Path:
    """Lists L0..L250, a@ on L0, b@, and FULL on L1..L250 (the cap), in both layers."""
    store.initialise(path)
    with store.transaction(path) as conn:
        for seq in range(MAX_LISTS_PER_CONTACT + 1):
            conn.execute(
                "INSERT INTO lists(id, seq, name, created_at, updated_at) VALUES (?, ?, ?, 0, 0)",
                (f"L{seq}", seq, f"list {seq}"),
            )
        seeded = [
            {"id": f"id-{e}", "email": e, "created_at": 0.0, "updated_at": 0.0}
            for e in ("a@example.com", "b@example.com", FULL)
        ]
        members = [("id-a@example.com", "L0")]
        members += [(f"id-{FULL}", f"L{i}") for i in range(1, MAX_LISTS_PER_CONTACT + 1)]
        for layer in (TRUTH, VISIBLE):
            store.write_contacts(conn, layer, [{**c, "alternate_emails": []} for c in seeded])
            conn.executemany(
                "INSERT INTO members(layer, list_id, contact_id, added_at) VALUES (?, ?, ?, 0)",
                [(layer, list_id, cid) for cid, list_id in members],
            )
    return path


ITEMS = [
    {"email": " A@Example.com "},  # existing, by primary email, case and blanks ignored
    {"email": "c@example.com", "first_name": "Cy"},  # new
    {"email": "c@example.com", "last_name": "Dee"},  # the same new contact again
    {"email": FULL},  # refused: one list too many
    {"email": "b@example.com", "alternate_emails": ["B2@example.com"]},
]


PLAIN_ITEMS = [  # what a list sync sends: a primary email and nothing else
    {"email": " A@Example.com "},
    {"email": "c@example.com"},
    {"email": "C@example.com"},  # the contact the item before created
    {"email": FULL},
    {"email": "b@example.com"},
    {"email": "a@example.com"},
]


def create_job(conn: sqlite3.Connection, kind: str, payload: dict, delay: float, fail: bool) -> str:
    """A pending job stored straight in the ``jobs`` table (as the worker takes one in)."""
    job = new_job(kind, payload, delay, fail, NOW)
    insert_jobs(conn, [job])
    return job.id


def _run_job(path: Path, budget: int, items: list[dict] = ITEMS) -> dict:
    """Upsert ``items`` onto L0 and L1 in steps of ``budget``; everything a user could observe."""
    with store.transaction(path) as conn:
        job_id = create_job(
            conn, "upsert", {"list_ids": ["L0", "L1"], "contacts": items}, 0.0, False
        )
    more = True
    while more:
        with store.transaction(path) as conn:
            more = jobs.pump(conn, NOW, 0.0, budget=budget)
    with store.transaction(path) as conn:
        job = job_status(conn, job_id, "http://sandbox")
        contacts = conn.execute(
            "SELECT layer, email, data, created_at, updated_at FROM contacts ORDER BY layer, email"
        ).fetchall()
        members = conn.execute(
            "SELECT m.layer, m.list_id, c.email FROM members m JOIN contacts c "
            "ON c.id = m.contact_id AND c.layer = m.layer ORDER BY 1, 2, 3"
        ).fetchall()
        alternates = conn.execute("SELECT layer, email FROM alternate_emails ORDER BY 1, 2")
        errors = conn.execute("SELECT errors FROM jobs WHERE id = ?", (job_id,)).fetchall()
        return {
            "status": job and (job["status"], {**job["results"], "errors_url": "..."}),
            "errors": json.loads(errors[0][0]),
            "contacts": [tuple(r) for r in contacts],
            "members": [tuple(r) for r in members],
            "alternates": [tuple(r) for r in alternates.fetchall()],
        }


@pytest.mark.parametrize("budget", [2, 1000])
def test_email_only_upserts_end_as_the_per_item_path_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, budget: int
) -> None:
    fast = _run_job(_state(tmp_path / "fast.sqlite"), budget)
    monkeypatch.setattr(bulk, "email_only", lambda items: False)
    slow = _run_job(_state(tmp_path / "slow.sqlite"), budget)
    assert fast == slow
    assert fast["status"] == (
        "errored",
        {
            "requested_count": 5,
            "created_count": 1,
            "updated_count": 3,
            "errored_count": 1,
            "errors_url": "...",
        },
    )
    assert [e["email"] for e in fast["errors"]] == [FULL]
    on_l1 = {email for layer, list_id, email in fast["members"] if list_id == "L1"}
    assert on_l1 == {"a@example.com", "b@example.com", "c@example.com", FULL}


@pytest.mark.parametrize("chunk", [2, 30_000])
def test_plain_upserts_end_as_the_per_item_path_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(jobs, "PLAIN_CHUNK", chunk)
    fast = _run_job(_state(tmp_path / "fast.sqlite"), 1000, PLAIN_ITEMS)
    monkeypatch.setattr(plain_upsert, "is_plain", lambda items: False)
    monkeypatch.setattr(bulk, "email_only", lambda items: False)
    slow = _run_job(_state(tmp_path / "slow.sqlite"), 1000, PLAIN_ITEMS)
    assert fast == slow
    assert fast["status"] == (
        "errored",
        {
            "requested_count": 6,
            "created_count": 1,
            "updated_count": 4,
            "errored_count": 1,
            "errors_url": "...",
        },
    )
    on_l0 = {email for layer, list_id, email in fast["members"] if list_id == "L0"}
    assert on_l0 == {"a@example.com", "b@example.com", "c@example.com"}


def _layer(path: Path, layer: str) -> tuple[list, list]:
    with store.transaction(path) as conn:
        contacts = conn.execute(
            "SELECT id, email, data, created_at, updated_at FROM contacts WHERE layer = ? "
            "ORDER BY email",
            (layer,),
        ).fetchall()
        members = conn.execute(
            "SELECT list_id, contact_id FROM members WHERE layer = ? ORDER BY 1, 2", (layer,)
        ).fetchall()
    return [tuple(r) for r in contacts], [tuple(r) for r in members]


def test_a_plain_upsert_becomes_visible_after_the_lag_and_not_before(tmp_path: Path) -> None:
    path = _state(tmp_path / "lag.sqlite")
    before = _layer(path, VISIBLE)
    with store.transaction(path) as conn:
        payload = {"list_ids": ["L0", "L1"], "contacts": PLAIN_ITEMS}
        create_job(conn, "upsert", payload, 0.0, False)
        jobs.pump(conn, NOW, 5.0)
    assert _layer(path, VISIBLE) == before != _layer(path, TRUTH)
    with store.transaction(path) as conn:
        jobs.pump(conn, NOW + 4.9, 5.0)
    assert _layer(path, VISIBLE) == before
    with store.transaction(path) as conn:
        jobs.pump(conn, NOW + 5.0, 5.0)
    assert _layer(path, VISIBLE) == _layer(path, TRUTH)


def test_only_email_only_items_take_the_plain_path() -> None:
    assert plain_upsert.is_plain([{"email": "a@example.com"}, {"email": " B@example.com"}])
    assert not plain_upsert.is_plain([{"email": "a@example.com", "first_name": "A"}])
    assert not plain_upsert.is_plain([{"email": "a@example.com", "external_id": None}])
    assert not plain_upsert.is_plain([{"email": "  "}])


def test_items_with_identifiers_take_the_per_item_path() -> None:
    assert bulk.email_only([{"email": "a@example.com", "external_id": None}])
    assert not bulk.email_only([{"email": "a@example.com", "external_id": "x1"}])
    assert not bulk.email_only([{"external_id": "x1"}])


def test_job_pace_waits_for_the_rest_of_a_job_at_its_observed_pace() -> None:
    clock = HandClock()
    pace = JobPace(0.05, 60.0, clock)
    assert pace.next_delay(ImportJob("j1", "pending", requested=30_000)) == 0.05
    clock.now = 2.0
    delay = pace.next_delay(ImportJob("j1", "pending", requested=30_000, updated=6_000))
    assert delay == pytest.approx(PACE_MARGIN * 24_000 / 3_000)
    clock.now = 3.0  # the next job: the pace seen on the first one is kept
    delay = pace.next_delay(ImportJob("j2", "pending", requested=30_000, updated=27_000))
    assert delay == pytest.approx(PACE_MARGIN * 3_000 / 3_000)


def test_job_pace_without_progress_doubles_up_to_its_cap() -> None:
    pace = JobPace(0.05, 0.3, HandClock())
    job = ImportJob("j1", "pending", requested=100)
    assert [pace.next_delay(job) for _ in range(5)] == [0.05, 0.1, 0.2, 0.3, 0.3]


def test_job_pace_first_estimates_from_the_rows_done_since_the_job_was_sent() -> None:
    clock = HandClock()
    clock.now = 10.0
    pace = JobPace(0.05, 60.0, clock)
    job = ImportJob("j1", "pending", requested=30_000, updated=3_000)
    assert pace.next_delay(job, sent_at=9.0) == pytest.approx(PACE_MARGIN * 27_000 / 3_000)
