"""Benchmark of email normalisation: 5,000,000 messy member emails, target <= 2 s.

Run: ``.venv/bin/python -m bench.bench_emails [rows]``. The data is generated in-process with a
fixed seed: unique addresses (first.last<n>@domain, some with +tags), then 2% upper case, 1%
padded with spaces, 0.5% null, 0.5% blank, 1% broken in one of several ways and 3% duplicates
(another row's address in different case). Prints and returns the median of a few runs
(wall and CPU seconds) and the machine's load average before and after the runs: the machine
is shared, and wall time under load says more about the neighbours than about this code (CPU
seconds above wall seconds show the work spread over both cores).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Any

import numpy as np
import polars as pl

from workbench.emails import normalise_emails

ROWS = 5_000_000
SEED = 20261127
RUNS = 3
TARGET_S = 2.0
FIRST = ["anna", "bob", "carol", "dave", "eve", "frank", "grace", "heidi", "ivan", "judy",
         "mallory", "olivia", "peggy", "trent", "victor", "walter", "zoë", "o'neil"]  # fmt: skip
LAST = ["smith", "jones", "brown", "taylor", "wilson", "davies", "evans", "thomas", "roberts",
        "walker", "wright", "hughes", "green", "hall", "wood", "clarke"]  # fmt: skip
DOMAINS = ["gmail.com", "yahoo.co.uk", "example.org", "mail.example.com", "outlook.com",
           "company-x.io", "web.de", "posteo.net"]  # fmt: skip
BROKEN = ["{}", "{}@", "@{}", "{}@@x.com", "{}@localhost", ".{}@x.com", "{} x@y.com", "a..{}@x.com"]


def _pick(rng: np.random.Generator, words: list[str], n: int) -> pl.Series:
    """``n`` words drawn uniformly with ``rng``."""
    return pl.Series(words, dtype=pl.String).gather(rng.integers(0, len(words), n))


def unique_emails(n: int, seed: int = SEED) -> pl.Series:
    """``n`` distinct normalised addresses in random order (numbers make them unique)."""
    rng = np.random.default_rng(seed)
    numbers = pl.Series(rng.permutation(n))
    tags = pl.Series(rng.random(n) < 0.05).cast(pl.String)
    frame = pl.DataFrame(
        {"f": _pick(rng, FIRST, n), "l": _pick(rng, LAST, n), "d": _pick(rng, DOMAINS, n)}
    ).with_columns(num=numbers, tag=tags)
    email = pl.format("{}.{}{}{}@{}", "f", "l", "num", pl.when(pl.col("tag") == "true")
                      .then(pl.lit("+news")).otherwise(pl.lit("")), "d")  # fmt: skip
    return frame.select(email=email).to_series().str.replace("zoë", "zoe", literal=True)


def messy_members(n: int = ROWS, seed: int = SEED) -> pl.DataFrame:
    """A member frame ``id, email`` of ``n`` rows with the mess described in the docstring."""
    rng = np.random.default_rng(seed + 1)
    emails = unique_emails(n, seed)
    roll = rng.random(n)
    donor = emails.gather(rng.integers(0, n, n))
    broken = pl.Series(BROKEN).gather(rng.integers(0, len(BROKEN), n))
    frame = pl.DataFrame({"id": np.arange(n, dtype=np.int64), "email": emails, "roll": roll})
    frame = frame.with_columns(donor=donor, broken=broken)
    messy = (
        pl.when(pl.col("roll") < 0.005).then(pl.lit(None, dtype=pl.String))
        .when(pl.col("roll") < 0.01).then(pl.lit("   "))
        .when(pl.col("roll") < 0.02).then(pl.col("broken").str.replace("{}", "x", literal=True))
        .when(pl.col("roll") < 0.05).then(pl.col("donor").str.to_uppercase())
        .when(pl.col("roll") < 0.07).then(pl.col("email").str.to_uppercase())
        .when(pl.col("roll") < 0.08).then(pl.format("  {} ", "email"))
        .otherwise(pl.col("email"))
    )  # fmt: skip
    return frame.select("id", email=messy)


def run(rows: int = ROWS, runs: int = RUNS) -> dict[str, Any]:
    """Time ``normalise_emails`` on ``rows`` messy members; print and return the figures."""
    members = messy_members(rows)
    load_before = os.getloadavg()[0]
    timings, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = normalise_emails(members)
        timings.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    figures = {
        "rows": rows,
        "median_s": round(statistics.median(timings), 3),
        "runs_s": [round(t, 3) for t in timings],
        "median_cpu_s": round(statistics.median(cpu), 3),
        "runs_cpu_s": [round(t, 3) for t in cpu],
        "load_average_1min_before": round(load_before, 2),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "target_s": TARGET_S,
        "unique": result.unique_count,
        "by_reason": result.by_reason,
    }
    figures["meets_target"] = figures["median_s"] <= TARGET_S
    print(figures)
    return figures


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else ROWS)
