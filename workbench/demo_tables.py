"""The SQL that generates the demo tables (customers, orders, events) inside DuckDB.

Every random choice is a hash of (key, seed, salt) turned into a number in [0, 1) by the
temporary macros of :func:`create_macros`, so the same seed, size and reference date give
identical rows on any number of threads. Choices are drawn from ``workbench.demo_vocabulary``.
"""

from __future__ import annotations

import duckdb

from workbench.demo_vocabulary import (
    CATEGORY_PRICES,
    CITIES,
    COUNTRY_WEIGHTS,
    DOMAINS,
    EVENT_WEIGHTS,
    FIRST_NAMES,
    LAST_NAMES,
    PLAN_WEIGHTS,
    PLUS_TAGS,
    STATUS_WEIGHTS,
    TAG_COUNT_WEIGHTS,
    TAGS,
)

SPAN_DAYS = 730
SIGNUP_SKEW = 1.3  # signup age = span * u**SKEW: more recent signups, a growing business
MEAN_TENURE_S = SPAN_DAYS * 86_400 / (SIGNUP_SKEW + 1)


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


def create_macros(con: duckdb.DuckDBPyConnection, seed: int) -> None:
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


def create_customers(con: duckdb.DuckDBPyConnection, customers: int, end_s: int) -> None:
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


def create_orders(con: duckdb.DuckDBPyConnection, rate: float, end_s: int) -> None:
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


def create_events(con: duckdb.DuckDBPyConnection, rate: float, end_s: int) -> None:
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
