"""Contacts as frames (the fast path of a million-contact export) agree with the row-by-row
parser, match emails like ``setdefault`` over the contacts, and build upsert entries byte for
byte as ``json.dumps(contact.upsert_entry())``; add batches stay within both request limits,
keep a contact's rows together and carry exactly the entries the request body sends."""

from __future__ import annotations

import gzip
import json
import random

import polars as pl
import pytest

from workbench.destinations.sendgrid.batching import json_size, upsert_body
from workbench.destinations.sendgrid.contact_frames import (
    contacts_frame,
    export_frame,
    matches_from_lookup,
    matches_of,
)
from workbench.destinations.sendgrid.exports import parse_export
from workbench.destinations.sendgrid.models import Contact
from workbench.destinations.sendgrid.sync_batches import add_batches
from workbench.errors import InvalidRequest

EXPORT_CSV = (
    "\ufeffEMAIL,FIRST_NAME,ALTERNATE_EMAILS,PHONE_NUMBER_ID,EXTERNAL_ID,LIST_IDS,CONTACT_ID\n"
    'A@Example.com,Ann,"b@example.com, C@example.com",,e1,"l1,l2",id-1\n'
    ',,x@y.org,"p""q",,,id-2\n'
    "é@example.com,,,,,,id-3\n"
    "b@example.com,,,,,l1,id-4\n"
    "nobody@example.com,,,,,,\n"
)


def test_an_export_frame_holds_what_the_row_parser_reads() -> None:
    data = gzip.compress(EXPORT_CSV.encode())
    frame = export_frame(data, "csv")
    with_ids = [c for c in parse_export(data, "csv") if c.id]  # a row without id is no contact
    assert frame.equals(contacts_frame(with_ids))
    assert frame.row(0, named=True)["alternate_emails"] == ["b@example.com", "c@example.com"]
    assert frame.row(1, named=True)["email"] is None


def test_matches_keep_the_first_contact_of_an_address_and_the_order_of_the_emails() -> None:
    frame = export_frame(EXPORT_CSV.encode(), "csv")
    wanted = pl.Series(["x@y.org", "b@example.com", "unknown@example.com", "a@example.com"])
    found = matches_of(wanted, frame)
    # b@ is id-1's alternate before it is id-4's primary: the first contact holding it wins
    assert found.select("email", "contact_id").rows() == [
        ("x@y.org", "id-2"),
        ("b@example.com", "id-1"),
        ("a@example.com", "id-1"),
    ]


def test_entries_are_exactly_what_json_dumps_writes_escapes_included() -> None:
    contacts = [
        Contact(id="id-1", email="a@example.com", external_id="e1"),
        Contact(id="id-2", email=None, phone_number_id='p"q\\r'),
        Contact(id="id-3", email="é@example.com", anonymous_id="anon"),
        Contact(id="id-4", email="tab\t@example.com"),
    ]
    found = {f"key{i}@example.com": c for i, c in enumerate(contacts)}
    matches = matches_from_lookup(pl.Series(list(found)), found)
    expected = [json.dumps(c.upsert_entry()) for c in contacts]
    assert matches.get_column("entry").to_list() == expected


def _to_add(rows: int, seed: int = 5) -> pl.DataFrame:
    """Looked-up contacts with entries of varied length; every 7th contact has two emails."""
    rng = random.Random(seed)
    out = []
    for i in range(rows):
        contact_id = f"id-{i // 2 if i % 7 == 0 else i:05d}"
        entry = {"email": f"{'x' * rng.randint(1, 60)}{i}@example.com"}
        out.append((f"m{i:05d}@example.com", contact_id, json.dumps(entry)))
    return pl.DataFrame(out, schema=["email", "contact_id", "entry"], orient="row")


@pytest.mark.parametrize(("max_contacts", "max_bytes"), [(50, 6_000_000), (30_000, 4_000)])
def test_add_batches_stay_within_both_limits_and_keep_a_contacts_rows_together(
    max_contacts: int, max_bytes: int
) -> None:
    to_add = _to_add(1_000)
    batches = add_batches(1, to_add, max_contacts, max_bytes)
    list_id = "0" * 36
    for batch in batches:
        body = f'{{"list_ids": {json.dumps([list_id])}, "contacts": {batch.entries_json}}}'
        assert body == json.dumps(upsert_body(list_id, batch.entries))  # sent as is
        assert len(body.encode()) <= max_bytes and len(batch.entries) <= max_contacts
        assert len(batch.entries) == len(set(batch.contact_ids))
    owners = [{cid: b.seq for cid in b.contact_ids} for b in batches]
    assert sum(len(o) for o in owners) == to_add["contact_id"].n_unique()  # never split
    sent = sorted((e, c) for b in batches for e, c in zip(b.emails, b.contact_ids, strict=True))
    assert sent == sorted(to_add.select("email", "contact_id").rows())
    assert len(batches) > 1


def test_an_entry_too_big_for_any_request_is_refused_plainly() -> None:
    to_add = pl.DataFrame(
        [("a@example.com", "id-1", json.dumps({"email": "a" * 500 + "@example.com"}))],
        schema=["email", "contact_id", "entry"],
        orient="row",
    )
    with pytest.raises(InvalidRequest, match="cannot be sent"):
        add_batches(1, to_add, 10, 200)
    assert json_size({"email": "a" * 500}) > 200
