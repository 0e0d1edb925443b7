"""Pairing the rows of two email columns that hold the same email, by hashing: the fast core
of :func:`workbench.diff.diff_members`.

How it stays fast at millions of rows: each email is hashed to 64 bits (fixed seed); hash and
row number are packed into one integer so a single integer sort per side orders the rows by
hash, and a merge join of the two sorted sides pairs rows whose hashes share a bucket. A bucket
holding several rows of one side is settled by comparing the strings. The one-to-one pairs are
confirmed by a second, independent 64-bit hash of every email ("check hash"), without looking
any pair up: the check hashes of the matched rows are summed on each side in its own order,
and equal emails contribute equally, so a pair of different emails that collided on the first
hash shows as unequal sums; then, and only then, pairs are compared one by one and the
collided ones dropped. A wrong answer needs two different emails that collide on both hashes
and leave the sums equal, a chance of about 2**-64 for each first-hash collision (at 5M
emails per side and 5% churn, a run needs the one-by-one check about once in 35). Comparing
every pair's strings instead would read the desired side's strings in random order, which
costs more than the rest of the diff.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from workbench.email_hashing import (
    email_check_hashes,
    email_hashes,
    rows_by_hash,
    rows_in_shared_buckets,
)
from workbench.errors import InputError


@dataclass(frozen=True)
class HashedSide:
    """One side's rows in hash order (``bucket``, ``row``), the buckets holding several of its
    rows, and every row's check hash."""

    by_hash: pl.DataFrame
    shared_buckets: pl.Series
    check: np.ndarray


@dataclass(frozen=True)
class Matches:
    """Row numbers of the desired and snapshot rows holding the same email (one pair per
    email), and each side's check hashes."""

    d_rows: np.ndarray
    s_rows: np.ndarray
    d_check: np.ndarray
    s_check: np.ndarray

    def confirmed_by_check_hashes(self) -> Matches:
        """Only the pairs whose check hashes agree (the others are hash collisions)."""
        same = self.d_check[self.d_rows] == self.s_check[self.s_rows]
        return replace(self, d_rows=self.d_rows[same], s_rows=self.s_rows[same])


def match_rows(pool: Executor, desired: pl.Series, snapshot: pl.Series, hash_bits: int) -> Matches:
    """Pair the rows whose first hashes share a bucket (a merge join of the two hash-ordered
    sides). A bucket holding several rows on one side is settled here by comparing the
    strings; one-to-one pairs are checked later, all at once (:func:`same_check_sums`)."""
    row_bits = max(len(desired) - 1, len(snapshot) - 1, 1).bit_length()
    other_side = pool.submit(_hashed_side, snapshot, "snapshot", hash_bits, row_bits)
    mine, theirs = _hashed_side(desired, "desired", hash_bits, row_bits), other_side.result()
    pairs = mine.by_hash.join(theirs.by_hash, on="bucket", how="inner", suffix="_s")
    d_rows, s_rows = pairs.get_column("row").to_numpy(), pairs.get_column("row_s").to_numpy()
    shared = pl.concat([mine.shared_buckets, theirs.shared_buckets])
    if not shared.is_empty():
        ambiguous = pairs.get_column("bucket").is_in(shared.implode()).arg_true().to_numpy()
        same = desired.gather(d_rows[ambiguous]) == snapshot.gather(s_rows[ambiguous])
        collided = ambiguous[~same.to_numpy()]
        if len(collided):
            keep = np.ones(len(d_rows), dtype=bool)
            keep[collided] = False
            d_rows, s_rows = d_rows[keep], s_rows[keep]
    return Matches(d_rows, s_rows, mine.check, theirs.check)


def _hashed_side(emails: pl.Series, side: str, hash_bits: int, row_bits: int) -> HashedSide:
    """Hash one side twice and order its rows by the first hash; refuse repeated emails."""
    by_hash = rows_by_hash(email_hashes(emails, bits=hash_bits), bits=hash_bits, row_bits=row_bits)
    shared = rows_in_shared_buckets(by_hash)
    _reject_duplicates(emails.gather(shared.get_column("row")), side)
    return HashedSide(by_hash, shared.get_column("bucket").unique(), email_check_hashes(emails))


def matched_masks(
    desired_height: int, snapshot_height: int, matches: Matches
) -> tuple[np.ndarray, np.ndarray]:
    """Which desired rows are matched, and which snapshot rows are."""
    in_snapshot = np.zeros(desired_height, dtype=bool)
    in_snapshot[matches.d_rows] = True
    in_desired = np.zeros(snapshot_height, dtype=bool)
    in_desired[matches.s_rows] = True
    return in_snapshot, in_desired


def same_check_sums(matches: Matches, in_snapshot: np.ndarray, in_desired: np.ndarray) -> bool:
    """Whether the check hashes of the matched rows add up to the same sum on both sides
    (modulo 2**64), read in each side's own order, so no pair has to be looked up.

    Truly equal pairs contribute equal check hashes, so a pair of different emails that
    collided on the first hash shows as unequal sums (but for a 2**-64 chance)."""
    mine = np.add.reduce(matches.d_check, where=in_snapshot, dtype=np.uint64)
    theirs = np.add.reduce(matches.s_check, where=in_desired, dtype=np.uint64)
    return bool(mine == theirs)


def _reject_duplicates(shared: pl.Series, side: str) -> None:
    """Raise when an email occurs twice on one side; ``shared`` holds every candidate (the
    emails of rows that share a hash bucket)."""
    repeated = shared.len() - shared.n_unique()
    if repeated:
        raise InputError(
            f"the {side} frame has {repeated} repeated email(s); each email must occur once "
            "(de-duplicate with workbench.emails.normalise_emails)"
        )
