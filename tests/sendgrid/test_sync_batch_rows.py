"""A stored batch's rows are JSON text parsed once when asked for; a confirmed batch drops the
parsed lists (its rows are in the snapshot) and still knows how many it holds, so a run's
record counts its batches without parsing a million rows again."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl

from workbench.destinations.sendgrid.run_record import tally
from workbench.destinations.sendgrid.sync_batches import add_batches
from workbench.destinations.sendgrid.sync_state import (
    FAILED,
    Batch,
    confirm_batch,
    load_batches,
    save_batches,
)
from workbench.store import Store

SEED = 5


def _stored_adds(store: Store, count: int, per_batch: int) -> list[Batch]:
    """``count`` planned upserts (shuffled, fixed seed) stored and loaded back."""
    ids = list(range(count))
    random.Random(SEED).shuffle(ids)
    to_add = pl.DataFrame(
        {
            "email": [f"p{i:05d}@example.com" for i in ids],
            "contact_id": [f"id-{i:05d}" for i in ids],
            "entry": [json.dumps({"email": f"p{i:05d}@example.com"}) for i in ids],
        }
    )
    save_batches(store, add_batches(1, to_add, per_batch, 6_000_000))
    return load_batches(store, 1)


def test_a_stored_batchs_rows_are_parsed_once(tmp_path: Path) -> None:
    (batch, *_) = _stored_adds(Store(tmp_path / "state.sqlite"), 50, 20)
    emails = batch.emails
    assert batch.emails is emails and len(emails) == batch.size == 20
    assert batch.contact_ids is batch.contact_ids


def test_a_confirmed_batch_drops_its_rows_and_still_knows_them(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite")
    (batch, *_) = _stored_adds(store, 50, 20)
    emails, contact_ids = list(batch.emails), list(batch.contact_ids)
    held = batch.emails
    confirm_batch(store, "act", batch, set())
    assert batch.size == 20
    again = batch.emails  # parsed anew from the stored text: the same rows
    assert again is not held and again == emails and batch.contact_ids == contact_ids
    assert set(store.read_snapshot("act").rows()) == set(zip(emails, contact_ids, strict=True))


def test_a_batch_given_new_rows_counts_them(tmp_path: Path) -> None:
    (batch, *_) = _stored_adds(Store(tmp_path / "state.sqlite"), 50, 20)
    assert batch.size == 20
    batch.emails, batch.contact_ids = batch.emails[3:], batch.contact_ids[3:]
    assert batch.size == 17


def test_the_tally_of_confirmed_batches_counts_every_row(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite")
    first, second, third = _stored_adds(store, 50, 20)
    second.outcome["row_errors"] = {second.emails[0]: "invalid email"}
    for batch in (first, second):
        confirm_batch(store, "act", batch, set())
    third.status = FAILED
    removal = Batch(1, 9, "remove", ["gone@example.com"], ["id-gone"])
    confirm_batch(store, "act", removal, set())
    assert tally([first, second, third, removal]) == {"added": 39, "removed": 1, "failed": 11}
