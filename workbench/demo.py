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

# The vocabulary of the generator: our own constants, safe to write into SQL text.
FIRST_NAMES = (
    "Anna", "Erik", "Lena", "Johan", "Sofia", "Lars", "Emma", "Karl", "Maria", "Lukas",
    "Mia", "Felix", "Hannah", "Paul", "Julia", "Louis", "Chloe", "Hugo", "Lea", "Jules",
    "Olivia", "James", "Amelia", "Oliver", "Isla", "Noah", "Ava", "Liam", "Emily", "Ethan",
    "Sara", "Marco", "Giulia", "Pablo", "Lucia", "Jan", "Eva", "Piotr", "Ana", "Mateo",
)  # fmt: skip
LAST_NAMES = (
    "Svensson", "Johansson", "Nilsson", "Muller", "Schmidt", "Schneider", "Martin", "Bernard",
    "Dubois", "Smith", "Jones", "Taylor", "Brown", "Williams", "Garcia", "Rossi", "Bianchi",
    "Jansen", "Visser", "Kowalski", "Nowak", "Hansen", "Larsen", "Virtanen", "Silva",
    "Johnson", "Miller", "Davis", "Wilson", "Moore", "Lopez", "Novak", "Berg", "Lindqvist",
)  # fmt: skip
DOMAINS = ("example.com", "example.org", "example.net", "mail.example.net", "demo.example.com")
PLUS_TAGS = ("news", "shop", "promo", "2026")
COUNTRY_WEIGHTS = (
    ("US", 0.28), ("GB", 0.12), ("DE", 0.11), ("FR", 0.09), ("SE", 0.07), ("NL", 0.05),
    ("ES", 0.05), ("IT", 0.05), ("CA", 0.05), ("AU", 0.04), ("NO", 0.03), ("DK", 0.02),
    ("FI", 0.02), ("PL", 0.01), ("BR", 0.01),
)  # fmt: skip
CITIES: dict[str, tuple[str, ...]] = {
    "US": ("New York", "Los Angeles", "Chicago", "Austin", "Seattle"),
    "GB": ("London", "Manchester", "Bristol", "Edinburgh"),
    "DE": ("Berlin", "Hamburg", "München", "Köln"),
    "FR": ("Paris", "Lyon", "Marseille", "Toulouse"),
    "SE": ("Stockholm", "Göteborg", "Malmö", "Uppsala"),
    "NL": ("Amsterdam", "Rotterdam", "Utrecht"),
    "ES": ("Madrid", "Barcelona", "Valencia"),
    "IT": ("Roma", "Milano", "Torino"),
    "CA": ("Toronto", "Montréal", "Vancouver"),
    "AU": ("Sydney", "Melbourne", "Brisbane"),
    "NO": ("Oslo", "Bergen"),
    "DK": ("København", "Aarhus"),
    "FI": ("Helsinki", "Tampere"),
    "PL": ("Warszawa", "Kraków"),
    "BR": ("São Paulo", "Rio de Janeiro"),
}
PLAN_WEIGHTS = (("free", 0.70), ("pro", 0.24), ("enterprise", 0.06))
TAGS = ("newsletter", "beta", "vip", "b2b", "churn_risk", "early_adopter")
TAG_COUNT_WEIGHTS = (("0", 0.50), ("1", 0.30), ("2", 0.15), ("3", 0.05))
STATUS_WEIGHTS = (("paid", 0.90), ("refunded", 0.06), ("cancelled", 0.04))
CATEGORY_PRICES = (
    ("apparel", 45.0), ("electronics", 180.0), ("home", 70.0), ("beauty", 30.0),
    ("books", 18.0), ("sports", 60.0),
)  # fmt: skip
EVENT_WEIGHTS = (
    ("page_view", 0.55), ("login", 0.08), ("email_open", 0.15), ("email_click", 0.05),
    ("add_to_cart", 0.09), ("checkout_started", 0.03), ("purchase", 0.05),
)  # fmt: skip

SPAN_DAYS = 730
SIGNUP_SKEW = 1.3  # signup age = span * u**SKEW: more recent signups, a growing business
MEAN_TENURE_S = SPAN_DAYS * 86_400 / (SIGNUP_SKEW + 1)
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


def _sql_list(values: tuple[str, ...] | list[str]) -> str:
    """A DuckDB list literal of our own constant strings."""
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _pick(values: tuple[str, ...] | list[str], u: str) -> str:
    """SQL picking one of ``values`` uniformly by the [0, 1) expression ``u``."""
    return f"{_sql_list(values)}[1 + floor({u} * {len(values)})::BIGINT]"


def _weighted(u: str, choices: tuple[tuple[str, float], ...]) -> str:
    """SQL picking a constant by weight with the [0, 1) expression ``u`` (weights sum to 1)."""
    cases, cumulative = [], 0.0
    for value, weight in choices[:-1]:
        cumulative += weight
        cases.append(f"WHEN {u} < {cumulative:.6f} THEN '{value}'")
    return f"CASE {' '.join(cases)} ELSE '{choices[-1][0]}' END"


def _create_macros(con: duckdb.DuckDBPyConnection, seed: int) -> None:
    """Temporary macros: ``rnd(key, salt)`` and ``rnd2(key, j, salt)`` in [0, 1).

    DuckDB combines the hashes of several arguments by multiply-and-xor, so two salts of the
    same key would give correlated numbers; hashing that hash again mixes them apart.
    """
    seed = int(seed)
    scale = "9007199254740992.0"  # 2**53: the top 53 bits of the hash as a double
    con.sql(f"CREATE OR REPLACE TEMP MACRO rnd(k, salt) AS "
            f"((hash(hash(k, {seed}::BIGINT, salt)) >> 11)::DOUBLE / {scale})")  # fmt: skip
    con.sql(f"CREATE OR REPLACE TEMP MACRO rnd2(k, j, salt) AS "
            f"((hash(hash(k, j, {seed}::BIGINT, salt)) >> 11)::DOUBLE / {scale})")  # fmt: skip
    con.sql("CREATE OR REPLACE TEMP MACRO expo(u) AS (-ln(1.0 - u))")


def _city_sql() -> str:
    """SQL choosing a city of the customer's (true) country."""
    city_u = "rnd(id, 'city')"
    arms = " ".join(
        f"WHEN '{country}' THEN {_pick(cities, city_u)}" for country, cities in CITIES.items()
    )
    return f"CASE true_country {arms} END"


def _email_sql() -> str:
    """SQL of the email column: a clean base address, or one of the kinds of mess."""
    invalid = _weighted(
        "rnd(id, 'invalid')",
        (("dot", 0.34), ("nodomain", 0.33), ("space", 0.33)),
    )
    return f"""CASE
      WHEN u_mess < 0.02 THEN NULL
      WHEN u_mess < 0.05 THEN first_name || '.' || last_name || suffix || '@' || domain
      WHEN u_mess < 0.07 THEN '  ' || base_email || ' '
      WHEN u_mess < 0.09 THEN CASE {invalid}
          WHEN 'dot' THEN replace(base_email, '@', '.')
          WHEN 'nodomain' THEN lower(first_name) || '@' || lower(last_name)
          ELSE lower(first_name) || ' ' || lower(last_name) || '@' || domain END
      WHEN u_mess < 0.11 AND partner_is_clean THEN upper(partner_email)
      WHEN u_mess < 0.15 THEN lower(first_name) || '.' || lower(last_name) || suffix || '+'
          || {_pick(PLUS_TAGS, "rnd(id, 'plus')")} || '@' || domain
      ELSE base_email END"""


def _create_customers(con: duckdb.DuckDBPyConnection, customers: int, end_s: int) -> None:
    """The customers table, in id order; emails unique apart from the deliberate mess."""
    span_s = SPAN_DAYS * 86_400
    con.sql(f"""
    CREATE TABLE customers AS
    WITH drawn AS (
      SELECT id,
        {_pick(FIRST_NAMES, "rnd(id, 'first')")} AS first_name,
        {_pick(LAST_NAMES, "rnd(id, 'last')")} AS last_name,
        {_pick(DOMAINS, "rnd(id, 'domain')")} AS domain,
        {_weighted("rnd(id, 'country')", COUNTRY_WEIGHTS)} AS true_country,
        $end_s - 1 - floor($span_s * pow(rnd(id, 'signup'), {SIGNUP_SKEW}))::BIGINT AS signup_s,
        rnd(id, 'mess') AS u_mess,
        rnd(id - 1, 'mess') >= 0.15 AND id > 1 AS partner_is_clean
      FROM range(1, $n + 1) r(id)
    ), numbered AS (
      SELECT *, CASE WHEN k = 0 THEN '' ELSE k::VARCHAR END AS suffix
      FROM (SELECT *, row_number() OVER (PARTITION BY first_name, last_name, domain
                                          ORDER BY id) - 1 AS k FROM drawn)
    ), based AS (
      SELECT *, lower(first_name) || '.' || lower(last_name) || suffix || '@' || domain
          AS base_email
      FROM numbered
    ), paired AS (
      SELECT *, lag(base_email) OVER (ORDER BY id) AS partner_email FROM based
    )
    SELECT id, {_email_sql()} AS email, first_name, last_name,
      CASE WHEN rnd(id, 'nocountry') < 0.03 THEN NULL ELSE true_country END AS country,
      {_city_sql()} AS city,
      {_weighted("rnd(id, 'plan')", PLAN_WEIGHTS)} AS plan,
      make_timestamp(signup_s * 1000000) AS signup_at,
      CASE WHEN rnd(id, 'noseen') < 0.04 THEN NULL ELSE make_timestamp(1000000 *
        (signup_s + floor(rnd(id, 'seen') * ($end_s - signup_s))::BIGINT)) END AS last_seen_at,
      CASE WHEN rnd(id, 'noltv') < 0.03 THEN NULL
        ELSE round(150.0 * expo(rnd(id, 'ltv')) * expo(rnd(id, 'ltv2')), 2) END
        AS lifetime_value,
      rnd(id, 'optin') < 0.62 AS marketing_opt_in,
      [{_sql_list(TAGS)}[1 + (floor(rnd(id, 'tagstart') * {len(TAGS)})::BIGINT + i)
          % {len(TAGS)}] FOR i IN range({_weighted("rnd(id, 'tagcount')", TAG_COUNT_WEIGHTS)}
          ::BIGINT)] AS tags
    FROM paired ORDER BY id
    """, params={"n": customers, "end_s": end_s, "span_s": span_s})  # fmt: skip
    con.sql("ALTER TABLE customers ADD PRIMARY KEY (id)")


def _per_customer_rows(rate: float, salt: str) -> str:
    """SQL FROM clause: each customer times a skewed count with mean ``rate`` (row ``seq``).

    The count grows with the customer's tenure (so rows spread evenly over time) and with a
    heavy-tailed activity shared by orders and events; random rounding keeps the mean exact.
    """
    tenure = f"($end_s - epoch(c.signup_at)) / {MEAN_TENURE_S!r}"
    count = (
        f"floor({rate!r} * {tenure} * expo(rnd(c.id, 'activity')) * expo(rnd(c.id, '{salt}'))"
        f" + rnd(c.id, '{salt}_round'))::BIGINT"
    )
    return (
        "(SELECT c.id AS customer_id, epoch(c.signup_at)::BIGINT AS signup_s, "
        f"{count} AS n FROM customers c) p, range(p.n) t(seq)"
    )


def _create_orders(con: duckdb.DuckDBPyConnection, rate: float, end_s: int) -> None:
    """The orders table, written in ``created_at`` order, ids ascending with time.

    Ids come from ``row_number() OVER ()`` over sorted rows: a window with its own ORDER BY
    would give the same ids but runs on one thread, 2-3x slower at 100M rows.
    """
    prices = " ".join(f"WHEN '{c}' THEN {p}" for c, p in CATEGORY_PRICES)
    categories = tuple((c, 1.0 / len(CATEGORY_PRICES)) for c, _ in CATEGORY_PRICES)
    con.sql(f"""
    CREATE TABLE orders AS
    WITH drawn AS (
      SELECT customer_id, seq,
        signup_s + floor(rnd2(customer_id, seq, 'o_time') * ($end_s - signup_s))::BIGINT AS ts,
        {_weighted("rnd2(customer_id, seq, 'o_cat')", categories)} AS category,
        {_weighted("rnd2(customer_id, seq, 'o_status')", STATUS_WEIGHTS)} AS status
      FROM {_per_customer_rows(rate, "orders")}
    )
    SELECT row_number() OVER () AS id, customer_id,  -- streams over the sorted rows below
      make_timestamp(ts * 1000000) AS created_at,
      round((CASE category {prices} END) * (0.3 + expo(rnd2(customer_id, seq, 'o_amount'))), 2)
        ::DECIMAL(12, 2) AS amount,
      status, category
    FROM (FROM drawn ORDER BY ts, customer_id, seq)
    """, params={"end_s": end_s})  # fmt: skip


def _create_events(con: duckdb.DuckDBPyConnection, rate: float, end_s: int) -> None:
    """The events table: a customer's first event is its signup, the rest come after it."""
    con.sql(f"""
    CREATE TABLE events AS
    WITH drawn AS (
      SELECT customer_id, seq,
        CASE WHEN seq = 0 THEN signup_s ELSE signup_s
          + floor(rnd2(customer_id, seq, 'e_time') * ($end_s - signup_s))::BIGINT END AS ts,
        CASE WHEN seq = 0 THEN 'signup'
          ELSE {_weighted("rnd2(customer_id, seq, 'e_name')", EVENT_WEIGHTS)} END AS name
      FROM {_per_customer_rows(rate, "events")}
    )
    SELECT row_number() OVER () AS id, customer_id, name,
      make_timestamp(ts * 1000000) AS occurred_at
    FROM (FROM drawn ORDER BY ts, customer_id, seq)
    """, params={"end_s": end_s})  # fmt: skip


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
    _create_macros(con, seed)
    _create_customers(con, customers, end_s)
    _create_orders(con, orders, end_s)
    _create_events(con, events, end_s)
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
