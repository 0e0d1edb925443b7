"""Benchmark: build the 5,000,000-customer demo warehouse and report rows and seconds.

Run: ``.venv/bin/python -m bench.bench_demo [--customers N]``. The build goes into a scratch
file under ``bench/data/``; when the cached benchmark warehouse (``bench.common``) is missing,
the fresh build becomes it, so other benchmarks need not build it again (``--refresh-cache``
replaces it after a change to the generator). A time-window count
over ``events`` shows whether the time-ordered layout lets DuckDB prune.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import duckdb

from bench.common import (
    BENCH_EVENTS_PER_CUSTOMER,
    BENCH_ORDERS_PER_CUSTOMER,
    DATA_DIR,
    REFERENCE_DATE,
    bench_warehouse_path,
)
from workbench.demo import build_demo


def _timed_count(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[int, float]:
    """Run a count query; its result and the seconds it took."""
    started = time.perf_counter()
    count = int(con.sql(sql).fetchall()[0][0])
    return count, time.perf_counter() - started


def _window_queries(path: Path) -> dict[str, Any]:
    """Time a 90-day and a whole-table count of purchase events (read-only)."""
    with duckdb.connect(str(path), read_only=True) as con:
        recent, recent_s = _timed_count(
            con,
            "SELECT count(*) FROM events WHERE name = 'purchase' "
            f"AND occurred_at >= DATE '{REFERENCE_DATE}' - INTERVAL 90 DAY",
        )
        total, total_s = _timed_count(con, "SELECT count(*) FROM events WHERE name = 'purchase'")
    return {"purchases_90d": recent, "purchases_90d_s": round(recent_s, 3),
            "purchases_all": total, "purchases_all_s": round(total_s, 3)}  # fmt: skip


def run(customers: int = 5_000_000, seed: int = 42, *, refresh: bool = False) -> dict[str, Any]:
    """Build once, measure; the build becomes the cached warehouse if missing (or ``refresh``)."""
    scratch = DATA_DIR / f"bench_demo_scratch_{os.getpid()}.duckdb"
    summary = build_demo(
        scratch,
        customers=customers,
        seed=seed,
        reference_date=REFERENCE_DATE,
        orders_per_customer=BENCH_ORDERS_PER_CUSTOMER,
        events_per_customer=BENCH_EVENTS_PER_CUSTOMER,
    )
    figures: dict[str, Any] = {
        "customers": customers,
        "rows": summary.rows,
        "build_s": round(summary.seconds, 1),
        "file_mb": round(scratch.stat().st_size / 1e6, 1),
    }
    figures.update(_window_queries(scratch))
    cached = bench_warehouse_path(customers, seed)
    if refresh or not cached.exists():
        os.replace(scratch, cached)  # atomic: readers of the old file keep their handle
    else:
        scratch.unlink()
    return figures


def main() -> None:
    """Command-line entry: print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--refresh-cache",
        action="store_true",
        help="replace the cached warehouse (generator changed)",
    )
    args = parser.parse_args()
    for key, value in run(args.customers, args.seed, refresh=args.refresh_cache).items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
