"""Benchmark: the state store's member snapshot at 1,000,000 rows (write, re-apply, read).

Run: ``.venv/bin/python -m bench.bench_store [--rows N]``. The store goes into a scratch folder
under ``bench/data/`` that is removed afterwards. Emails are generated with a fixed seed and
confirmed in batches of 10,000 like a first full sync, once in random order and once in email
order: B-tree inserts in key order are several times faster (see the figures printed), so a
sync should confirm its additions sorted by email.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any, TypeVar

from bench.common import DATA_DIR
from workbench.store import Store

T = TypeVar("T")
BATCH = 10_000  # members SendGrid confirms per batch in a sync


def members(rows: int, seed: int = 42) -> list[tuple[str, str | None]]:
    """``rows`` distinct (email, contact_id) pairs in random order."""
    rng = random.Random(seed)
    order = list(range(rows))
    rng.shuffle(order)
    return [(f"person{i:08d}@example.com", f"contact-{i}") for i in order]


def run(rows: list[tuple[str, str | None]], label: str) -> None:
    """Confirm, re-apply, read and remove ``rows`` in a fresh store."""
    folder = tempfile.mkdtemp(dir=DATA_DIR, prefix="store-")
    try:
        store = Store(DATA_DIR / folder / "state.sqlite")
        timed(f"confirm_added {len(rows):,} {label}", confirm_in_batches, store, rows)
        timed("re-apply the first 100,000 (no change)", confirm_in_batches, store, rows[:100_000])
        for attempt in (1, 2):
            frame = timed(f"read_snapshot (run {attempt})", store.read_snapshot, "bench")
        print(f"{'rows read':<40} {len(frame):>7,}")
        removed = [r[0] for r in rows[:100_000]]
        timed("confirm_removed 100,000", store.confirm_removed, "bench", removed)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def timed(label: str, action: Callable[..., T], *args: Any) -> T:
    """Run ``action(*args)``, print how long it took, return its result."""
    started = time.perf_counter()
    result = action(*args)
    print(f"{label:<40} {time.perf_counter() - started:7.2f} s")
    return result


def confirm_in_batches(store: Store, rows: list[tuple[str, str | None]]) -> None:
    """Confirm ``rows`` as added, one transaction per batch like a sync."""
    for start in range(0, len(rows), BATCH):
        store.confirm_added("bench", rows[start : start + BATCH], run_id=1)


def main() -> None:
    """Write, re-apply and read a snapshot of ``--rows`` members."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    rows = members(parser.parse_args().rows)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    run(rows, "in random order")
    run(sorted(rows), "in email order")


if __name__ == "__main__":
    main()
