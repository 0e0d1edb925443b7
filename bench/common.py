"""Shared helpers of the benchmarks: one big demo warehouse, built once and cached.

``bench_warehouse()`` returns the path of a demo warehouse of 5,000,000 customers (reference
date 2026-06-30) under ``bench/data/`` (git-ignored), building it the first time. A file lock
makes two benchmarks started together build it only once.
"""

from __future__ import annotations

from pathlib import Path

from workbench.demo import build_demo
from workbench.warehouse import file_lock

DATA_DIR = Path(__file__).resolve().parent / "data"
REFERENCE_DATE = "2026-06-30"
BENCH_ORDERS_PER_CUSTOMER = 3.0
BENCH_EVENTS_PER_CUSTOMER = 20.0  # 5M customers -> about 15M orders and 100M events


def bench_warehouse_path(customers: int = 5_000_000, seed: int = 42) -> Path:
    """Where the cached warehouse of this size and seed lives (it may not exist yet)."""
    return DATA_DIR / f"demo_{customers}_seed{seed}_{REFERENCE_DATE}.duckdb"


def bench_warehouse(customers: int = 5_000_000, seed: int = 42) -> Path:
    """The big demo warehouse for benchmarks, built on first use (several minutes at 5M)."""
    path = bench_warehouse_path(customers, seed)
    if path.exists():
        return path
    with file_lock(path.with_suffix(".lock")):
        if not path.exists():
            summary = build_demo(
                path,
                customers=customers,
                seed=seed,
                reference_date=REFERENCE_DATE,
                orders_per_customer=BENCH_ORDERS_PER_CUSTOMER,
                events_per_customer=BENCH_EVENTS_PER_CUSTOMER,
            )
            print(f"built {summary}")
    return path
