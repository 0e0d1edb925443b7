"""Splitting a plan into request-sized batches: upserts within 30,000 contacts AND 6 MB, removals
of at most 100 contact ids.

Additions are cut column-wise: each contact's upsert entry (JSON text from the planner) counts
its bytes once, the cumulative sums of bytes and contacts are searched for each cut, and a
batch's ``entries_json`` is its entries joined and its rows are JSON text (``Batch.rows_json``):
no per-row Python work at a million rows. When no email or contact id needs a JSON escape (the
usual case, tested on each batch's joined text), each batch's rows are its slice of the columns
joined as text, byte for byte what polars' ``json_encode`` writes (2-3x faster at 933k rows);
otherwise polars encodes them. All rows
of one contact (a contact matched through several emails) stay in one batch, so confirming a
batch never records a member whose upsert is in another batch.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import polars as pl

from workbench.errors import InvalidRequest

from .batching import REMOVE_MAX_IDS, chunks, json_size, upsert_body
from .contact_frames import plain_json_text
from .sync_state import Batch

LIST_ID_CHARS = 36  # SendGrid list ids are UUIDs: the body overhead is sized for one


def plan_batches(
    run_id: int,
    to_add: pl.DataFrame,
    to_remove: pl.DataFrame,
    *,
    max_contacts: int,
    max_bytes: int,
) -> list[Batch]:
    """Split a plan's rows into request-sized batches: adds first, then removals."""
    batches = add_batches(run_id, to_add, max_contacts, max_bytes)
    removals = to_remove.filter(pl.col("contact_id").is_not_null())
    groups = removals.group_by("contact_id", maintain_order=True).agg("email").rows()
    for chunk in chunks(groups, REMOVE_MAX_IDS):  # at most 100 ids; every email of each id
        rows = [(email, contact_id) for contact_id, emails in chunk for email in emails]
        batches.append(
            Batch(run_id, len(batches), "remove", [r[0] for r in rows], [r[1] for r in rows])
        )
    return batches


def add_batches(
    run_id: int, to_add: pl.DataFrame, max_contacts: int, max_bytes: int
) -> list[Batch]:
    """``to_add`` (``email, contact_id, entry``) as upsert batches within both limits."""
    if to_add.is_empty():
        return []
    rows = _contacts_together(to_add)
    first = rows.get_column("first_of_contact").to_numpy()
    sizes = np.where(first, rows.get_column("entry").str.len_bytes().to_numpy() + 2, 0)
    budget = max_bytes - json_size(upsert_body("x" * LIST_ID_CHARS, []))
    cum_bytes = np.cumsum(sizes, dtype=np.int64)  # searched with an int: unsigned copied the array
    cuts = _cuts(cum_bytes, np.cumsum(first, dtype=np.int64), budget, max_contacts)
    batches = []
    for seq, (start, end) in enumerate(pairwise(cuts)):
        batch = _joined_batch(run_id, seq, rows.slice(start, end - start))
        if batch is None:  # a text needs escapes: polars encodes them all, as it always did
            return _encoded_batches(run_id, rows, cuts)
        batches.append(batch)
    return batches


def _joined_batch(run_id: int, seq: int, part: pl.DataFrame) -> Batch | None:
    """The add batch of ``part``, its rows' texts joined column-wise; None when an email or
    contact id is missing or needs a JSON escape (polars then encodes every batch)."""
    texts = []
    for name in ("email", "contact_id"):
        column = part.get_column(name)
        text = column.str.join('","').item()
        quotes = 2 * (column.len() - 1)  # the separators'
        plain = text.isascii() and plain_json_text(text.encode("ascii"), quotes)
        if column.null_count() or not plain:
            return None
        texts.append(text)
    entries = part.get_column("entry").filter(part.get_column("first_of_contact"))
    return Batch(
        run_id,
        seq,
        "add",
        entries_json=f"[{entries.str.join(', ').item()}]",
        rows_json=f'{{"emails":["{texts[0]}"],"contact_ids":["{texts[1]}"]}}',
    )


def _encoded_batches(run_id: int, rows: pl.DataFrame, cuts: list[int]) -> list[Batch]:
    """The add batches of ``rows`` cut at ``cuts``, their rows encoded by polars."""
    numbered = rows.with_columns(
        batch=pl.Series(np.repeat(np.arange(len(cuts) - 1), np.diff(cuts)))
    )
    texts = numbered.group_by("batch", maintain_order=True).agg(
        emails="email",
        contact_ids="contact_id",
        entries=pl.col("entry").filter(pl.col("first_of_contact")).str.join(", "),
    )
    heads = texts.select(pl.struct("emails", "contact_ids").struct.json_encode()).to_series()
    return [
        Batch(run_id, seq, "add", entries_json=f"[{entries}]", rows_json=head)
        for seq, (head, entries) in enumerate(zip(heads, texts.get_column("entries"), strict=True))
    ]


def _contacts_together(to_add: pl.DataFrame) -> pl.DataFrame:
    """The rows in their order, except that later rows of a contact follow its first row;
    ``first_of_contact`` marks the row that carries the contact's entry."""
    if _all_distinct(to_add.get_column("contact_id")):  # one row per contact
        return to_add.with_columns(first_of_contact=pl.lit(True))
    numbered = to_add.with_row_index("row").with_columns(
        first=pl.col("row").min().over("contact_id")
    )
    numbered = numbered.sort("first", "row")
    return numbered.with_columns(first_of_contact=pl.col("row") == pl.col("first"))


def _all_distinct(values: pl.Series) -> bool:
    """Whether no value repeats. Distinct 64-bit hashes prove it at once (counting 933k
    distinct hashes takes a tenth of counting the texts); repeated hashes are checked."""
    return values.hash().n_unique() == values.len() or values.n_unique() == values.len()


def _cuts(cum_bytes: np.ndarray, cum_contacts: np.ndarray, budget: int, most: int) -> list[int]:
    """Row positions where batches start (and the end): greedy, each batch as full as both
    limits allow; a cut always falls on a contact's first row."""
    cuts, start, n = [0], 0, len(cum_bytes)
    while start < n:
        base_bytes = int(cum_bytes[start - 1]) if start else 0
        base_contacts = int(cum_contacts[start - 1]) if start else 0
        end = min(
            int(np.searchsorted(cum_bytes, base_bytes + budget, side="right")),
            int(np.searchsorted(cum_contacts, base_contacts + most, side="right")),
        )
        if end <= start:
            raise InvalidRequest(
                f"one contact's upsert entry is over the {budget:,}-byte request budget: this "
                "contact cannot be sent"
            )
        cuts.append(end)
        start = end
    return cuts
