"""Email normalisation: the step between a segment's members and the list they should form.

SendGrid stores emails in lower case and looks them up ignoring case, but it does not rewrite
dots or ``+tags``; one invalid address in a search batch fails the whole call. So before a
diff, every member's email is trimmed, lower-cased and syntax-checked, and people who share an
email become one list entry. Nothing else is rewritten.

The syntax rule (one regex, applied by polars to whole columns and by :func:`is_valid_email`
to single strings; it is deliberately stricter than RFC 5322 so SendGrid never refuses it):

- exactly one ``@``; no whitespace anywhere inside; only ASCII (international addresses are
  refused rather than risk a batch-wide 400);
- local part: 1-64 characters from ``a-z 0-9 + . _ - '``, no leading, trailing or double dot;
- domain: dot-separated labels of letters, digits and hyphens that neither start nor end with
  a hyphen, at least one dot, a top-level domain of two or more letters;
- the whole address at most 254 characters.

Every row that does not become a list entry is kept in ``dropped`` with its reason:
``null`` (null, or empty after trimming), ``invalid`` (fails the rule) or ``duplicate``
(another member has the same normalised email; the member with the smallest key stays).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import polars as pl

from workbench.email_hashing import find_duplicates
from workbench.errors import CatalogError

LOCAL_PART_PATTERN = r"[a-z0-9+_'-]+(?:\.[a-z0-9+_'-]+)*"
DOMAIN_PATTERN = r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}"
EMAIL_PATTERN = f"^{LOCAL_PART_PATTERN}@{DOMAIN_PATTERN}$"
MAX_LOCAL_PART_LENGTH = 64
MAX_EMAIL_LENGTH = 254
# Trimmed from both ends before checking (Unicode White_Space, which is what polars'
# ``strip_chars()`` trims); any whitespace left inside makes the address invalid.
TRIM_CHARS = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

REASON_NULL = "null"
REASON_INVALID = "invalid"
REASON_DUPLICATE = "duplicate"
DROP_REASONS = (REASON_NULL, REASON_INVALID, REASON_DUPLICATE)

_EMAIL_RE = re.compile(EMAIL_PATTERN)
# The same pattern for polars (Rust regex) without Unicode mode: it only holds ASCII classes,
# so it matches exactly the same strings, a little faster.
_COLUMN_EMAIL_PATTERN = f"(?-u){EMAIL_PATTERN}"
_RESERVED_OUTPUT_COLUMNS = ("email", "raw_email", "reason", "duplicate_of")


@dataclass(frozen=True)
class NormalisedEmails:
    """The unique normalised list of a member frame, every dropped row, and the funnel counts.

    ``valid`` has the columns ``<key_column>, email`` (one row per distinct email, ordered by
    key); ``dropped`` has ``<key_column>, raw_email, email, reason, duplicate_of`` (ordered by
    key). ``total == unique_count + dropped.height`` and ``valid_count`` counts rows whose email
    passed the syntax check, duplicates included.
    """

    valid: pl.DataFrame
    dropped: pl.DataFrame
    key_column: str
    total: int
    valid_count: int
    unique_count: int
    by_reason: dict[str, int]

    def funnel(self) -> list[tuple[str, int]]:
        """The coverage funnel steps this normalisation contributes, in order."""
        return [
            ("members", self.total),
            ("valid emails", self.valid_count),
            ("unique after normalisation", self.unique_count),
        ]


def normalised_email_expr(column: str) -> pl.Expr:
    """A polars expression: the column trimmed and lower-cased (empty strings stay empty)."""
    return pl.col(column).str.strip_chars().str.to_lowercase()


def email_is_valid_expr(column: str) -> pl.Expr:
    """A polars expression: whether an already normalised email column passes the rule."""
    email = pl.col(column)
    return (
        email.str.contains(EMAIL_PATTERN)
        & (email.str.len_bytes() <= MAX_EMAIL_LENGTH)
        & (email.str.find("@", literal=True) <= MAX_LOCAL_PART_LENGTH)
    )


def normalise_email(value: str | None) -> str | None:
    """Trim and lower-case one email; None when it is None or empty after trimming."""
    if value is None:
        return None
    cleaned = value.strip(TRIM_CHARS).lower()
    return cleaned or None


def is_valid_email(s: str) -> bool:
    """Whether one address passes the same rule as :func:`normalise_emails` (after trimming
    and lower-casing it the same way)."""
    email = normalise_email(s)
    if email is None or len(email) > MAX_EMAIL_LENGTH or not email.isascii():
        return False
    if _EMAIL_RE.fullmatch(email) is None:
        return False
    return email.index("@") <= MAX_LOCAL_PART_LENGTH


def normalise_emails(
    frame: pl.DataFrame | pl.LazyFrame,
    email_column: str = "email",
    key_column: str = "id",
    *,
    hash_bits: int = 64,
) -> NormalisedEmails:
    """Trim, lower-case, validate and de-duplicate the emails of a member frame.

    Raises ``CatalogError`` when a column is missing or the email column is not text.
    See the module docstring for the rule and the drop reasons. ``hash_bits`` narrows the
    hash used to find duplicates (a test knob that forces collisions; same answer).
    """
    members = _select_members(frame, email_column, key_column)
    checked, is_valid = _check_rows(members)
    duplicates = find_duplicates(checked, np.flatnonzero(is_valid), hash_bits)
    unique = is_valid.copy()
    unique[duplicates.get_column("row").to_numpy()] = False
    valid = checked.select(key_column, "email").filter(pl.Series(unique))
    dropped = pl.concat(
        [
            _rejected_rows(checked, np.flatnonzero(~is_valid), key_column),
            duplicates.select(
                key_column,
                "raw_email",
                "email",
                reason=pl.lit(REASON_DUPLICATE),
                duplicate_of="first",
            ),
        ]
    ).sort(key_column, maintain_order=True)
    return _summarise(members.height, valid, dropped, key_column)


def _rejected_rows(checked: pl.DataFrame, rows: np.ndarray, key_column: str) -> pl.DataFrame:
    """The rows at ``rows`` (ascending) as dropped rows, ``null`` when blank else ``invalid``."""
    blank = pl.col("email").is_null() | (pl.col("email") == "")
    return checked.gather(pl.Series(rows, dtype=pl.UInt64)).select(
        key_column,
        "raw_email",
        email=pl.when(~blank).then(pl.col("email")),
        reason=pl.when(blank).then(pl.lit(REASON_NULL)).otherwise(pl.lit(REASON_INVALID)),
        duplicate_of=pl.lit(None, dtype=checked.schema[key_column]),
    )


def _select_members(
    frame: pl.DataFrame | pl.LazyFrame, email_column: str, key_column: str
) -> pl.DataFrame:
    """The key and raw email columns in key order, after checking they exist and the email
    is text."""
    schema = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
    for role, name in (("email", email_column), ("key", key_column)):
        if name not in schema:
            available = ", ".join(schema.names()) or "(none)"
            raise CatalogError(
                f"the {role} column {name!r} is not in the member frame; "
                f"available columns: {available}"
            )
    if key_column == email_column or key_column in _RESERVED_OUTPUT_COLUMNS:
        raise CatalogError(
            f"the key column {key_column!r} clashes with an output column; rename it first "
            f"(reserved: {', '.join(_RESERVED_OUTPUT_COLUMNS)})"
        )
    email_type = schema[email_column]
    if not (email_type in (pl.String, pl.Null) or isinstance(email_type, pl.Enum | pl.Categorical)):
        raise CatalogError(
            f"the email column {email_column!r} holds {email_type}, not text; "
            "choose the column that holds email addresses"
        )
    selected = (
        frame.lazy()
        .select(pl.col(key_column), pl.col(email_column).cast(pl.String).alias("raw_email"))
        .collect()
    )
    if selected.get_column(key_column).is_sorted(nulls_last=True):
        return selected.rechunk()
    return selected.sort(key_column, maintain_order=True, nulls_last=True).rechunk()


def _check_rows(members: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray]:
    """Every member with its normalised email ("" when blank), and a mask of those that pass.

    Most raw emails already are normalised, valid addresses: one regex over the raw column
    settles those (trimming and lower-casing cannot change a string the rule accepts), so the
    costly trimming, lower-casing and second check run only on the other rows, whose results
    are scattered back in place. The local part's length is checked last, only where it can
    exceed the limit."""
    raw = members.get_column("raw_email")
    is_valid = _plainly_valid(raw)
    others = np.flatnonzero(~is_valid)
    fixed = (
        raw.gather(pl.Series(others, dtype=pl.UInt64))
        .to_frame("email")
        .lazy()
        .select(email=normalised_email_expr("email"))
        .with_columns(is_valid=_passes_rule_expr("email"))
        .collect(engine="streaming")
    )
    is_valid[others] = fixed.get_column("is_valid").to_numpy()
    email = raw.alias("email").scatter(others, fixed.get_column("email"))
    _reject_long_local_parts(email, is_valid)
    return members.with_columns(email), is_valid


def _passes_rule_expr(column: str) -> pl.Expr:
    """The regex and the total length (not the local part's) of a column; false for null."""
    email = pl.col(column)
    return (
        email.str.contains(_COLUMN_EMAIL_PATTERN) & (email.str.len_bytes() <= MAX_EMAIL_LENGTH)
    ).fill_null(False)


def _plainly_valid(raw: pl.Series) -> np.ndarray:
    """A writable mask of the raw emails that pass the rule (but for the local part's length)
    exactly as they are, so they are their own normalised form. The streaming engine splits
    the column into morsels and spreads the regex over all cores."""
    checked = raw.to_frame("raw").lazy().select(_passes_rule_expr("raw"))
    return checked.collect(engine="streaming").to_series().to_numpy(writable=True)


def _reject_long_local_parts(email: pl.Series, is_valid: np.ndarray) -> None:
    """Clear ``is_valid`` where the local part is too long (only long addresses can be)."""
    shortest_domain = len("@a.bc")
    long_rows = (email.str.len_bytes() > MAX_LOCAL_PART_LENGTH + shortest_domain).arg_true()
    if long_rows.is_empty():
        return
    at = email.gather(long_rows).str.find("@", literal=True)
    is_valid[long_rows.filter(at.fill_null(0) > MAX_LOCAL_PART_LENGTH).to_numpy()] = False


def _summarise(
    total: int, valid: pl.DataFrame, dropped: pl.DataFrame, key_column: str
) -> NormalisedEmails:
    """Package the frames with their counts."""
    counts = dict(dropped.get_column("reason").value_counts().iter_rows())
    by_reason = {reason: int(counts.get(reason, 0)) for reason in DROP_REASONS}
    return NormalisedEmails(
        valid=valid,
        dropped=dropped.select(key_column, "raw_email", "email", "reason", "duplicate_of"),
        key_column=key_column,
        total=total,
        valid_count=total - by_reason[REASON_NULL] - by_reason[REASON_INVALID],
        unique_count=valid.height,
        by_reason=by_reason,
    )
