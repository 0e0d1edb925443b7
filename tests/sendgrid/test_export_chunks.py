"""An export read chunk by chunk gives exactly the frame the whole file gives, cut only at record
ends (quoted commas and line breaks stay inside their record, whatever the pieces the text comes
in), a broken gzip stream still says so; and emails matched chunk by chunk are exactly what
matching the whole export gives: the first contact holding an address keeps it, across chunks
too."""

from __future__ import annotations

import gzip
import json
import random
import zlib

import polars as pl
import pytest

from tests.sendgrid.test_frame_shortcuts import ODD_FILES
from workbench.destinations.sendgrid.contact_frames import (
    CONTACT_SCHEMA,
    MATCH_SCHEMA,
    export_frame,
    matches_of,
)
from workbench.destinations.sendgrid.export_chunks import (
    INFLATE,
    ChunkMatcher,
    _RecordRuns,
    export_frames,
    gzip_pieces,
)
from workbench.errors import DestinationError

HEADER = (
    "EMAIL,FIRST_NAME,LAST_NAME,ALTERNATE_EMAILS,PHONE_NUMBER_ID,EXTERNAL_ID,ANONYMOUS_ID,"
    "LIST_IDS,CREATED_AT,UPDATED_AT,CONTACT_ID\r\n"
)
POOL = [f"p{i}@example.com" for i in range(40)] + [
    'q"uote@example.com', "back\\slash@example.com", "é@example.com", "tab\t@example.com"
]  # fmt: skip


def _csv_cell(value: str) -> str:
    if any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _export_text(count: int, seed: int) -> str:
    """An export of ``count`` rows as SendGrid writes it: some quoted cells (alternates, lists,
    names with commas, quotes and line breaks), blank and odd identifiers, rows without id."""
    rng = random.Random(seed)
    lines = [HEADER]
    for i in range(count):
        alternates = ", ".join(rng.sample(POOL, rng.choice([0, 0, 0, 1, 2])))
        name = rng.choice(["", "Ann", 'Al "Bo", Jr', "two\nlines", "x\r\ny", "Zoë"])
        lists = ",".join(rng.sample(["l1", "l2", "l3"], rng.randint(0, 2)))
        external = rng.choice(["", "", f"e{i}", f'e"{i}', "ü"])
        contact_id = "" if i % 97 == 5 else f"id-{i:05d}"
        draw = rng.random()
        email = rng.choice(POOL) if draw < 0.3 else f"only{i}@example.com" if draw < 0.7 else ""
        email = f"Mixed{i}@Example.com" if draw > 0.9 else email
        cells = [email, name, "", alternates, "", external, "", lists, "t1", "t2", contact_id]
        lines.append(",".join(_csv_cell(cell) for cell in cells) + "\r\n")
    return "".join(lines)


def _record_ends(text: bytes) -> set[int]:
    """Where each record of ``text`` ends (just past its line end), read byte by byte."""
    ends, quoted = set(), False
    for at, byte in enumerate(text):
        quoted ^= byte == ord('"')
        if byte == ord("\n") and not quoted:
            ends.add(at + 1)
    return ends


@pytest.mark.parametrize("text", list(ODD_FILES.values()), ids=list(ODD_FILES))
@pytest.mark.parametrize("compress", [True, False], ids=["gzip", "plain"])
def test_odd_files_cut_anywhere_read_as_the_whole_file(text: str, compress: bool) -> None:
    data = gzip.compress(text.encode()) if compress else text.encode()
    whole = export_frame(data, "csv")
    records = text.count("\n") + 1
    counts = set()
    for first_rows in range(1, records + 1):
        for rows in range(1, records + 1):
            frames = list(export_frames(data, "csv", first_rows=first_rows, rows=rows))
            assert pl.concat(frames).equals(whole), (first_rows, rows)
            counts.add(len(frames))
    assert max(counts) > 1 or whole.height < 2  # small sizes did cut it


@pytest.mark.parametrize("piece_size", [1, 2, 3, 7, 64, 100_000])
def test_runs_end_exactly_at_the_first_record_end_after_the_size(piece_size: int) -> None:
    text = _export_text(12, seed=3).encode()
    ends = sorted(_record_ends(text))
    for size in range(1, len(text) + 2, 3 if piece_size < 7 else 1):
        pieces = (text[at : at + piece_size] for at in range(0, len(text), piece_size))
        runs = _RecordRuns(pieces)
        first = runs.take(size, b"HEAD")
        assert first[:4] == b"HEAD"
        expected_end = next((end for end in ends if end >= size), len(text))
        assert first[4:] == text[:expected_end], size
        rest = runs.take(len(text), b"")
        assert first[4:] + rest == text and runs.take(1, b"H") == b"H"


def test_a_generated_export_in_chunks_is_the_whole_export_and_matches_the_same() -> None:
    text = _export_text(3_000, seed=5)
    data = gzip.compress(text.encode())
    whole = export_frame(data, "csv")
    frames = list(export_frames(data, "csv", first_rows=100, rows=700))
    assert pl.concat(frames).equals(whole)
    assert 60 <= frames[0].height <= 130 and len(frames) in range(5, 8)
    assert all(500 <= frame.height <= 900 for frame in frames[1:-1])
    assert whole.get_column("alternate_emails").list.len().max() == 2  # quoted cells were read
    others = [f"{kind}{i}@example.com" for i in range(0, 3_000, 3) for kind in ("only", "mixed")]
    wanted = pl.Series([*POOL, *others, "nobody@example.com"])
    matcher = ChunkMatcher(wanted)
    chunked = pl.concat([matcher.matches(frame) for frame in frames])
    expected = matches_of(wanted, whole)
    assert chunked.sort("email").equals(expected.sort("email"))
    assert expected.height > 500


def test_plain_and_gzip_and_zlib_read_alike_and_members_follow_each_other() -> None:
    text = _export_text(400, seed=6).encode()
    members = gzip.compress(text[:5_000]) + gzip.compress(text[5_000:])
    assert b"".join(gzip_pieces(members, inflate=zlib)) == text
    assert b"".join(gzip_pieces(members, inflate=INFLATE)) == text
    whole = export_frame(members, "csv")
    for data in (members, text):
        assert pl.concat(export_frames(data, "csv", first_rows=30, rows=90)).equals(whole)


def test_a_gzip_stream_broken_at_its_start_raises_what_the_whole_read_raises() -> None:
    data = gzip.compress(_export_text(300, seed=7).encode())
    broken = data[:12] + b"garbage!" * 4 + data[44:]
    with pytest.raises(DestinationError, match="corrupt gzip"):
        export_frame(broken, "csv")
    with pytest.raises(DestinationError, match="corrupt gzip"):
        next(export_frames(broken, "csv"))


@pytest.mark.parametrize("tail", ["cut", "garbage", "zeros"])
def test_a_broken_end_raises_after_the_first_frames_are_out(tail: str) -> None:
    text = HEADER + "".join(f"m{i}@x.org,,,,,,,,t,t,id-{i}\r\n" for i in range(60_000))
    data = gzip.compress(text.encode())
    broken = {"cut": data[:-5_000], "garbage": data + b"garbage", "zeros": data + bytes(10)}[tail]
    with pytest.raises(DestinationError, match="corrupt gzip"):
        export_frame(broken, "csv")
    frames = export_frames(broken, "csv", first_rows=1_000, rows=20_000)
    first = next(frames)  # ready before the broken end is read
    assert first.get_column("contact_id").to_list()[:2] == ["id-0", "id-1"]
    assert 800 <= first.height <= 1_250  # sized by the average row of the first MB
    with pytest.raises(DestinationError, match="corrupt gzip"):
        list(frames)


def test_files_the_whole_read_refuses_are_refused_alike() -> None:
    for data in (b"", b"EMAIL,email,CONTACT_ID\r\na@x.org,b@x.org,1\r\n"):
        with pytest.raises(pl.exceptions.PolarsError) as whole:
            export_frame(data, "csv")
        with pytest.raises(type(whole.value)):
            list(export_frames(data, "csv"))


def test_a_json_export_comes_whole_in_one_frame() -> None:
    lines = [{"EMAIL": f"A{i}@x.org", "CONTACT_ID": f"id-{i}"} for i in range(5)]
    data = gzip.compress("\n".join(json.dumps(line) for line in lines).encode())
    (frame,) = export_frames(data, "json", first_rows=1, rows=1)
    assert frame.equals(export_frame(data, "json")) and frame.height == 5


def _contacts(count: int, rng: random.Random, alternates: bool) -> pl.DataFrame:
    """Contacts whose addresses come from a small pool (so many are shared, as primary or
    alternate), some without primary email, identifiers null, plain or needing escapes."""
    rows = []
    for i in range(count):
        primary = rng.choice([*POOL, None])
        others = rng.sample(POOL, rng.choice([0, 0, 1, 3])) if alternates else []
        phone, external, anonymous = (rng.choice([None, f"v{i}", 'q"v', "ü\\"]) for _ in "abc")
        rows.append((f"id-{i}", primary, others, phone, external, anonymous, ["l1"]))
    return pl.DataFrame(rows, schema=CONTACT_SCHEMA, orient="row")


def _chunks(contacts: pl.DataFrame, rng: random.Random) -> list[pl.DataFrame]:
    """``contacts`` split at random points into consecutive chunks, empty ones included."""
    cuts = sorted(rng.choices(range(contacts.height + 1), k=rng.randint(0, 8)))
    bounds = zip([0, *cuts], [*cuts, contacts.height], strict=True)
    return [contacts[start:end] for start, end in bounds]


def _chunk_matches(matcher: ChunkMatcher, chunks: list[pl.DataFrame]) -> pl.DataFrame:
    return pl.concat([matcher.matches(chunk) for chunk in chunks]).sort("email")


@pytest.mark.parametrize("alternates", [True, False], ids=["alternates", "primary-only"])
@pytest.mark.parametrize("weak_key", [False, True], ids=["hash", "colliding-key"])
def test_matching_chunk_by_chunk_gives_what_matching_the_whole_gives(
    alternates: bool, weak_key: bool
) -> None:
    matched = 0
    for seed in range(25):
        rng = random.Random(seed)
        contacts = _contacts(rng.randint(0, 60), rng, alternates)
        absent = [f"nobody{i}@example.com" for i in range(5)]
        absent += [None] if seed % 2 else []  # (the diff's emails are never null; still)
        wanted = pl.Series(rng.sample(POOL, rng.randint(0, len(POOL))) + absent, dtype=pl.String)
        expected = matches_of(wanted, contacts).sort("email")
        for _ in range(2):
            key = (lambda texts: texts.str.len_bytes()) if weak_key else None
            matcher = ChunkMatcher(wanted, key=key) if key else ChunkMatcher(wanted)
            assert _chunk_matches(matcher, _chunks(contacts, rng)).equals(expected), seed
        matched += expected.height
    assert matched > 150  # the draws did match plenty


@pytest.mark.parametrize("split", [None, 1], ids=["same-chunk", "later-chunk"])
def test_an_address_stays_with_the_first_contact_holding_it(split: int | None) -> None:
    addresses = [("a@x.org", ["shared@x.org"]), ("shared@x.org", []), ("twin@x.org", []),
                 ("twin@x.org", ["d2@x.org"])]  # fmt: skip
    contacts = pl.DataFrame(
        [(i, e, a, None, None, None, []) for i, (e, a) in zip("abcd", addresses, strict=True)],
        schema=CONTACT_SCHEMA,
        orient="row",
    )
    wanted = pl.Series(["shared@x.org", "twin@x.org", "d2@x.org", "b@x.org"])
    chunks = [contacts] if split is None else [contacts[:split], contacts[split:]]
    matcher = ChunkMatcher(wanted)
    found = pl.concat([matcher.matches(chunk) for chunk in chunks]).sort("email")
    assert found.rows() == [
        ("d2@x.org", "d", '{"email": "twin@x.org"}'),
        ("shared@x.org", "a", '{"email": "a@x.org"}'),
        ("twin@x.org", "c", '{"email": "twin@x.org"}'),
    ]
    assert matcher.matches(contacts).is_empty()  # every wanted address is taken now


def test_nothing_to_look_up_or_nothing_to_look_in_matches_nothing() -> None:
    contacts = _contacts(20, random.Random(1), alternates=True)
    nothing = ChunkMatcher(pl.Series([], dtype=pl.String)).matches(contacts)
    assert nothing.is_empty() and nothing.schema == pl.Schema(MATCH_SCHEMA)
    matcher = ChunkMatcher(pl.Series(POOL))
    assert matcher.matches(contacts.clear()).schema == pl.Schema(MATCH_SCHEMA)
    assert matcher.matches(contacts).height > 10
