"""The shortcuts a million-contact first run takes give exactly what the general paths give: the
export CSV read without the columns no contact needs (odd headers and cells fall back or agree),
matching on primary emails through 64-bit hashes (collisions dropped), entries and batch rows
written without the per-row escape test when nothing needs escaping, and the polars encoding
for every batch as soon as one email or contact id does."""

from __future__ import annotations

import gzip
import json
import random

import polars as pl
import pytest

from workbench.destinations.sendgrid.contact_frames import (
    _csv_columns,
    _joined_on_primary,
    _matches,
    _typed,
    contacts_by_address,
    contacts_frame,
    export_frame,
    matches_from_lookup,
    matches_of,
    plain_json_column,
)
from workbench.destinations.sendgrid.exports import parse_export
from workbench.destinations.sendgrid.models import Contact
from workbench.destinations.sendgrid.sync_batches import (
    _all_distinct,
    _contacts_together,
    _encoded_batches,
    add_batches,
)
from workbench.destinations.sendgrid.sync_state import Batch
from workbench.errors import DestinationError

ODD_EMAILS = ['q"uote@example.com', "back\\slash@example.com", "tab\t@example.com",
              "del\x7f@example.com", "é@example.com", "ü@exämple.com"]  # fmt: skip
HEADER = "EMAIL,FIRST_NAME,ALTERNATE_EMAILS,EXTERNAL_ID,LIST_IDS,CREATED_AT,CONTACT_ID\r\n"


def _every_column(data: bytes) -> pl.DataFrame:
    """The frame as read before the shortcut: every column parsed, then typed."""
    frame = _csv_columns(data, None)
    return _typed(frame.rename({n: n.lstrip("\ufeff").strip().lower() for n in frame.columns}))


ODD_FILES = {
    "bom, spaces and case in the header": "\ufeff Email ,First_Name,contact_id\r\n"
    "A@x.org,Ann,1\r\n",
    "short and long rows": HEADER + "a@x.org,,,,,\r\nb@x.org,B,,e,l1,t,2,extra,more\r\n"
    "c@x.org,,,,,,3\r\n",
    "blank, spaced and quoted cells": HEADER + ' ,"Ann, A",  ,"e""1",, ,4\r\n'
    'd@x.org,"multi\nline",",b@x.org , ",,"l1, ,l2",t,5\r\n',
    "header only": HEADER,
    "header without a line end": HEADER.strip(),
    "no contact column": "FIRST_NAME,LAST_NAME\r\nAnn,B\r\n",
    "a quoted header": '"EMAIL","CONTACT_ID"\r\na@x.org,6\r\n',
    "a name split by a quoted line break": '"FIRST\nNAME",EMAIL,CONTACT_ID\r\nAnn,a@x.org,7\r\n',
    "a lone carriage return in the header": "EMAIL,CONTACT_ID\r\r\na@x.org,8\r\n",
    "no CR": "EMAIL,LIST_IDS,CONTACT_ID\nA@x.org,l1,9\n",
}


@pytest.mark.parametrize("text", list(ODD_FILES.values()), ids=list(ODD_FILES))
@pytest.mark.parametrize("compress", [True, False], ids=["gzip", "plain"])
def test_reading_only_the_contact_columns_gives_the_frame_every_column_gives(
    text: str, compress: bool
) -> None:
    data = gzip.compress(text.encode()) if compress else text.encode()
    assert export_frame(data, "csv").equals(_every_column(data))


def test_the_odd_cells_read_as_the_row_parser_reads_them() -> None:
    text = HEADER + '"",,  ,"e""1",, ,4\r\nd@x.org,"multi\nline",",B@x.org , ",,"l1, ,l2",t,5\r\n'
    data = gzip.compress(text.encode())
    with_ids = [c for c in parse_export(data, "csv") if c.id]
    frame = export_frame(data, "csv")
    assert frame.equals(contacts_frame(with_ids))
    assert frame.row(1, named=True)["alternate_emails"] == ["b@x.org"]
    assert frame.row(0, named=True)["external_id"] == 'e"1'


def test_duplicate_columns_are_refused_as_before() -> None:
    data = b"EMAIL,email,CONTACT_ID\r\na@x.org,b@x.org,1\r\n"
    with pytest.raises(pl.exceptions.DuplicateError):
        _every_column(data)
    with pytest.raises(pl.exceptions.DuplicateError):
        export_frame(data, "csv")


def test_a_gzip_export_broken_at_its_start_still_says_corrupt_gzip() -> None:
    data = gzip.compress((HEADER + "a@x.org,,,,,,1\r\n" * 200).encode())
    with pytest.raises(DestinationError, match="corrupt gzip"):
        export_frame(data[:12] + b"garbage!" * 4 + data[44:], "csv")


def _contacts(count: int, odd: bool, seed: int = 4) -> pl.DataFrame:
    """Contacts without alternates; ``odd``: some emails need escapes, some ids are given."""
    rng = random.Random(seed)
    rows = [f"p{i:05d}@example.com,,,{'ext' + str(i) if i % 7 == 0 else ''},,,id-{i:05d}"
            for i in range(count)]  # fmt: skip
    if odd:
        rows += [
            f'"{e.replace(chr(34), chr(34) * 2)}",,,,,,odd-{n}' for n, e in enumerate(ODD_EMAILS)
        ]
    rng.shuffle(rows)
    return export_frame(gzip.compress((HEADER + "\r\n".join(rows) + "\r\n").encode()), "csv")


def _wanted(contacts: pl.DataFrame, seed: int = 9) -> pl.Series:
    rng = random.Random(seed)
    known = [e for e in contacts.get_column("email").to_list() if e]
    unknown = [f"nobody{i}@example.com" for i in range(50)]
    picked = rng.sample(known, len(known) * 2 // 3) + unknown + [None]
    rng.shuffle(picked)
    return pl.Series("email", picked, dtype=pl.String)


@pytest.mark.parametrize("odd", [False, True], ids=["plain", "escapes"])
def test_matching_through_hashes_gives_what_matching_every_address_gives(odd: bool) -> None:
    contacts = _contacts(1_500, odd)
    wanted = _wanted(contacts)
    found = matches_of(wanted, contacts)
    assert found.equals(_matches(wanted, contacts_by_address(contacts)))
    by_id = {c: e for c, e in contacts.select("contact_id", "email").rows()}
    assert found.height == wanted.len() - 51  # every known email, no unknown one, no null
    for email, contact_id, entry in found.rows():
        assert by_id[contact_id] == email
        external = contacts.filter(pl.col("contact_id") == contact_id).item(0, "external_id")
        assert entry == json.dumps(
            {"email": email} | ({"external_id": external} if external else {})
        )


def test_a_weak_hash_joins_the_same_rows_colliding_pairs_dropped() -> None:
    contacts = _contacts(800, odd=True)
    wanted = _wanted(contacts)
    exact = (
        wanted.rename("address")
        .to_frame()
        .join(contacts.with_columns(address=pl.col("email")), on="address", maintain_order="left")
    )
    weak = _joined_on_primary(wanted, contacts, key=lambda texts: texts.str.len_bytes())
    assert weak.select("address", "contact_id").equals(exact.select("address", "contact_id"))
    strong = _joined_on_primary(wanted, contacts)
    assert strong.select("address", "contact_id").equals(exact.select("address", "contact_id"))


def test_entries_of_ids_with_and_without_gaps_are_what_json_dumps_writes() -> None:
    every_field = [
        Contact(id=f"id-{i}", email=f"a{i}@x.org", external_id=f"e{i}", anonymous_id=f"n{i}",
                phone_number_id=f"p{i}") for i in range(3)
    ]  # fmt: skip
    gaps = [Contact(id="id-9", email=None, external_id="e9"), Contact(id="id-8", email="b@x.org")]
    for contacts in (every_field, every_field + gaps, every_field + gaps[1:]):
        found = {f"key{i}@x.org": c for i, c in enumerate(contacts)}
        entries = matches_from_lookup(pl.Series(list(found)), found).get_column("entry")
        assert entries.to_list() == [json.dumps(c.upsert_entry()) for c in contacts]


@pytest.mark.parametrize(
    ("values", "plain"),
    [
        (["a@x.org", None, "", "~ !#[]{}@x.org"], True),
        ([None, None], True),
        *[([f"a{e}", "b@x.org"], False) for e in ODD_EMAILS],
        (["nul\x00@x.org"], False),
    ],
)
def test_a_column_is_plain_exactly_when_no_value_needs_an_escape(
    values: list[str | None], plain: bool
) -> None:
    column = pl.Series(values, dtype=pl.String)
    assert plain_json_column(column) is plain
    per_row = column.str.contains(r"^[\x20\x21\x23-\x5b\x5d-\x7e]*$").fill_null(True).all()
    assert per_row is plain


def _to_add(rows: int, odd_at: int | None = None, seed: int = 2) -> pl.DataFrame:
    """Rows to add: every 6th contact has a second email; ``odd_at``: that row's email needs
    escapes."""
    rng = random.Random(seed)
    out = []
    for i in range(rows):
        contact_id = f"{i // 2 if i % 6 == 0 else i:08x}-0000-4000-8000-000000000000"
        email = ODD_EMAILS[i % len(ODD_EMAILS)] if i == odd_at else f"m{i:05d}@example.com"
        out.append((email, contact_id, json.dumps({"email": f"{'x' * rng.randint(1, 40)}{i}@x"})))
    return pl.DataFrame(out, schema=["email", "contact_id", "entry"], orient="row")


def _texts(batches: list[Batch]) -> list[tuple[str, str]]:
    return [(b.payload().split("\n")[0], b.entries_json) for b in batches]


@pytest.mark.parametrize(
    "odd_at", [None, 0, 1, 2, 3, 4, 1_997], ids=["plain", *ODD_EMAILS[:5], "last-batch"]
)
def test_joined_batch_rows_are_the_bytes_polars_encodes(odd_at: int | None) -> None:
    to_add = _to_add(2_000, odd_at)
    batches = add_batches(1, to_add, 300, 6_000_000)
    rows = _contacts_together(to_add)
    cuts = [0]
    for batch in batches:
        cuts.append(cuts[-1] + len(batch.emails))
    assert _texts(batches) == _texts(_encoded_batches(1, rows, cuts))
    sent = [(e, c) for b in batches for e, c in zip(b.emails, b.contact_ids, strict=True)]
    assert sorted(sent) == sorted(to_add.select("email", "contact_id").rows())
    if odd_at is not None:
        assert ODD_EMAILS[odd_at % len(ODD_EMAILS)] in {e for e, _ in sent}
    assert len(batches) > 5


def test_a_missing_email_is_encoded_as_null_as_before() -> None:
    to_add = _to_add(10).with_columns(
        email=pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise(pl.col("email"))
    )
    (batch,) = add_batches(1, to_add, 300, 6_000_000)
    assert batch.emails[3] is None and len(batch.emails) == 10


def test_distinct_ids_are_told_from_repeated_ones() -> None:
    ids = [f"id-{i}" for i in range(5_000)]
    assert _all_distinct(pl.Series(ids))
    assert not _all_distinct(pl.Series([*ids, "id-17"]))
    assert not _all_distinct(pl.Series([*ids, None, None]))
    assert _all_distinct(pl.Series([*ids, None]))


def test_blank_cells_are_null_and_emails_lower_case_as_they_were() -> None:
    cells = [" ", "\u00a0\u2003", "", "  A@X.org ", "İ@X.ORG", "Ünï@X.org"]
    rows = "".join(f'"{cell}",{n}\r\n' for n, cell in enumerate(cells))
    frame = export_frame(gzip.compress(("EMAIL,CONTACT_ID\r\n" + rows).encode()), "csv")
    assert frame.get_column("email").to_list() == [
        None, None, None, "  a@x.org ", "i̇@x.org", "ünï@x.org"
    ]  # fmt: skip
