"""Fixtures of ``bench.bench_sync``: a cached customers-only demo warehouse and a fast seeding of
the sandbox's contacts straight through its store layer (one ``executemany`` per layer, not
1,000,000 HTTP requests nor the admin's per-contact checks).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from bench.common import DATA_DIR, REFERENCE_DATE
from workbench.demo import build_demo
from workbench.destinations.sendgrid.sandbox import store
from workbench.destinations.sendgrid.sandbox.store import CONTACT_INSERT, TRUTH, VISIBLE
from workbench.warehouse import file_lock


def cached_warehouse(customers: int, seed: int = 7) -> Path:
    """A demo warehouse of ``customers`` (few orders and events), built once under bench/data/."""
    path = DATA_DIR / f"sync_{customers}_seed{seed}_{REFERENCE_DATE}.duckdb"
    if path.exists():
        return path
    with file_lock(path.with_suffix(".lock")):
        if not path.exists():
            started = time.perf_counter()
            build_demo(
                path,
                customers=customers,
                seed=seed,
                reference_date=REFERENCE_DATE,
                orders_per_customer=0.1,
                events_per_customer=0.1,
            )
            print(f"built {path.name} in {time.perf_counter() - started:.1f} s", flush=True)
    return path


def seed_contacts(state: Path, emails: list[str]) -> None:
    """Store one contact per email (lower case, no other field) in both layers, visible at once.

    Ids (random UUIDs) and emails are each inserted in sorted order, so both unique indexes
    grow by appending (several times faster than random order)."""
    started, now = time.perf_counter(), time.time()
    ids = sorted(str(uuid.uuid4()) for _ in emails)  # both in order: appends to both indexes
    rows = list(zip(ids, sorted(emails), strict=True))
    with store.transaction(state) as conn:
        for layer in (TRUTH, VISIBLE):
            conn.executemany(
                CONTACT_INSERT,
                (
                    (layer, cid, email, None, None, None, '{"alternate_emails": []}', now, now)
                    for cid, email in rows
                ),
            )
    print(f"seeded {len(rows):,} contacts in {time.perf_counter() - started:.1f} s", flush=True)
