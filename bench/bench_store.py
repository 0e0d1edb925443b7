"""Benchmark: the state store's member snapshot at 1,000,000 rows, and a sync's persisted plan.

Run: ``.venv/bin/python -m bench.bench_store [--rows N] [--random-order]``. The store goes into
a scratch folder under ``bench/data/`` that is removed afterwards. Emails are generated with a
fixed seed and confirmed in batches of 30,000 (one upsert's worth) like a first full sync, in
email order (as a sync confirms them; ``--random-order`` adds a run in random order: B-tree
inserts in key order are several times faster).

The baseline, in the same run on the same rows: the previous ``confirm_added`` (one
``executemany`` row per member, ``LEGACY_CONFIRM``). Each step prints wall and CPU seconds;
the machine is shared, so CPU is the steadier figure. Also timed: persisting and loading a
1,000,000-row plan as the sync's batches (``save_batches`` / ``load_batches``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from bench.common import DATA_DIR
from workbench.destinations.sendgrid.sync_batches import plan_batches
from workbench.destinations.sendgrid.sync_state import load_batches, save_batches
from workbench.store import Store

T = TypeVar("T")
BATCH = 30_000  # members SendGrid confirms per upsert batch in a sync
LEGACY_CONFIRM = (
    "INSERT INTO snapshot_members (activation, email, contact_id, added_run) "
    "VALUES (?, ?, ?, ?) ON CONFLICT(activation, email) DO UPDATE SET "
    "contact_id = coalesce(excluded.contact_id, contact_id)"
)


def members(rows: int, seed: int = 42) -> list[tuple[str, str | None]]:
    """``rows`` distinct (email, contact_id) pairs in random order."""
    rng = random.Random(seed)
    order = list(range(rows))
    rng.shuffle(order)
    return [(f"person{i:08d}@example.com", f"{i:08x}-0000-4000-8000-{i:012x}") for i in order]


def fresh_store() -> tuple[Store, str]:
    """A new store in a scratch folder (remove the folder afterwards)."""
    folder = tempfile.mkdtemp(dir=DATA_DIR, prefix="store-")
    return Store(Path(folder) / "state.sqlite"), folder


def legacy_confirm(store: Store, rows: list[tuple[str, str | None]]) -> None:
    """The previous ``confirm_added``: one executemany row per member (the baseline)."""
    with store.transaction() as con:
        con.executemany(LEGACY_CONFIRM, [("bench", e, c, 1) for e, c in rows])


def run(rows: list[tuple[str, str | None]], label: str) -> None:
    """Confirm (baseline, then ours), re-apply, read and remove ``rows`` in fresh stores."""
    baseline, folder = fresh_store()
    try:
        timed(f"baseline confirm {len(rows):,} {label}", in_batches, legacy_confirm, baseline, rows)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    store, folder = fresh_store()
    try:
        confirm = lambda s, r: s.confirm_added("bench", r, run_id=1)  # noqa: E731
        timed(f"confirm_added {len(rows):,} {label}", in_batches, confirm, store, rows)
        timed("re-apply the first 90,000 (no change)", in_batches, confirm, store, rows[:90_000])
        for attempt in (1, 2):
            frame = timed(f"read_snapshot (run {attempt})", store.read_snapshot, "bench")
        print(f"{'rows read':<44} {len(frame):>9,}")
        removed = [r[0] for r in rows[:100_000]]
        timed("confirm_removed 100,000", store.confirm_removed, "bench", removed)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def plan_round_trip(rows: list[tuple[str, str | None]]) -> None:
    """Persist a plan adding ``rows`` as the sync's batches, and load it back."""
    to_add = pl.DataFrame(
        [(e, c, json.dumps({"email": e})) for e, c in rows],
        schema=["email", "contact_id", "entry"],
        orient="row",
    )
    removals = pl.DataFrame(schema={"email": pl.String, "contact_id": pl.String})
    store, folder = fresh_store()
    try:
        batches = timed(
            f"plan_batches {len(rows):,} adds",
            lambda: plan_batches(1, to_add, removals, max_contacts=30_000, max_bytes=6_000_000),
        )
        timed(f"save_batches ({len(batches)} batches)", save_batches, store, batches)
        loaded = timed("load_batches", load_batches, store, 1)
        assert sum(len(b.emails) for b in loaded) == len(rows)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def timed(label: str, action: Callable[..., T], *args: Any) -> T:
    """Run ``action(*args)``, print its wall and CPU seconds, return its result."""
    started, cpu = time.perf_counter(), time.process_time()
    result = action(*args)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"{label:<44} {wall:7.2f} s wall {cpu:7.2f} s CPU")
    return result


def in_batches(
    confirm: Callable[[Store, list[tuple[str, str | None]]], None],
    store: Store,
    rows: list[tuple[str, str | None]],
) -> None:
    """Confirm ``rows`` one transaction per batch, like a sync."""
    for start in range(0, len(rows), BATCH):
        confirm(store, rows[start : start + BATCH])


def main() -> None:
    """Write, re-apply and read a snapshot of ``--rows`` members; persist a plan of them."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--random-order", action="store_true", help="also confirm in random order")
    args = parser.parse_args()
    rows = members(args.rows)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    ordered = sorted(rows)
    run(ordered, "in email order")
    if args.random_order:
        run(rows, "in random order")
    plan_round_trip(ordered)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
