"""The membership diff: which emails to add to a SendGrid list, which to remove, which stay.

Pure functions over polars frames. ``desired`` is the segment's unique normalised emails (from
:func:`workbench.emails.normalise_emails`) with any extra columns (the key, a contact id);
``snapshot`` is the list as last confirmed, with ``email`` and ``contact_id``. The result is
the set difference of the email strings, in both directions, plus the intersection: exact,
but for a 2**-64 chance per hash collision (see :mod:`workbench.diff_matching`).

How it stays fast at millions of rows: see :mod:`workbench.diff_matching`, which pairs the
rows holding the same email by hashing; this module cuts the frames from those pairs.
Independent steps run on two threads.

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

from workbench.diff_matching import Matches, match_rows, matched_masks, same_check_sums
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
    needs ``contact_id``. ``hash_bits`` narrows the first hash (a test knob that forces
    collisions); the answer is the same for every width. Raises ``InputError``.
    """
    desired = _checked_side(desired, "desired", (EMAIL,))
    snapshot = _checked_side(snapshot, "snapshot", (EMAIL, CONTACT_ID))
    with ThreadPoolExecutor(_WORKERS) as pool:
        ordered_snapshot = pool.submit(_with_email_order_flag, snapshot)
        matches = match_rows(pool, desired.get_column(EMAIL), snapshot.get_column(EMAIL), hash_bits)
        return _diff_from_matches(pool, desired, ordered_snapshot.result(), matches)


def _checked_side(frame: pl.DataFrame, side: str, required: tuple[str, ...]) -> pl.DataFrame:
    """The frame with a String ``email`` column, after checking its shape."""
    _require_columns(frame, side, required)
    email_type = frame.schema[EMAIL]
    if email_type not in (pl.String, pl.Null) and not isinstance(email_type, pl.Categorical):
        raise InputError(f"the {side} {EMAIL!r} column holds {email_type}, not text")
    frame = frame.with_columns(pl.col(EMAIL).cast(pl.String))
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


def _diff_from_matches(
    pool: Executor, desired: pl.DataFrame, snapshot: pl.DataFrame, matches: Matches
) -> MembershipDiff:
    """The three frames, from the matched rows: ``to_add`` and the desired columns of the
    unchanged rows on the two workers, while this thread cuts ``to_remove`` and the rest of
    ``unchanged`` out of the snapshot, in its own order."""
    in_snapshot, in_desired = matched_masks(desired.height, snapshot.height, matches)
    if not same_check_sums(matches, in_snapshot, in_desired):
        matches = matches.confirmed_by_check_hashes()
        in_snapshot, in_desired = matched_masks(desired.height, snapshot.height, matches)
    to_add = pool.submit(lambda: _sorted_by_email(desired.filter(pl.Series(~in_snapshot))))
    from_desired = pool.submit(_desired_columns_of, desired, matches, in_desired)
    kept = snapshot.filter(pl.Series(in_desired))
    to_remove = _sorted_by_email(snapshot.filter(pl.Series(~in_desired)))
    unchanged = _unchanged_frame(kept, from_desired.result(), desired.columns)
    return MembershipDiff(
        to_add=to_add.result(), to_remove=to_remove, unchanged=_sorted_by_email(unchanged)
    )


def _desired_columns_of(
    desired: pl.DataFrame, matches: Matches, in_desired: np.ndarray
) -> pl.DataFrame:
    """The desired side's columns other than the email, for the matched snapshot rows in
    snapshot order (an empty frame when the desired side has no other column)."""
    others = desired.drop(EMAIL)
    if not others.columns:
        return others.clear(int(in_desired.sum()))
    desired_row_of = np.empty(len(in_desired), dtype=matches.d_rows.dtype)
    desired_row_of[matches.s_rows] = matches.d_rows
    rows = desired_row_of[in_desired]
    # One chunk per column first: gathers across many chunks (a Parquet file's row groups) are
    # slow.
    return pl.DataFrame([column.rechunk().gather(rows) for column in others.get_columns()])


def _unchanged_frame(
    kept: pl.DataFrame, from_desired: pl.DataFrame, desired_columns: list[str]
) -> pl.DataFrame:
    """The desired columns in their order (the email from ``kept``, the others from
    ``from_desired``, matched row by row), then the kept snapshot rows' other columns (those
    the desired side has too get the suffix ``_snapshot``). Built column by column: the
    columns may be cut into chunks differently, and reordering them would copy them all."""
    others = kept.drop(EMAIL)
    clashing = {c: c + SNAPSHOT_SUFFIX for c in others.columns if c in from_desired.columns}
    others = others.rename(clashing)
    desired_part = [
        kept.get_column(EMAIL) if name == EMAIL else from_desired.get_column(name)
        for name in desired_columns
    ]
    return pl.DataFrame([*desired_part, *others.get_columns()])


def _with_email_order_flag(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with its email column flagged as sorted when it already is (a cheap scan),
    so that filtered parts of it need no sort."""
    emails = frame.get_column(EMAIL)
    if emails.is_sorted():
        return frame.with_columns(emails.set_sorted())
    return frame


def _sorted_by_email(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame in email order (free when the email column is flagged sorted: then it is
    returned as it is, since even re-flagging a column can copy a frame whose columns are
    chunked differently)."""
    if frame.get_column(EMAIL).flags["SORTED_ASC"]:
        return frame
    return frame.sort(EMAIL, maintain_order=True).with_columns(pl.col(EMAIL).set_sorted())
