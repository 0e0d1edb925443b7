"""An export file read chunk by chunk, and emails matched to each chunk as it comes.

A first run of a million-member activation used to read the whole export (decompress, parse)
and match every wanted email before cutting its first upsert. Read in chunks, the first ~40,000
contacts are decompressed, parsed and matched in a few tens of milliseconds, so the first upsert
leaves at once; the rest is read while SendGrid's rate limit paces the sends.

``export_frames`` inflates gzip piece by piece (python-isal's ISA-L when installed: twice as
fast as ``zlib``, which it falls back to), cuts the text only at the end of a record (a line
end outside quotes: cells can hold quoted commas and line breaks) and parses each run of records
with the file's header, exactly as :func:`.contact_frames.export_frame` parses the whole file;
the text is copied once, into the run handed to polars. ``ChunkMatcher`` hashes and sorts the
wanted emails once; a chunk costs a sort of its own addresses' hashes, a binary search and a
text check of the hits, and a boolean per wanted email remembers which are taken (the first
contact holding an address keeps it, as :func:`.contact_frames.matches_of` decides).

At a million contacts (``bench/bench_export_chunks.py``) the first 40,000 are read and matched
in ~0.05 s and the whole file in about the time ``export_frame`` + ``matches_of`` take.
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Callable, Iterator
from types import ModuleType

import numpy as np
import numpy.typing as npt
import polars as pl

from workbench.errors import DestinationError

from .contact_frames import (
    GZIP_MAGIC,
    MATCH_SCHEMA,
    addresses_in_order,
    compact_texts,
    csv_contacts,
    export_frame,
    has_alternates,
    hash_key,
    match_rows,
    wanted_columns,
)
from .models import IDENTIFIER_FIELDS

Positions = npt.NDArray[np.intp]
_GZIP_BLOCK = 262_144  # compressed bytes inflated at a time (~1 MB of CSV text)
_PIECE = 4_194_304  # most text one block may inflate to (a very compressible file)
_PLAIN_BLOCK = 1_048_576  # bytes of a plain CSV taken at a time
_SAMPLE = 1_048_576  # bytes of records whose line count sizes the first chunk
_QUOTE, _NEWLINE = 0x22, 0x0A
_WINDOW = 65_536  # bytes searched for a record end at a time when quotes are about


def _inflate_module() -> ModuleType:
    """ISA-L's zlib (python-isal: inflates twice as fast) when installed, else ``zlib``."""
    try:
        return importlib.import_module("isal.isal_zlib")
    except ImportError:
        return zlib


INFLATE = _inflate_module()


def export_frames(
    data: bytes, file_type: str, *, first_rows: int = 40_000, rows: int = 200_000
) -> Iterator[pl.DataFrame]:
    """The contacts of one downloaded export file, as frames in CONTACT_SCHEMA, in file order:
    the first of about first_rows contacts, the others of about rows; concatenated they are
    exactly export_frame(data, file_type).

    A CSV (gzip or plain) is inflated and parsed only as far as the next frame needs. A broken
    gzip stream raises the ``DestinationError`` ``export_frame`` raises, when the reading gets
    there: the frames yielded before it stay yielded (a caller that acted on them must treat
    the export as incomplete). Other file types are read whole and yielded as one frame."""
    if file_type != "csv":
        yield export_frame(data, file_type)
        return
    records = _RecordRuns(gzip_pieces(data) if data[:2] == GZIP_MAGIC else _plain_pieces(data))
    header = records.take(1)
    columns = wanted_columns(header)
    text, read_bytes, read_contacts = records.take(records.bytes_for(first_rows), header), 0, 0
    while True:
        frame = csv_contacts(text, columns)
        yield frame
        read_bytes += len(text) - len(header)
        read_contacts += frame.height
        size = rows * read_bytes // read_contacts if read_contacts else records.bytes_for(rows)
        text = records.take(max(1, size), header)
        if len(text) == len(header):
            return


def _plain_pieces(data: bytes) -> Iterator[bytes]:
    for at in range(0, len(data), _PLAIN_BLOCK):
        yield data[at : at + _PLAIN_BLOCK]


def gzip_pieces(data: bytes, inflate: ModuleType = INFLATE) -> Iterator[bytes]:
    """The text of gzip ``data`` piece by piece, its members one after another (as polars and
    ``gzip`` read them); a corrupt or cut stream raises ``DestinationError`` where it is found.
    ``inflate``: a module with zlib's ``decompressobj`` and ``error``."""
    view, at = memoryview(data), 0
    try:
        while at < len(data):  # a member
            inflater, tail = inflate.decompressobj(wbits=31), memoryview(b"")
            while not inflater.eof:
                if not tail:
                    if at >= len(data):
                        raise inflate.error("unexpected end of file")
                    tail = view[at : at + _GZIP_BLOCK]
                    at += len(tail)
                yield inflater.decompress(tail, _PIECE)
                tail = inflater.unconsumed_tail
            at -= len(inflater.unused_data)  # the next member starts in the last block
    except inflate.error as exc:
        raise DestinationError(f"a SendGrid export file is corrupt gzip ({exc})") from None


class _RecordRuns:
    """CSV text in pieces in, runs of whole records out (a record ends at a line end outside
    quotes). Only the text not yet handed out is kept, in the pieces it came in."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
        self._pending: list[bytes] = []  # their text starts at the start of a record
        self._size = 0
        self._ended = False

    def bytes_for(self, records: int) -> int:
        """About how many bytes ``records`` records take, judged by the next ~1 MB of text."""
        self._read_past(_SAMPLE)
        sampled = lines = 0
        for piece in self._pending:
            if sampled >= _SAMPLE:
                break
            sampled, lines = sampled + len(piece), lines + piece.count(b"\n")
        return max(1, records * sampled // max(1, lines))

    def take(self, size: int, prefix: bytes = b"") -> bytes:
        """``prefix`` and the next records, up to the end of the one holding the ``size``-th
        byte (all that is left when no record ends after it); just ``prefix`` at the end."""
        wanted = size
        while True:
            self._read_past(wanted)
            end = self._record_end(size - 1)
            if end is not None or self._ended:
                return self._cut(end or (len(self._pending), 0), prefix)
            wanted = 2 * self._size  # a long quoted cell: read on, doubling

    def _record_end(self, at: int) -> tuple[int, int] | None:
        """(piece, offset) just past the end of the record holding pending byte ``at``."""
        odd = False  # whether the quotes before this piece are odd in number
        for index, piece in enumerate(self._pending):
            if at < len(piece):
                end = _record_end(piece, max(at, 0), odd)
                if end is not None:
                    return index, end
            at -= len(piece)
            odd ^= piece.find(b'"') >= 0 and _odd_quotes(np.frombuffer(piece, np.uint8))
        return None

    def _cut(self, end: tuple[int, int], prefix: bytes) -> bytes:
        index, offset = end
        pieces: list[bytes | memoryview] = [*self._pending[:index]]
        rest = self._pending[index:]
        if rest:
            pieces.append(memoryview(rest[0])[:offset])
            rest[0] = rest[0][offset:]
        self._pending = [piece for piece in rest if piece]
        self._size = sum(len(piece) for piece in self._pending)
        return b"".join([prefix, *pieces])  # the one copy of the text

    def _read_past(self, size: int) -> None:
        while self._size <= size and not self._ended:
            piece = next(self._pieces, None)
            self._ended = piece is None
            if piece:
                self._pending.append(piece)
                self._size += len(piece)


def _odd_quotes(codes: npt.NDArray[np.uint8]) -> bool:
    return bool(np.count_nonzero(codes == _QUOTE) % 2)


def _record_end(piece: bytes, at: int, odd: bool) -> int | None:
    """Just past the first line end at or after ``at`` in ``piece`` outside quotes (``odd``:
    the quotes before the piece are odd in number); None when the piece has none."""
    newline = piece.find(b"\n", at)
    if newline < 0 or (not odd and piece.find(b'"', 0, newline) < 0):  # no quote: usual
        return None if newline < 0 else newline + 1
    codes = np.frombuffer(piece, np.uint8)
    odd ^= _odd_quotes(codes[:newline])
    start, width = newline, _WINDOW
    while start < codes.size:  # in windows: a quoted cell is short, the rest of a piece long
        window = codes[start : start + width]
        quote = window == _QUOTE
        odd_before = (np.cumsum(quote, dtype=np.uint8) - quote) % 2 != odd  # uint8 wraps evenly
        outside = np.flatnonzero((window == _NEWLINE) & ~odd_before)
        if outside.size:
            return start + int(outside[0]) + 1
        odd ^= _odd_quotes(window)
        start, width = start + width, 2 * width
    return None


class ChunkMatcher:
    """The wanted emails matched to an export's contacts one chunk at a time, in export order:
    together the chunks' matches are what ``matches_of(emails, all contacts)`` gives."""

    def __init__(self, emails: pl.Series, key: Callable[[pl.Expr], pl.Expr] = hash_key) -> None:
        """emails: the unique normalised emails to look up (any order). ``key``: the 64-bit
        hash the lookup sorts (tests pass a weak one: colliding texts are still told apart)."""
        self._key = key
        self._emails = compact_texts(emails.rename("address"))
        keys = self._keys_of(self._emails)
        self._rows: Positions = np.argsort(keys)  # wanted row of each sorted key
        self._keys = keys[self._rows]
        self._repeated = bool(np.any(self._keys[1:] == self._keys[:-1]))
        no_address = self._emails.is_null() | (self._emails == "")  # no contact has it
        self._taken = no_address.to_numpy()[self._rows]  # by sorted key position
        self._taken_count = int(np.count_nonzero(self._taken))

    def matches(self, contacts: pl.DataFrame) -> pl.DataFrame:
        """MATCH_SCHEMA rows (email, contact_id, entry) of the wanted emails that are an address
        of one of these contacts (the next chunk, in export order), leaving out any email an
        earlier chunk already matched. Rows come in the chunk's order."""
        rows, texts = _addresses(contacts)
        if texts.is_empty() or self._keys.size == 0:
            return pl.DataFrame(schema=MATCH_SCHEMA)
        found, positions = self._lookup(self._keys_of(texts))
        fresh = ~self._taken[positions]
        found, positions = found[fresh], positions[fresh]
        matched = texts.gather(found)
        same = (matched == self._emails.gather(self._rows[positions])).fill_null(False)
        keep = same.to_numpy()
        found, positions, matched = found[keep], positions[keep], matched.filter(same)
        first = self._first_holders(positions)
        if first is not None:
            found, matched = found[first], matched.gather(first)
        if rows is None:  # addresses are the primary emails, one a contact
            joined = contacts.select("contact_id", *IDENTIFIER_FIELDS)[found]
            return match_rows(joined.with_columns(email=matched, address=matched))
        joined = contacts.select("email", "contact_id", *IDENTIFIER_FIELDS)[rows.gather(found)]
        return match_rows(joined.with_columns(address=matched))

    def _keys_of(self, texts: pl.Series) -> npt.NDArray[np.uint64]:
        keyed = texts.to_frame("text").select(self._key(pl.col("text")).cast(pl.UInt64))
        return keyed.to_series().fill_null(0).to_numpy()

    def _lookup(self, keys: npt.NDArray[np.uint64]) -> tuple[Positions, Positions]:
        """Pairs (address index, sorted key position) of equal keys, by address index."""
        order = np.argsort(keys)
        needles = keys[order]
        low = np.searchsorted(self._keys, needles)
        if not self._repeated:  # at most one position a key: scatter them in address order
            low = np.minimum(low, self._keys.size - 1)
            hit = self._keys[low] == needles
            position_of = np.full(keys.size, -1, dtype=np.intp)
            position_of[order[hit]] = low[hit]
            found = np.flatnonzero(position_of >= 0)
            return found, position_of[found]
        counts = np.searchsorted(self._keys, needles, "right") - low
        found = np.repeat(order, counts)
        positions = np.repeat(low - (np.cumsum(counts) - counts), counts) + np.arange(found.size)
        by_address = np.argsort(found, kind="stable")
        return found[by_address], positions[by_address]

    def _first_holders(self, positions: Positions) -> Positions | None:
        """Marks the emails at ``positions`` taken. None when each is there once, else which
        to keep: an email two addresses of the chunk matched (two contacts share it) stays
        with the first (``positions`` are in chunk order)."""
        self._taken[positions] = True
        taken = int(np.count_nonzero(self._taken))
        repeated = taken - self._taken_count < positions.size
        self._taken_count = taken
        return np.sort(np.unique(positions, return_index=True)[1]) if repeated else None


def _addresses(contacts: pl.DataFrame) -> tuple[pl.Series | None, pl.Series]:
    """The contacts' addresses in order (see addresses_in_order) and the row of the contact
    holding each; None for the rows when the addresses are the primary emails, nulls and ""
    included (no wanted email is null or "": they never match)."""
    if not has_alternates(contacts):
        return None, contacts.get_column("email")
    addresses = addresses_in_order(contacts)
    return addresses.get_column("row"), addresses.get_column("address")
