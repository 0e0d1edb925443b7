"""Hashing email columns to 64 bits, and ordering rows by hash: the fast path under
:func:`workbench.emails.normalise_emails` (finding duplicates) and
:func:`workbench.diff.diff_members` (matching two sides).

A 64-bit hash only *proposes* that two emails are equal. Callers confirm: rows that share a
bucket on one side are compared as strings, and pairs across two sides are confirmed by a
second, independent 64-bit hash (:func:`email_check_hashes`).
"""

from __future__ import annotations

import numpy as np
import polars as pl

# Fixed seeds, so results are deterministic. The two are independent: a pair of different
# emails that collides on the first still differs on the second (but for 2**-64).
_HASH_SEED = 0x5EED_E4A1
_CHECK_SEED = 0xC0FF_EE15_0DD5


def email_hashes(emails: pl.Series, *, bits: int = 64) -> pl.Series:
    """64-bit hashes of an email column with a fixed seed (nulls hash to a fixed value).

    ``bits`` below 64 keeps only that many low bits: a test knob that forces collisions, so
    the exact fallbacks of :func:`normalise_emails` and ``diff_members`` get exercised.
    """
    if not 1 <= bits <= 64:
        raise ValueError(f"hash width must be 1..64 bits, got {bits}")
    hashes = emails.hash(_HASH_SEED)
    if bits == 64:
        return hashes
    return pl.select(hashes % pl.lit(2**bits, dtype=pl.UInt64)).to_series()


def rows_by_hash(hashes: pl.Series, *, bits: int = 64, row_bits: int | None = None) -> pl.DataFrame:
    """Row numbers ordered by hash, as two columns ``bucket`` (u64, sorted) and ``row`` (i64,
    numpy's index type, so indexing with them converts nothing).

    Hash and row number are packed into one u64 (the hash's top bits above the row number's
    bits) so one integer sort does the work; ``bucket`` is those top bits. Rows whose emails
    are equal always share a bucket, and inside a bucket rows are in ascending row order.
    A bucket may also hold different emails (a collision): callers compare the strings.
    Two calls give comparable buckets when they get the same ``bits`` and ``row_bits``.
    """
    row_bits = row_bits or max(len(hashes) - 1, 1).bit_length()
    kept_bits = min(bits, 64 - row_bits)
    packed = hashes.to_numpy() >> np.uint64(bits - kept_bits)  # a fresh array: edited in place
    packed <<= np.uint64(row_bits)
    packed |= np.arange(len(hashes), dtype=np.uint64)
    packed.sort()  # keys are unique (row numbers), so stability is moot
    rows = (packed & np.uint64(2**row_bits - 1)).view(np.int64)  # < 2**63: numpy's index type
    packed >>= np.uint64(row_bits)
    return pl.DataFrame([pl.Series("bucket", packed).set_sorted(), pl.Series("row", rows)])


def rows_in_shared_buckets(by_hash: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``by_hash`` whose bucket holds more than one row, still in bucket order."""
    buckets = by_hash.get_column("bucket").to_numpy()
    same_as_next = buckets[1:] == buckets[:-1]
    shared = np.zeros(len(buckets), dtype=bool)
    shared[1:] |= same_as_next
    shared[:-1] |= same_as_next
    return by_hash.filter(pl.Series(shared))


def rows_sharing_a_bucket(by_hash: pl.DataFrame) -> pl.Series:
    """The row numbers (ascending, the type of ``by_hash``'s) whose bucket holds more than one
    row."""
    return rows_in_shared_buckets(by_hash).get_column("row").sort()


def email_check_hashes(emails: pl.Series) -> np.ndarray:
    """A second 64-bit hash of each email, independent of :func:`email_hashes` (another seed),
    as a numpy array: two emails that share a bucket but differ here are different emails."""
    return emails.hash(_CHECK_SEED).to_numpy()
