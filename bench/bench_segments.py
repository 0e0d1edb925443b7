"""Benchmark: segment counts through the engine against equivalent hand-written SQL.

Run: ``.venv/bin/python -m bench.bench_segments [--warehouse PATH] [--customers N] [--runs R]``.
Without ``--warehouse`` it uses the cached 5,000,000-customer warehouse of ``bench.common``
(about 15M orders and 100M events, reference date 2026-06-30). With ``--warehouse PATH`` that
does not exist yet, a demo warehouse of ``--customers`` customers is built there first.

For each segment shape both queries run once to warm up, then ``runs`` times each,
alternating; the medians, their ratio (engine / hand-written), the best-of-runs ratio (steadier
on a busy machine) and the counts (which must be equal) are printed and returned.
Targets: property-only <= 0.3 s, event count over 90 days <= 1 s, every ratio <= 1.1.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH_EVENTS_PER_CUSTOMER,
    BENCH_ORDERS_PER_CUSTOMER,
    REFERENCE_DATE,
    bench_warehouse,
)
from workbench.config import Settings
from workbench.demo import build_demo
from workbench.segments import count
from workbench.workspace import Workspace

AS_OF = datetime.fromisoformat(REFERENCE_DATE)


def _segment(name: str, node: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "name": name, "entity": "customers", "filter": node}


PURCHASES_90 = {
    "related": "events",
    "where": {"column": "name", "op": "eq", "value": "purchase"},
    "within_last_days": 90,
    "having": {"agg": "count", "op": "gte", "value": 3},
}
SAVED = {
    "Big spenders": _segment(
        "Big spenders", {"column": "lifetime_value", "op": "gte", "value": 1000}
    )
}
SHAPES: dict[str, tuple[dict[str, Any], str]] = {
    "property-only": (
        _segment("p", {"and": [{"column": "country", "op": "eq", "value": "SE"},
                               {"column": "plan", "op": "in", "value": ["pro", "enterprise"]},
                               {"column": "lifetime_value", "op": "gte", "value": 500}]}),
        "SELECT count(*) FROM customers WHERE country = 'SE' "
        "AND plan IN ('pro', 'enterprise') AND lifetime_value >= 500",
    ),
    "event-count-90-days": (
        _segment("e", PURCHASES_90),
        "SELECT count(*) FROM customers WHERE id IN (SELECT customer_id FROM events "
        "WHERE name = 'purchase' AND occurred_at BETWEEN TIMESTAMP '2026-04-01' "
        "AND TIMESTAMP '2026-06-30' GROUP BY customer_id HAVING count(*) >= 3)",
    ),
    "related-sum": (
        _segment("s", {"related": "orders",
                       "having": {"agg": "sum", "column": "amount", "op": "gt", "value": 1000}}),
        "SELECT count(*) FROM customers WHERE id IN (SELECT customer_id FROM orders "
        "GROUP BY customer_id HAVING sum(amount) > 1000)",
    ),
    "has-none-365-days": (
        _segment("n", {"related": "orders", "within_last_days": 365,
                       "having": {"agg": "count", "op": "eq", "value": 0}}),
        "SELECT count(*) FROM customers WHERE id NOT IN (SELECT customer_id FROM orders "
        "WHERE created_at BETWEEN TIMESTAMP '2025-06-30' AND TIMESTAMP '2026-06-30')",
    ),
    "nested-or-not": (
        _segment("o", {"and": [
            {"or": [{"column": "country", "op": "in", "value": ["SE", "NO", "DK"]},
                    {"column": "lifetime_value", "op": "gte", "value": 2000}]},
            {"not": {"and": [{"column": "plan", "op": "eq", "value": "free"},
                             {"column": "marketing_opt_in", "op": "is_false"}]}},
        ]}),
        "SELECT count(*) FROM customers WHERE (country IN ('SE', 'NO', 'DK') "
        "OR lifetime_value >= 2000) AND NOT coalesce(plan = 'free' AND NOT marketing_opt_in, "
        "false)",
    ),
    "in-segment": (
        _segment("i", {"and": [{"in_segment": "Big spenders"}, PURCHASES_90]}),
        "SELECT count(*) FROM customers WHERE lifetime_value >= 1000 AND id IN "
        "(SELECT customer_id FROM events WHERE name = 'purchase' AND occurred_at BETWEEN "
        "TIMESTAMP '2026-04-01' AND TIMESTAMP '2026-06-30' GROUP BY customer_id "
        "HAVING count(*) >= 3)",
    ),
}  # fmt: skip


def _timed(action: Callable[[], int]) -> tuple[float, int]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def measure(ws: Workspace, segment: dict[str, Any], sql: str, runs: int) -> dict[str, Any]:
    """Median (and best) seconds of the engine's count and of the hand-written query.

    Which of the two runs first alternates from one round to the next, so neither always
    finds the other's pages warm.
    """
    actions = {
        "engine": lambda: count(ws, segment, as_of=AS_OF, lookup=SAVED),
        "hand": lambda: int(ws.cursor().sql(sql).fetchall()[0][0]),
    }
    counts = {name: action() for name, action in actions.items()}  # warm up
    times: dict[str, list[float]] = {"engine": [], "hand": []}
    for round_ in range(runs):
        for name in ("engine", "hand") if round_ % 2 == 0 else ("hand", "engine"):
            seconds, counts[name] = _timed(actions[name])
            times[name].append(seconds)
    engine_s, hand_s = statistics.median(times["engine"]), statistics.median(times["hand"])
    return {"engine_s": engine_s, "hand_s": hand_s, "ratio": engine_s / hand_s,
            "engine_best_s": min(times["engine"]), "hand_best_s": min(times["hand"]),
            "best_ratio": min(times["engine"]) / min(times["hand"]),
            "engine_count": counts["engine"], "hand_count": counts["hand"]}  # fmt: skip


def run(warehouse: Path, runs: int = 5) -> dict[str, dict[str, Any]]:
    """Measure every shape on ``warehouse``; prints a table and returns the figures."""
    figures: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as home:
        ws = Workspace(Settings(home=Path(home), warehouse=warehouse, query_timeout_s=600))
        ws.catalog()
        print(f"{'shape':<22} {'engine s':>9} {'hand s':>9} {'ratio':>6} {'best ratio':>10}  count")
        for name, (segment, sql) in SHAPES.items():
            f = figures[name] = measure(ws, segment, sql, runs)
            same = "" if f["engine_count"] == f["hand_count"] else f" != {f['hand_count']}!"
            print(f"{name:<22} {f['engine_s']:9.3f} {f['hand_s']:9.3f} {f['ratio']:6.2f} "
                  f"{f['best_ratio']:10.2f}  {f['engine_count']}{same}")  # fmt: skip
        ws.close()
    return figures


def _warehouse(args: argparse.Namespace) -> Path:
    if args.warehouse is None:
        return bench_warehouse(args.customers)
    path = Path(args.warehouse)
    if not path.exists():
        print(f"building a demo warehouse of {args.customers} customers at {path} ...")
        build_demo(path, customers=args.customers, seed=42, reference_date=REFERENCE_DATE,
                   orders_per_customer=BENCH_ORDERS_PER_CUSTOMER,
                   events_per_customer=BENCH_EVENTS_PER_CUSTOMER)  # fmt: skip
    return path


def main() -> dict[str, dict[str, Any]]:
    """Parse the arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", help="DuckDB file (built here if missing)")
    parser.add_argument("--customers", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    return run(_warehouse(args), args.runs)


if __name__ == "__main__":
    main()
