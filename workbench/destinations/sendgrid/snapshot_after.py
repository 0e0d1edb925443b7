"""The member snapshot a run leaves, computed from the one it started from and what SendGrid
confirmed, so that the next run (or preview) finds its columnar copy ready instead of reading
a million rows out of SQLite (``workbench.store_snapshot_cache``).

It applies exactly what the store's ``confirm_added`` / ``confirm_removed`` did: the emails
the plan forgot and the emails of confirmed removals leave; the rows of confirmed upserts
(less the rows SendGrid refused) join, keeping a known contact id when the new one is missing.
The store checks the result against its row count before keeping it.
"""

from __future__ import annotations

import logging

import polars as pl

from workbench.store import SNAPSHOT_SCHEMA, Store

from .sync import SyncPlan
from .sync_state import CONFIRMED, Batch

log = logging.getLogger(__name__)


def snapshot_after(
    before: pl.DataFrame, forgotten: pl.Series, batches: list[Batch]
) -> pl.DataFrame:
    """``before`` (email-sorted) after forgetting ``forgotten`` and applying the confirmed
    ``batches``; sorted by email."""
    done = [b for b in batches if b.status == CONFIRMED]
    leaving = pl.concat(
        [
            forgotten.cast(pl.Utf8),
            *(pl.Series(b.emails, dtype=pl.Utf8) for b in done if b.kind == "remove"),
        ]
    )
    joining = pl.concat(
        [
            pl.DataFrame(schema=SNAPSHOT_SCHEMA),
            *(_confirmed_rows(b) for b in done if b.kind == "add"),
        ]
    ).unique("email", keep="last", maintain_order=True)
    kept = before.select(list(SNAPSHOT_SCHEMA)).filter(~pl.col("email").is_in(leaving.implode()))
    if joining.is_empty():
        return kept
    known = joining.join(kept, on="email", how="left", suffix="_known").select(
        "email", contact_id=pl.coalesce("contact_id", "contact_id_known")
    )
    rest = kept.join(joining, on="email", how="anti", maintain_order="left")
    if not known.get_column("email").is_sorted():
        known = known.sort("email")
    return rest.merge_sorted(known, key="email")


def _confirmed_rows(batch: Batch) -> pl.DataFrame:
    """``email, contact_id`` of an add batch's rows that SendGrid took (refused ones left out)."""
    rows = pl.DataFrame(
        {"email": batch.emails, "contact_id": batch.contact_ids}, schema=SNAPSHOT_SCHEMA
    )
    refused = list(batch.outcome.get("row_errors") or {})
    return rows.filter(~pl.col("email").is_in(refused)) if refused else rows


def keep_snapshot_copy(store: Store, activation: str, plan: SyncPlan, batches: list[Batch]) -> bool:
    """Keep the columnar copy of the snapshot a run left (the caller holds the activation's
    lock, so nobody else changed it); False when the store's row count disagrees. Only ever
    a matter of speed: a failure is logged, and the next read goes to SQLite."""
    try:
        after = snapshot_after(plan.snapshot, plan.to_forget.get_column("email"), batches)
        return store.cache_snapshot(activation, after)
    except (pl.exceptions.PolarsError, OSError):
        log.warning("no copy kept of the snapshot of %s", activation, exc_info=True)
        return False
