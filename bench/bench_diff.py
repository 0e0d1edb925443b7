"""Benchmark of the membership diff: 5,000,000 desired vs a 5,000,000 snapshot, 5% churn.

Run: ``.venv/bin/python -m bench.bench_diff [rows]``. Targets: median <= 1.0 s, peak memory
<= 1 GiB, and at least 2x faster than DuckDB's ``EXCEPT`` run both ways on the same data in the
same run (the baseline: what "compute to_add and to_remove in SQL" costs). Each of the
rounds runs the diff and both EXCEPTs back to back, so all see the same neighbours on this
shared machine; wall and CPU seconds (all threads) are reported, and the CPU ratio is the
comparison that the neighbours disturb least.

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
RUNS = 5
TARGET_S = 1.0
TARGET_PEAK_MIB = 1024
ADD_SQL = "SELECT email FROM desired EXCEPT SELECT email FROM snapshot"
REMOVE_SQL = "SELECT email FROM snapshot EXCEPT SELECT email FROM desired"


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


def measure(action: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds (all threads of this process) of one call of ``action``."""
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def interleaved_timings(
    desired: pl.DataFrame, snapshot: pl.DataFrame, runs: int
) -> dict[str, dict[str, Any]]:
    """Median wall and CPU seconds of the diff and of DuckDB's EXCEPT each way (results
    fetched as polars frames). Each round runs all three back to back, so that on a shared
    machine they see the same neighbours."""
    con = duckdb.connect()
    con.register("desired", desired)
    con.register("snapshot", snapshot)
    contenders: dict[str, Callable[[], object]] = {
        "diff": lambda: diff_members(desired, snapshot),
        "duckdb_add": lambda: con.sql(ADD_SQL).pl(),
        "duckdb_remove": lambda: con.sql(REMOVE_SQL).pl(),
    }
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
    for _ in range(runs):
        for name, action in contenders.items():
            samples[name].append(measure(action))
    con.close()
    return {
        name: {
            "wall_s": round(statistics.median(w for w, _ in runs_), 3),
            "cpu_s": round(statistics.median(c for _, c in runs_), 3),
            "runs_s": [round(w, 3) for w, _ in runs_],
        }
        for name, runs_ in samples.items()
    }


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
    timings = interleaved_timings(desired, snapshot, runs)
    diff, add, remove = timings["diff"], timings["duckdb_add"], timings["duckdb_remove"]
    shuffled = snapshot.sample(fraction=1.0, shuffle=True, seed=SEED)
    figures: dict[str, Any] = {
        "rows": rows,
        "counts": result.counts,
        "load_average_1min": round(os.getloadavg()[0], 2),
        **timings,
        "speedup_vs_duckdb_both_ways": round(
            (add["wall_s"] + remove["wall_s"]) / diff["wall_s"], 2
        ),
        "speedup_vs_faster_direction": round(
            min(add["wall_s"], remove["wall_s"]) / diff["wall_s"], 2
        ),
        "cpu_ratio_vs_duckdb_both_ways": round((add["cpu_s"] + remove["cpu_s"]) / diff["cpu_s"], 2),
        "diff_shuffled_snapshot_s": round(measure(lambda: diff_members(desired, shuffled))[0], 3),
        "memory": peak_memory_mib(desired, snapshot),
    }
    figures["meets_targets"] = (
        diff["wall_s"] <= TARGET_S
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
