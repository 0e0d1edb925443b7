"""The column-wise paths a million-row sync takes give what the row-by-row paths give: the gzip
export read by polars (a broken file still says so plainly), matching by primary email when no
address is shared, and add batches whose rows stay JSON text until asked for, stored in the
new payload form while payloads stored before still load."""

from __future__ import annotations

import gzip
import json
import random
import sqlite3
from contextlib import closing
from pathlib import Path

import polars as pl
import pytest

from workbench.destinations.sendgrid.contact_frames import _matches as matches_by_address
from workbench.destinations.sendgrid.contact_frames import (
    contacts_by_address,
    export_frame,
    matches_of,
)
from workbench.destinations.sendgrid.sync_batches import add_batches
from workbench.destinations.sendgrid.sync_state import (
    Batch,
    confirm_batch,
    load_batches,
    payload_file,
    rewrite_batch,
    save_batches,
)
from workbench.errors import DestinationError, NotFoundError
from workbench.store import Store

HEADER = "EMAIL,ALTERNATE_EMAILS,EXTERNAL_ID,CONTACT_ID\r\n"


def _export(rows: list[tuple[str, str, str, str]]) -> bytes:
    lines = "".join(",".join(row) + "\r\n" for row in rows)
    return gzip.compress((HEADER + lines).encode())


def _contacts(count: int, seed: int = 11) -> list[tuple[str, str, str, str]]:
    """``count`` contacts without alternates, a few with an external id, shuffled."""
    rng = random.Random(seed)
    rows = [(f"p{i:05d}@example.com", "", f"ext{i}" if i % 9 == 0 else "", f"id-{i:05d}")
            for i in range(count)]  # fmt: skip
    rng.shuffle(rows)
    return rows


def test_a_corrupt_gzip_export_is_a_destination_error_that_says_so() -> None:
    data = _export(_contacts(50))
    with pytest.raises(DestinationError, match="corrupt gzip"):
        export_frame(data[:-12] + b"not the end!", "csv")
    with pytest.raises(DestinationError, match="corrupt gzip"):
        export_frame(data[: len(data) // 2], "csv")


def test_polars_reading_the_gzip_gives_the_frame_of_the_plain_text() -> None:
    data = _export(_contacts(300))
    assert export_frame(data, "csv").equals(export_frame(gzip.decompress(data), "csv"))


def test_matching_by_primary_email_agrees_with_matching_by_every_address() -> None:
    contacts = export_frame(_export(_contacts(2_000)), "csv")
    rng = random.Random(3)
    wanted = pl.Series([f"p{rng.randrange(2_400):05d}@example.com" for _ in range(900)]).unique(
        maintain_order=True
    )
    found = matches_of(wanted, contacts)
    assert found.equals(matches_by_address(wanted, contacts_by_address(contacts)))
    assert 0 < found.height < wanted.len()  # some wanted emails are no contact
    assert found.filter(pl.col("email") == "p00009@example.com").get_column("entry").to_list() == [
        '{"email": "p00009@example.com", "external_id": "ext9"}'
    ]


def test_two_contacts_with_one_primary_email_match_the_first_of_them() -> None:
    rows = [*_contacts(20), ("p00003@example.com", "", "", "id-later")]
    found = matches_of(pl.Series(["p00004@example.com", "p00003@example.com"]), export_frame(
        _export(rows), "csv"))  # fmt: skip
    assert found.select("email", "contact_id").rows() == [
        ("p00004@example.com", "id-00004"),
        ("p00003@example.com", "id-00003"),
    ]


def _to_add(rows: int) -> pl.DataFrame:
    """Contacts to add, every 5th with a second email; one email needing JSON escapes."""
    out = []
    for i in range(rows):
        contact = f"id-{i // 2 if i % 5 == 0 else i:04d}"
        email = 'q"uote\\ë@example.com' if i == 7 else f"m{i:04d}@example.com"
        out.append((email, contact, json.dumps({"email": f"primary{i}@example.com"})))
    return pl.DataFrame(out, schema=["email", "contact_id", "entry"], orient="row")


def test_planned_rows_survive_storage_in_order(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite")
    to_add = _to_add(400)
    planned = add_batches(1, to_add, 60, 6_000_000)
    save_batches(store, planned)
    loaded = load_batches(store, 1)
    assert [(b.seq, b.kind, b.entries_json) for b in loaded] == [
        (b.seq, b.kind, b.entries_json) for b in planned
    ]
    rows = [(e, c) for b in loaded for e, c in zip(b.emails, b.contact_ids, strict=True)]
    assert sorted(rows) == sorted(to_add.select("email", "contact_id").rows())
    assert [b.contacts for b in loaded] == [len(b.entries) for b in loaded]
    confirm_batch(store, "act", loaded[0], set())
    assert set(store.read_snapshot("act").rows()) == set(
        zip(loaded[0].emails, loaded[0].contact_ids, strict=True)
    )


def test_a_changed_batch_is_stored_with_its_changes(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite")
    (batch,) = add_batches(2, _to_add(6), 100, 6_000_000)
    batch.emails, batch.contact_ids = batch.emails[1:], batch.contact_ids[1:]
    batch.entries = batch.entries[1:]
    save_batches(store, [batch])
    (loaded,) = load_batches(store, 2)
    assert (loaded.emails, loaded.contact_ids) == (batch.emails, batch.contact_ids)
    assert loaded.entries == batch.entries and loaded.contacts == len(set(batch.contact_ids))


@pytest.mark.parametrize("entries_key", ["entries_json", "entries"])
def test_payloads_stored_before_the_new_form_still_load(tmp_path: Path, entries_key: str) -> None:
    store = Store(tmp_path / "state.sqlite")
    entries = [{"email": "a@example.com"}, {"email": "b@example.com"}]
    value: object = json.dumps(entries) if entries_key == "entries_json" else entries
    old = {"emails": ["a@example.com", "b@example.com"], "contact_ids": ["1", "2"]}
    with store.transaction() as con:
        con.execute(
            "INSERT INTO run_batches (run_id, seq, kind, status, payload, updated_at) "
            "VALUES (3, 0, 'add', 'sent', ?, 'now')",
            (json.dumps({**old, entries_key: value}),),
        )
    (batch,) = load_batches(store, 3)
    assert (batch.emails, batch.contact_ids, batch.entries) == (
        old["emails"],
        old["contact_ids"],
        entries,
    )
    assert batch.status == "sent"


def test_a_removal_batch_keeps_its_lists() -> None:
    batch = Batch(1, 0, "remove", ["a@example.com"], ["1"])
    assert (batch.emails, batch.contact_ids, batch.entries_json) == (["a@example.com"], ["1"], "[]")
    head, entries = batch.payload().split("\n", 1)
    assert json.loads(head) == {"emails": ["a@example.com"], "contact_ids": ["1"]}
    assert entries == "[]"


def test_a_state_file_of_schema_2_keeps_its_batches_and_new_ones_go_to_the_payload_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import workbench.store as store_module

    path = tmp_path / "state.sqlite"
    all_migrations = store_module.MIGRATIONS
    monkeypatch.setattr(store_module, "MIGRATIONS", all_migrations[:2])
    Store(path)  # a state file as the workbench before migration 3 left it
    old, new = add_batches(4, _to_add(6), 3, 6_000_000)[:2]
    with closing(sqlite3.connect(path)) as con, con:
        con.execute(
            "INSERT INTO run_batches (run_id, seq, kind, status, payload, job_ids, updated_at) "
            "VALUES (4, 0, 'add', 'sent', ?, '[\"job-1\"]', 'now')",
            (old.payload(),),
        )
    monkeypatch.setattr(store_module, "MIGRATIONS", all_migrations)
    store = Store(path)
    save_batches(store, [new])
    loaded = load_batches(store, 4)
    assert [(b.emails, b.contact_ids, b.entries) for b in loaded] == [
        (b.emails, b.contact_ids, b.entries) for b in (old, new)
    ]
    assert (loaded[0].status, loaded[0].job_ids) == ("sent", ["job-1"])
    with closing(sqlite3.connect(path)) as con:
        stored = con.execute("SELECT length(payload) FROM run_batches WHERE seq = 1").fetchall()
    assert stored == [(0,)]  # a status update rewrites a small row, not the payload
    assert payload_file(store, 4).read_text().startswith('{"emails"')


def test_a_run_whose_payload_file_is_gone_says_where_it_was(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite")
    save_batches(store, add_batches(5, _to_add(4), 100, 6_000_000))
    payload_file(store, 5).write_bytes(b'{"emails": [')  # cut short
    with pytest.raises(NotFoundError, match=r"batches of run 5 .*5\.txt.*missing or cut short"):
        load_batches(store, 5)
    payload_file(store, 5).unlink()
    with pytest.raises(NotFoundError, match="put the file back"):
        load_batches(store, 5)


def test_an_approved_batch_rewritten_keeps_the_new_rows(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite")
    first, second = add_batches(6, _to_add(6), 3, 6_000_000)[:2]
    save_batches(store, [first, second])
    first.emails, first.contact_ids = first.emails[1:], first.contact_ids[1:]
    first.entries = first.entries[1:]
    rewrite_batch(store, first)
    loaded = load_batches(store, 6)
    assert [(b.emails, b.entries) for b in loaded] == [
        (first.emails, first.entries),
        (second.emails, second.entries),
    ]
