"""Hashing email columns to 64 bits, and ordering rows by hash: the fast path under
:func:`workbench.emails.normalise_emails` (its de-duplication, :func:`find_duplicates`, is
here) and :func:`workbench.diff.diff_members` (matching two sides).

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


def email_check_hashes(emails: pl.Series) -> np.ndarray:
    """A second 64-bit hash of each email, independent of :func:`email_hashes` (another seed),
    as a numpy array: two emails that share a bucket but differ here are different emails."""
    return emails.hash(_CHECK_SEED).to_numpy()


def find_duplicates(checked: pl.DataFrame, valid_rows: np.ndarray, hash_bits: int) -> pl.DataFrame:
    """The valid rows that repeat the email of a row before them, in row order, with ``row``
    (their position in ``checked``) and ``first`` (the key of the first row with that email).
    ``checked`` is the members after trimming and lower-casing: the key column first, then
    ``email``; ``valid_rows`` the positions of those whose email passed the rule.

    Rows alone in their hash bucket are representatives without further work; only rows that
    share a bucket are compared as strings, so a hash collision never merges two emails.
    """
    hashes = email_hashes(checked.get_column("email"), bits=hash_bits).to_numpy()[valid_rows]
    by_hash = rows_by_hash(pl.Series(hashes, dtype=pl.UInt64), bits=hash_bits)
    shared = rows_in_shared_buckets(by_hash)
    positions = valid_rows[shared.get_column("row").to_numpy()]
    return _duplicates_in_shared_buckets(checked, positions, shared.get_column("bucket").to_numpy())


def _duplicates_in_shared_buckets(
    checked: pl.DataFrame, positions: np.ndarray, bucket: np.ndarray
) -> pl.DataFrame:
    """The rows at ``positions`` (those sharing a hash bucket, in bucket order) that repeat the
    email of a smaller row, in row order, with ``row`` and ``first`` (see find_duplicates).

    A bucket whose emails all equal its first row's is settled by position (rows ascend
    inside a bucket); a bucket holding different emails (a collision) is grouped by string."""
    key_column = checked.columns[0]
    if len(positions) == 0:
        return checked.clear().with_columns(
            row=pl.lit(0, dtype=pl.UInt64), first=pl.col(key_column)
        )
    starts_run = np.concatenate([[True], bucket[1:] != bucket[:-1]])
    run = np.cumsum(starts_run) - 1
    first_position = np.flatnonzero(starts_run)[run]
    row = pl.Series("row", positions, dtype=pl.UInt64)
    rows = checked.gather(row).with_columns(row)
    firsts = rows.gather(pl.Series(first_position))
    same = (rows.get_column("email") == firsts.get_column("email")).to_numpy()
    pure = ~np.isin(run, run[~same])
    settled = rows.with_columns(first=firsts.get_column(key_column)).filter(
        pl.Series(pure & ~starts_run)
    )
    mixed = rows.filter(pl.Series(~pure)).sort("row")
    mixed = mixed.with_columns(first=pl.col(key_column).first().over("email")).filter(
        ~pl.col("email").is_first_distinct()
    )
    return pl.concat([settled, mixed]).sort("row")
