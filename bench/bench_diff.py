"""Benchmark of the membership diff: 5,000,000 desired vs a 5,000,000 snapshot, 5% churn.

Run: ``.venv/bin/python -m bench.bench_diff [rows]``. Targets: median <= 1.0 s, peak memory
<= 1 GiB, and at least 2x faster than DuckDB's ``EXCEPT`` run both ways on the same data in the
same run (the baseline: what "compute to_add and to_remove in SQL" costs).

Data (fixed seed, generated in-process): a universe of ``rows * 1.05`` distinct normalised
addresses. ``desired`` is the first ``rows`` of them in key order (random with respect to the
email, as ``normalise_emails`` returns them) with an ``id`` column; ``snapshot`` is the last
``rows`` of them with a ``contact_id``, in email order, as the outputs of a previous diff
are (so 5% left the segment and 5% are new). A second figure runs the diff against the same
snapshot shuffled, the slow path that has to sort the unchanged rows by email.

Peak memory: tracemalloc cannot see polars' Rust allocations, so the diff runs in a child
process that loads the inputs from Parquet, reads its resident size, resets the kernel's
high-water mark (``echo 5 > /proc/self/clear_refs``), runs the diff and reads ``VmHWM``; the
figure is that peak minus the resident size before the diff (the inputs themselves are not
counted, everything the diff allocates is, its outputs included). Where clear_refs is not
available the child reports ``ru_maxrss`` minus its resident size after loading (an upper
bound that includes the loading transients).
"""

from __future__ import annotations

import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl

from bench.bench_emails import unique_emails
from workbench.diff import diff_members

ROWS = 5_000_000
CHURN = 0.05
SEED = 20261128
RUNS = 3
TARGET_S = 1.0
TARGET_PEAK_MIB = 1024


def make_inputs(rows: int = ROWS, seed: int = SEED) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(desired, snapshot)`` as described in the module docstring."""
    new = int(rows * CHURN)
    universe = unique_emails(rows + new, seed)
    desired = pl.DataFrame({"id": np.arange(rows, dtype=np.int64), "email": universe[:rows]})
    snapshot = pl.DataFrame({"email": universe[new:]}).with_columns(
        contact_id=pl.format("c-{}", pl.int_range(pl.len()))
    )
    return _as_loaded(desired.select("email", "id")), _as_loaded(snapshot.sort("email"))


def _as_loaded(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame as it would come from storage: a Parquet round trip, so its strings lie in
    contiguous buffers and it carries no sortedness flags (a sort leaves them scattered)."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    buffer.seek(0)
    return pl.read_parquet(buffer)


def timed(action: Callable[[], object], runs: int) -> tuple[float, list[float], float]:
    """Median wall seconds, every run's wall seconds, and median CPU seconds of ``action``."""
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        action()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), walls, statistics.median(cpus)


def duckdb_except_s(desired: pl.DataFrame, snapshot: pl.DataFrame, runs: int) -> dict[str, float]:
    """Median seconds of DuckDB's EXCEPT each way, results fetched as polars frames."""
    con = duckdb.connect()
    con.register("desired", desired)
    con.register("snapshot", snapshot)
    figures = {}
    for name, sql in (
        ("duckdb_add_s", "SELECT email FROM desired EXCEPT SELECT email FROM snapshot"),
        ("duckdb_remove_s", "SELECT email FROM snapshot EXCEPT SELECT email FROM desired"),
    ):
        figures[name] = round(timed(lambda sql=sql: con.sql(sql).pl(), runs)[0], 3)
    con.close()
    return figures


def _resident_kib() -> int:
    """This process's resident set size now, in KiB (from /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _peak_kib() -> int:
    """This process's resident high-water mark in KiB (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child_peak(folder: str) -> None:
    """In the child: load the inputs, reset the high-water mark, diff, print the figures."""
    desired = pl.read_parquet(Path(folder) / "desired.parquet")
    snapshot = pl.read_parquet(Path(folder) / "snapshot.parquet")
    before = _resident_kib()
    method = "VmHWM after clear_refs"
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        method = "ru_maxrss (includes loading)"
    result = diff_members(desired, snapshot)
    peak = _peak_kib()
    print(json.dumps({"peak_mib": round((peak - before) / 1024, 1), "method": method,
                      "counts": result.counts}))  # fmt: skip


def peak_memory_mib(desired: pl.DataFrame, snapshot: pl.DataFrame) -> dict[str, Any]:
    """Run one diff in a child process and return its peak memory above the loaded inputs."""
    with tempfile.TemporaryDirectory() as folder:
        desired.write_parquet(Path(folder) / "desired.parquet")
        snapshot.write_parquet(Path(folder) / "snapshot.parquet")
        answer = subprocess.run(
            [sys.executable, "-m", "bench.bench_diff", "--child", folder],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    return json.loads(answer.stdout.strip().splitlines()[-1])


def run(rows: int = ROWS, runs: int = RUNS) -> dict[str, Any]:
    """Time the diff and the DuckDB baseline on the same data; print and return the figures."""
    desired, snapshot = make_inputs(rows)
    result = diff_members(desired, snapshot)
    median, walls, cpu = timed(lambda: diff_members(desired, snapshot), runs)
    shuffled = snapshot.sample(fraction=1.0, shuffle=True, seed=SEED)
    figures: dict[str, Any] = {
        "rows": rows,
        "counts": result.counts,
        "diff_s": round(median, 3),
        "diff_runs_s": [round(w, 3) for w in walls],
        "diff_cpu_s": round(cpu, 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "diff_shuffled_snapshot_s": round(timed(lambda: diff_members(desired, shuffled), 1)[0], 3),
        **duckdb_except_s(desired, snapshot, runs),
    }
    baseline = figures["duckdb_add_s"] + figures["duckdb_remove_s"]
    figures["speedup_vs_duckdb_both_ways"] = round(baseline / median, 2)
    figures["speedup_vs_slower_direction"] = round(
        max(figures["duckdb_add_s"], figures["duckdb_remove_s"]) / median, 2
    )
    figures["memory"] = peak_memory_mib(desired, snapshot)
    figures["meets_targets"] = (
        median <= TARGET_S
        and figures["speedup_vs_duckdb_both_ways"] >= 2
        and figures["memory"]["peak_mib"] <= TARGET_PEAK_MIB
    )
    print(json.dumps(figures, indent=1))
    return figures


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child_peak(sys.argv[2])
    else:
        run(int(sys.argv[1]) if len(sys.argv) > 1 else ROWS)
