"""The membership diff: which emails to add to a SendGrid list, which to remove, which stay.

Pure functions over polars frames. ``desired`` is the segment's unique normalised emails (from
:func:`workbench.emails.normalise_emails`) with any extra columns (the key, a contact id);
``snapshot`` is the list as last confirmed, with ``email`` and ``contact_id``. The result is
exactly the set difference of the email strings, in both directions, plus the intersection.

How it stays fast at millions of rows: each email is hashed to 64 bits (fixed seed); hash and
row number are packed into one integer so a single integer sort per side orders the rows by
hash, and a merge join of the two sorted sides pairs rows with equal hashes. Every pair is
then confirmed by comparing the email strings, so a hash collision can never turn into a
wrong answer: a collided pair simply is not a match (buckets holding several rows of one side
are settled by string comparison up front). Independent steps run on two threads.

The outputs are sorted by email. When the snapshot is already in email order (as the outputs
of a previous diff are, so store snapshots in that order), the large ``unchanged`` and
``to_remove`` frames keep that order for free; otherwise they are sorted, which costs far more
than the diff itself at millions of rows (string sorts chase pointers).
"""

from __future__ import annotations

from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl

from workbench.emails import email_hashes, rows_by_hash, rows_sharing_a_bucket
from workbench.errors import InputError

EMAIL = "email"
CONTACT_ID = "contact_id"
REASON = "reason"
SNAPSHOT_SUFFIX = "_snapshot"
# Independent steps run side by side on this many threads (polars and numpy release the GIL).
_WORKERS = 2


def empty_skipped() -> pl.DataFrame:
    """An empty frame of skipped emails: ``email``, ``reason``."""
    return pl.DataFrame(schema={EMAIL: pl.String, REASON: pl.String})


def attach_reason(emails: pl.DataFrame | pl.Series, reason: str) -> pl.DataFrame:
    """A frame of emails (a Series, or a frame with an ``email`` column) with a ``reason``
    column set to ``reason``, sorted by email; the shape ``MembershipDiff.skipped`` takes."""
    frame = emails.to_frame(EMAIL) if isinstance(emails, pl.Series) else emails
    if EMAIL not in frame.columns:
        raise InputError(f"no {EMAIL!r} column to attach a reason to: {frame.columns}")
    return frame.with_columns(pl.lit(reason, dtype=pl.String).alias(REASON)).sort(EMAIL)


@dataclass(frozen=True)
class MembershipDiff:
    """What to change on a list: ``to_add`` (desired rows not on the list), ``to_remove``
    (snapshot rows not desired, with their ``contact_id``), ``unchanged`` (in both: the desired
    columns plus the snapshot's, overlapping ones suffixed ``_snapshot``) and ``skipped``
    (emails left out on purpose, with a reason; empty until a later step fills it).
    Every frame is sorted by email."""

    to_add: pl.DataFrame
    to_remove: pl.DataFrame
    unchanged: pl.DataFrame
    skipped: pl.DataFrame = field(default_factory=empty_skipped)

    @property
    def add_count(self) -> int:
        """How many emails should join the list."""
        return self.to_add.height

    @property
    def remove_count(self) -> int:
        """How many contacts should leave the list."""
        return self.to_remove.height

    @property
    def unchanged_count(self) -> int:
        """How many emails are on the list and stay."""
        return self.unchanged.height

    @property
    def skipped_count(self) -> int:
        """How many desired emails are left out, with a reason."""
        return self.skipped.height

    @property
    def counts(self) -> dict[str, int]:
        """All counts by name, for run records and the UI."""
        return {
            "to_add": self.add_count,
            "to_remove": self.remove_count,
            "unchanged": self.unchanged_count,
            "skipped": self.skipped_count,
        }

    def skip(self, skipped: pl.DataFrame) -> MembershipDiff:
        """A new diff where the emails of ``skipped`` (``email``, ``reason``; see
        :func:`attach_reason`) leave ``to_add`` and join ``skipped``. Only emails about to be
        added can be skipped: the others in ``skipped`` are ignored."""
        _require_columns(skipped, "skipped", (EMAIL, REASON))
        reasons = skipped.select(pl.col(EMAIL).cast(pl.String), pl.col(REASON).cast(pl.String))
        leaving = reasons.join(self.to_add.select(EMAIL), on=EMAIL, how="semi")
        return replace(
            self,
            to_add=self.to_add.join(leaving, on=EMAIL, how="anti", maintain_order="left"),
            skipped=pl.concat([self.skipped, leaving]).sort(EMAIL, maintain_order=True),
        )


def diff_members(
    desired: pl.DataFrame, snapshot: pl.DataFrame, *, hash_bits: int = 64
) -> MembershipDiff:
    """Compare the desired members with the list's last confirmed snapshot.

    Both frames need a text ``email`` column without nulls or duplicates; ``snapshot`` also
    needs ``contact_id``. ``hash_bits`` narrows the hash (a test knob that forces
    collisions); the answer is the same for every width. Raises ``InputError``.
    """
    desired = _checked_side(desired, "desired", (EMAIL,))
    snapshot = _checked_side(snapshot, "snapshot", (EMAIL, CONTACT_ID))
    with ThreadPoolExecutor(_WORKERS) as pool:
        ordered_snapshot = pool.submit(_with_email_order_flag, snapshot)
        pairs = _candidate_pairs(
            pool, desired.get_column(EMAIL), snapshot.get_column(EMAIL), hash_bits
        )
        return _confirmed_diff(pool, desired, ordered_snapshot.result(), pairs)


def _checked_side(frame: pl.DataFrame, side: str, required: tuple[str, ...]) -> pl.DataFrame:
    """The frame with a String ``email`` column, after checking its shape."""
    _require_columns(frame, side, required)
    email_type = frame.schema[EMAIL]
    if email_type not in (pl.String, pl.Null) and not isinstance(email_type, pl.Categorical):
        raise InputError(f"the {side} {EMAIL!r} column holds {email_type}, not text")
    # One chunk per column: gathers over many chunks (a Parquet file's row groups) are slow.
    frame = frame.with_columns(pl.col(EMAIL).cast(pl.String)).rechunk()
    nulls = frame.get_column(EMAIL).null_count()
    if nulls:
        raise InputError(
            f"the {side} frame has {nulls} null email(s); drop them first "
            "(workbench.emails.normalise_emails does)"
        )
    return frame


def _require_columns(frame: pl.DataFrame, side: str, required: tuple[str, ...]) -> None:
    """Raise ``InputError`` naming the missing columns and the available ones."""
    missing = [name for name in required if name not in frame.columns]
    if missing:
        raise InputError(
            f"the {side} frame lacks column(s) {', '.join(missing)}; "
            f"it has: {', '.join(frame.columns) or '(none)'}"
        )


def _candidate_pairs(
    pool: Executor, desired: pl.Series, snapshot: pl.Series, hash_bits: int
) -> pl.DataFrame:
    """One-to-one row pairs ``d``, ``s`` (u64) whose emails hash alike, not yet confirmed.

    Pairs from a hash bucket that holds several rows on one side are settled here by
    comparing strings, so what is left pairs each row at most once."""
    row_bits = max(len(desired) - 1, len(snapshot) - 1, 1).bit_length()
    other_side = pool.submit(_side_by_hash, snapshot, "snapshot", hash_bits, row_bits)
    by_hash_d, shared_d = _side_by_hash(desired, "desired", hash_bits, row_bits)
    by_hash_s, shared_s = other_side.result()
    pairs = by_hash_d.join(by_hash_s, on="bucket", how="inner", suffix="_s")
    pairs = pairs.select(d="row", s="row_s")
    if shared_d.is_empty() and shared_s.is_empty():
        return pairs
    ambiguous = pairs.get_column("d").is_in(shared_d.implode()) | pairs.get_column("s").is_in(
        shared_s.implode()
    )
    settled = pairs.filter(ambiguous)
    same = desired.gather(settled.get_column("d")) == snapshot.gather(settled.get_column("s"))
    return pl.concat([pairs.filter(~ambiguous), settled.filter(same)])


def _side_by_hash(
    emails: pl.Series, side: str, hash_bits: int, row_bits: int
) -> tuple[pl.DataFrame, pl.Series]:
    """One side's rows ordered by hash, and the rows that share a hash bucket."""
    by_hash = rows_by_hash(email_hashes(emails, bits=hash_bits), bits=hash_bits, row_bits=row_bits)
    shared = rows_sharing_a_bucket(by_hash)
    _reject_duplicates(emails.gather(shared), side)
    return by_hash, shared


def _confirmed_diff(
    pool: Executor, desired: pl.DataFrame, snapshot: pl.DataFrame, pairs: pl.DataFrame
) -> MembershipDiff:
    """The diff, once the paired emails are compared as strings (a pair of different emails
    that share a hash is no match). ``to_add`` is built meanwhile, and rebuilt if a
    collision turns up."""
    in_snapshot, in_desired, desired_rows = _pair_masks(desired.height, snapshot.height, pairs)
    to_add = pool.submit(_sorted_by_email, desired.filter(pl.Series(~in_snapshot)))
    kept = snapshot.filter(pl.Series(in_desired))
    from_desired = desired.gather(pl.Series(desired_rows))
    same = _equal_emails(pool, kept.get_column(EMAIL), from_desired.get_column(EMAIL))
    if not same.all():
        in_snapshot[desired_rows[~same]] = False
        in_desired[np.flatnonzero(in_desired)[~same]] = False
        kept, from_desired = kept.filter(pl.Series(same)), from_desired.filter(pl.Series(same))
        to_add = pool.submit(_sorted_by_email, desired.filter(pl.Series(~in_snapshot)))
    return MembershipDiff(
        to_add=to_add.result(),
        to_remove=_sorted_by_email(snapshot.filter(pl.Series(~in_desired))),
        unchanged=_sorted_by_email(_unchanged_frame(kept, from_desired)),
    )


def _pair_masks(
    desired_height: int, snapshot_height: int, pairs: pl.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which desired rows are paired, which snapshot rows are, and the desired row paired
    with each paired snapshot row (in snapshot order)."""
    d_rows, s_rows = pairs.get_column("d").to_numpy(), pairs.get_column("s").to_numpy()
    in_snapshot = np.zeros(desired_height, dtype=bool)
    in_snapshot[d_rows] = True
    in_desired = np.zeros(snapshot_height, dtype=bool)
    in_desired[s_rows] = True
    desired_row_of = np.zeros(snapshot_height, dtype=np.uint64)
    desired_row_of[s_rows] = d_rows
    return in_snapshot, in_desired, desired_row_of[in_desired]


def _equal_emails(pool: Executor, left: pl.Series, right: pl.Series) -> np.ndarray:
    """Element-wise equality of two equally long string columns, in two halves at once."""
    half = len(left) // 2
    second = pool.submit(lambda: (left.slice(half) == right.slice(half)).to_numpy())
    first = (left.slice(0, half) == right.slice(0, half)).to_numpy()
    return np.concatenate([first, second.result()])


def _reject_duplicates(shared: pl.Series, side: str) -> None:
    """Raise when an email occurs twice on one side; ``shared`` holds every candidate (the
    emails of rows that share a hash bucket)."""
    repeated = shared.len() - shared.n_unique()
    if repeated:
        raise InputError(
            f"the {side} frame has {repeated} repeated email(s); each email must occur once "
            "(de-duplicate with workbench.emails.normalise_emails)"
        )


def _unchanged_frame(kept: pl.DataFrame, from_desired: pl.DataFrame) -> pl.DataFrame:
    """The desired columns of the matched rows, then the snapshot's other columns (those the
    desired side has too get the suffix ``_snapshot``); the email column is the snapshot's."""
    others = kept.drop(EMAIL)
    clashing = {c: c + SNAPSHOT_SUFFIX for c in others.columns if c in from_desired.columns}
    others = others.rename(clashing)
    columns = [kept.get_column(EMAIL), *from_desired.drop(EMAIL).get_columns()]
    return pl.DataFrame([*columns, *others.get_columns()]).select(
        [*from_desired.columns, *others.columns]
    )


def _with_email_order_flag(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with its email column flagged as sorted when it already is (a cheap scan),
    so that filtered parts of it need no sort."""
    emails = frame.get_column(EMAIL)
    if emails.is_sorted():
        return frame.with_columns(emails.set_sorted())
    return frame


def _sorted_by_email(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame in email order (free when the email column is flagged sorted)."""
    return frame.sort(EMAIL, maintain_order=True).with_columns(pl.col(EMAIL).set_sorted())
