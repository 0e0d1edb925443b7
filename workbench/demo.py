"""The demo warehouse: customers, orders and events generated inside DuckDB, deterministically.

Every random choice is a hash of (key, seed, salt) turned into a number in [0, 1), so the same
seed, size and reference date give identical rows on any number of threads (``random()`` would
not be). All timestamps lie
in the two years before the reference date (strictly before its midnight). Orders and events are
written in time order so DuckDB's zone maps prune time-window scans. The emails carry a few
percent of real-world mess (nulls, mixed case, spaces, duplicates by case, invalid addresses)
besides valid plus-addresses; ``country``, ``last_seen_at`` and ``lifetime_value`` have nulls.

``python -m workbench demo`` builds it at the configured warehouse path.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from workbench.catalog import EntitySpec, Relation, write_embedded_specs
from workbench.config import get_settings
from workbench.demo_tables import create_customers, create_events, create_macros, create_orders
from workbench.errors import ConfigError, ConflictError

DEMO_SPECS: list[EntitySpec] = [
    EntitySpec(
        name="customers",
        source="customers",
        primary_key="id",
        email_column="email",
        description="People who signed up; the entity that is sent to SendGrid.",
    ),
    EntitySpec(
        name="orders",
        source="orders",
        primary_key="id",
        time_column="created_at",
        relation=Relation(to="customers", foreign_key="customer_id"),
        description="Orders placed by customers.",
    ),
    EntitySpec(
        name="events",
        source="events",
        primary_key="id",
        time_column="occurred_at",
        relation=Relation(to="customers", foreign_key="customer_id"),
        description="Product and email events of customers.",
    ),
]

MEMORY_LIMIT = "6GB"
_MAX_SEED = 2**62


@dataclass(frozen=True)
class DemoSummary:
    """What ``build_demo`` built: where, how many rows per table, from which seed and date."""

    path: Path
    rows: dict[str, int]
    seed: int
    reference_date: date
    seconds: float

    def __str__(self) -> str:
        counts = ", ".join(f"{table} {n:,}" for table, n in self.rows.items())
        return (
            f"demo warehouse {self.path}: {counts} (seed {self.seed}, reference date "
            f"{self.reference_date.isoformat()}, built in {self.seconds:.1f} s)"
        )


def _reference_date(value: str | date | None) -> date:
    """The reference date as a date: today (UTC) by default; a clear error for bad text."""
    if value is None:
        return datetime.now(UTC).date()
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(
            f"reference date {value!r} is not a date: write it as YYYY-MM-DD"
        ) from None


def _check_sizes(customers: int, seed: int, orders: float, events: float) -> None:
    """Refuse sizes the generator cannot honour, saying which value to change."""
    if customers < 1:
        raise ConfigError(f"customers must be at least 1 (got {customers})")
    if not -_MAX_SEED <= seed <= _MAX_SEED:
        raise ConfigError(f"seed must lie between -2**62 and 2**62 (got {seed})")
    for what, rate in (("orders", orders), ("events", events)):
        if not 0 <= rate <= 10_000:
            raise ConfigError(f"{what} per customer must lie between 0 and 10000 (got {rate})")


def _generate(con: duckdb.DuckDBPyConnection, customers: int, seed: int, end_s: int,
              orders: float, events: float) -> None:  # fmt: skip
    """Create the three tables and the embedded catalog in an open, empty warehouse."""
    con.sql(f"SET memory_limit = '{MEMORY_LIMIT}'")
    con.sql("SET preserve_insertion_order = true")
    create_macros(con, seed)
    create_customers(con, customers, end_s)
    create_orders(con, orders, end_s)
    create_events(con, events, end_s)
    write_embedded_specs(con, DEMO_SPECS)
    con.sql("CHECKPOINT")


def _row_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows per demo table."""
    return {
        spec.source: int(con.sql(f'SELECT count(*) FROM "{spec.source}"').fetchall()[0][0])
        for spec in DEMO_SPECS
    }


def _remove_quietly(*paths: Path) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def build_demo(
    path: Path,
    *,
    customers: int = 50_000,
    seed: int = 42,
    reference_date: str | date | None = None,
    orders_per_customer: float = 3.0,
    events_per_customer: float = 40.0,
) -> DemoSummary:
    """Build the demo warehouse at ``path`` (replacing it) and say what was built.

    The file is written next to ``path`` under a temporary name and renamed into place at the
    end, so readers never see half a warehouse. Same arguments, same rows.
    """
    started = time.perf_counter()
    ref = _reference_date(reference_date)
    _check_sizes(customers, seed, orders_per_customer, events_per_customer)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.building")
    tmp_wal = Path(f"{tmp}.wal")
    _remove_quietly(tmp, tmp_wal)
    end_s = int(datetime(ref.year, ref.month, ref.day, tzinfo=UTC).timestamp())
    try:
        with duckdb.connect(str(tmp)) as con:
            _generate(con, customers, seed, end_s, orders_per_customer, events_per_customer)
            rows = _row_counts(con)
        _remove_quietly(Path(f"{path}.wal"))  # a stale WAL must never replay onto new data
        os.replace(tmp, path)
    finally:
        _remove_quietly(tmp, tmp_wal)
    return DemoSummary(path, rows, seed, ref, time.perf_counter() - started)


def _run_demo(args: argparse.Namespace) -> int:
    """Handler of ``python -m workbench demo``."""
    settings = get_settings()
    path = settings.warehouse_path
    if path.exists() and not args.force:
        raise ConflictError(
            f"{path} exists already: pass --force to replace it with a new demo warehouse"
        )
    summary = build_demo(
        path,
        customers=settings.demo_customers if args.customers is None else args.customers,
        seed=settings.demo_seed if args.seed is None else args.seed,
        reference_date=args.reference_date,
        orders_per_customer=args.orders_per_customer,
        events_per_customer=args.events_per_customer,
    )
    print(summary)
    from workbench.demo_sandbox import seed_if_demo  # the demo SendGrid account, when in home

    sandbox = seed_if_demo(settings)
    if sandbox is not None:
        print(sandbox)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` command to the CLI."""
    parser = subparsers.add_parser(
        "demo",
        help="build the demo warehouse (customers, orders, events)",
        description="Build the demo DuckDB warehouse at the configured warehouse path.",
    )
    parser.add_argument(
        "--customers", type=int, default=None, help="default: WORKBENCH_DEMO_CUSTOMERS"
    )
    parser.add_argument("--seed", type=int, default=None, help="default: WORKBENCH_DEMO_SEED")
    parser.add_argument(
        "--reference-date", default=None, help="YYYY-MM-DD; timestamps end here (default today)"
    )
    parser.add_argument("--orders-per-customer", type=float, default=3.0)
    parser.add_argument("--events-per-customer", type=float, default=40.0)
    parser.add_argument("--force", action="store_true", help="replace an existing file")
    parser.set_defaults(handler=_run_demo)
