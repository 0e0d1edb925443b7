"""Benchmark: the list sync against SendGrid's rate limits, ours versus the naive script.

Run: ``.venv/bin/python -m bench.bench_sync [--customers N] [--churn 0.01] [--poll-s 30]
[--naive | --no-naive] [--sandbox-in-process]``
(default N = 1,000,000; the naive script runs by default up to 200,000 customers, at 1M only
with ``--naive``: about 20 minutes of searches at the rate limit). The demo warehouse of N
customers is built once and cached under ``bench/data/``. Every customer's valid email is
seeded as a sandbox contact (straight into its store, not over HTTP). The sandbox runs in its
own process (``bench.sync_sandbox``), like SendGrid, so its work does not compete for this
process's interpreter; it answers every request after 50 ms (``latency_s``) and allows 10
requests per second per endpoint (``rate_limit_per_s``), ``job_delay_s`` 0. Per run the bench
prints the wall time, the CPU seconds of this process (our side alone) and the load before;
with ``BENCH_SYNC_TIMELINE=1`` also every request, job and export on a time line.

Scenarios, each run by our sync (``activations.run``) and by the naive script
(``bench.sync_naive``: search per 100, upsert per 1,000, no export path, raw ``sendgrid``
client) on its own list of the same sandbox:

* first run: the segment is customers ``0 <= id < N (1 - churn)``, an empty list;
* incremental run: the segment moves to ``N churn <= id < N``: ``churn`` of the members leave,
  as many join.

Our sync sends two upserts (and two removals) at a time and polls jobs while it sends, each
when it should be done (``job_schedule``), at most ``--poll-s`` apart (``WORKBENCH_SYNC_POLL_S``,
default 5 s in the product; 30 s here, as a 30,000-contact job can take the sandbox 10 s on a
busy machine). Calls time out after
600 s: the sandbox renders a 1M export inside the status call that finds it due.

Per scenario and implementation it prints and returns the API calls by endpoint (every request
the sandbox logged, 429s included, plus export-file downloads), the lower bound, the ratio, the
wall time, the sandbox work time, the rate-limit-allowed time and the ratio of (wall time minus
sandbox work) to the allowed time.

**The lower bound** (API calls) of a run that must look up ``n`` emails, add ``a`` contacts
(``b`` bytes of upsert entries) and remove ``d`` contact ids: list setup (first run 2: one page
of lists, one create; incremental 0) + ``min(ceil(n/100), 3)`` lookups (searches, or one export:
create + one status poll + one download) + ``u = max(ceil(a/30,000), ceil(b/6 MB))`` upserts +
``m = ceil(d/100)`` removals + ``u + m`` job polls (ONE poll per job: the job is finished when
first polled). Key checks and list-size reads a run also makes are counted as overhead.

**What the rate limits allow** (seconds), with ``r`` = 10 requests/s per endpoint and ``L`` =
50 ms: phases in order, calls of a phase concurrent across endpoints: ``2 L`` list setup
(first run) + lookup (``ceil(n/100)/r + L`` for searches, ``3 L`` for the export chain) +
``max(u, m, u + m)/r + 2 L`` to apply (upserts and removals on their own endpoints in
parallel, all job polls on the one job-status endpoint; the last send and its poll add a
latency each).

**Sandbox work** is time the client can only wait for the sandbox's own processing, which is
not API time and is subtracted from the wall time before the time ratio: every export's render
time (created to completed) plus the job tail (from the answer to the last upsert/removal
request until the last job finished, when later). Both the raw wall time and the subtracted
figure are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

from bench.common import DATA_DIR
from bench.sync_bounds import (
    DOWNLOAD,
    Workload,
    allowed_seconds,
    calls_by_endpoint,
    lower_bound,
    sandbox_work_seconds,
    timeline,
)
from bench.sync_naive import NaiveSync
from bench.sync_sandbox import SandboxProcess, prepare_state, sandbox
from bench.sync_seed import cached_warehouse, seed_contacts
from workbench import activations
from workbench.config import Settings
from workbench.destinations.sendgrid.sandbox import FULL_SCOPES, SandboxConfig, SandboxServer
from workbench.destinations.sendgrid.sync_context import SyncOptions
from workbench.emails import normalise_emails
from workbench.segments import members
from workbench.workspace import Workspace

KEY = "SG.bench-sync"
RATE_PER_S = 10
LATENCY_S = 0.05
NAIVE_AUTO_MAX = 200_000  # above this the naive script runs only with --naive
Sandbox = SandboxProcess | SandboxServer
CALL_TIMEOUT_S = 600.0  # the sandbox renders a 1M export inside the status call that finds it due


def segment(low: int, below: int) -> dict[str, Any]:
    """Customers with ``low <= id < below``."""
    return {
        "name": "everyone",
        "entity": "customers",
        "filter": {"column": "id", "op": "between", "value": [low, below - 1]},
    }


def emails_of(ws: Workspace, low: int, below: int) -> list[str]:
    """The normalised, unique valid emails of the customers ``low <= id < below``."""
    frame = members(ws, segment(low, below), columns=["id", "email"])
    return normalise_emails(frame, "email", "id").valid.get_column("email").to_list()


def workload(before: set[str], after: set[str], contacts: set[str], first: bool) -> Workload:
    """The work a run must do to move the list from ``before`` to ``after``."""
    joiners = after - before
    adds = joiners & contacts
    add_bytes = sum(len(json.dumps({"email": e})) + 2 for e in adds)
    return Workload(len(joiners), len(adds), add_bytes, len(before - after), first)


def measure(label: str, server: Sandbox, run: Any) -> dict[str, Any]:
    """Run ``run()`` (returns its export-file download count); wall time, CPU seconds of this
    process, calls, sandbox work, and the 1-minute load average before the run."""
    server.clear_request_log()
    load = os.getloadavg()[0]
    since = time.time()
    started, cpu = time.perf_counter(), time.process_time()
    downloads = run()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    log = server.request_log()
    calls = calls_by_endpoint(log, since, downloads)
    work = sandbox_work_seconds(server.config.state_path, log, since)
    if os.environ.get("BENCH_SYNC_TIMELINE"):
        print("\n".join(timeline(server.config.state_path, log, since)))
    print(f"  {label}: {wall:.1f} s, CPU {cpu:.1f} s, {sum(calls.values())} calls", flush=True)
    return {
        "calls": calls,
        "wall_s": wall,
        "cpu_s": cpu,
        "load_before": load,
        "sandbox_work_s": work,
    }


def ours(ws: Workspace, low: int, below: int, options: SyncOptions) -> Any:
    """Our sync of the segment ``low <= id < below`` as a callable for ``measure``."""

    def run() -> int:
        ws.store.save_segment(segment(low, below))
        record = activations.run(ws, "everyone", approve=True, options=options)
        assert record.status == "succeeded", record.fields
        return int((record.fields.get("api_calls_by_endpoint") or {}).get(DOWNLOAD, 0))

    return run


def scored(measured: dict[str, Any], w: Workload) -> dict[str, Any]:
    """``measured`` with the lower bound, the allowed time and both ratios."""
    bound = lower_bound(w)
    allowed = allowed_seconds(w, RATE_PER_S, LATENCY_S)
    calls = sum(measured["calls"].values())
    api_s = measured["wall_s"] - measured["sandbox_work_s"]
    return {
        **measured,
        "total_calls": calls,
        "lower_bound": bound,
        "calls_ratio": calls / bound["total"],
        "api_s": api_s,
        "allowed_s": allowed,
        "time_ratio": api_s / allowed if allowed else float("nan"),
    }


def print_result(scenario: str, who: str, r: dict[str, Any]) -> None:
    """One implementation's figures for one scenario."""
    print(f"\n== {scenario}: {who}")
    for endpoint, count in r["calls"].items():
        print(f"    {endpoint:<52} {count:>7}")
    parts = ", ".join(f"{k} {v}" for k, v in r["lower_bound"].items())
    print(f"  calls {r['total_calls']} / lower bound {r['lower_bound']['total']} ({parts})")
    print(f"  calls ratio {r['calls_ratio']:.3f}")
    print(
        f"  wall {r['wall_s']:.1f} s - sandbox work {r['sandbox_work_s']:.1f} s = "
        f"{r['api_s']:.1f} s / allowed {r['allowed_s']:.1f} s: time ratio {r['time_ratio']:.3f}"
    )
    print(f"  CPU of this process {r['cpu_s']:.1f} s; load before {r['load_before']:.1f}")


def run_bench(
    customers: int,
    churn: float,
    poll_s: float,
    scratch: Path,
    with_naive: bool = True,
    in_process: bool = False,
) -> dict[str, Any]:
    """Both scenarios for ours and the naive script; the figures by scenario and implementation."""
    settings = Settings(
        home=scratch / "home",
        warehouse=cached_warehouse(customers),
        sendgrid_timeout_s=CALL_TIMEOUT_S,
        sync_poll_s=poll_s,
    )
    ws = Workspace(settings)
    shift = int(customers * churn)
    first, later = (0, customers - shift), (shift, customers)
    everyone = set(emails_of(ws, 0, customers))
    before, after = set(emails_of(ws, *first)), set(emails_of(ws, *later))
    config = SandboxConfig(
        scratch / "sb.sqlite",
        api_keys={KEY: list(FULL_SCOPES)},
        latency_s=LATENCY_S,
        rate_limit_per_s=RATE_PER_S,
        seed=1,
    )
    options = SyncOptions(poll_s=poll_s)
    results: dict[str, Any] = {}
    prepare_state(config)
    seed_contacts(config.state_path, sorted(everyone))
    with sandbox(config, in_process) as server:
        activations.create_destination(ws, "sg", host=server.url, api_key=KEY)
        ws.store.save_segment(segment(*first))
        activations.activate(ws, "everyone")
        naive = NaiveSync(KEY, server.url, "naive everyone")
        steps = [
            ("first run", first, workload(set(), before, everyone, True)),
            ("incremental run", later, workload(before, after, everyone, False)),
        ]
        for scenario, (low, below), w in steps:
            print(f"\n{scenario}: {w}", flush=True)
            wanted = emails_of(ws, low, below)
            results[scenario] = {
                "ours": scored(measure("ours", server, ours(ws, low, below, options)), w)
            }
            if with_naive:
                run_naive = lambda e=wanted: _naive(naive, e)  # noqa: E731
                results[scenario]["naive"] = scored(measure("naive", server, run_naive), w)
            for who, r in results[scenario].items():
                print_result(scenario, who, r)
    ws.close()
    return results


def _naive(naive: NaiveSync, emails: list[str]) -> int:
    naive.run(emails)
    return 0


def main() -> dict[str, Any]:
    """Parse the arguments, run the bench in a scratch folder, return the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--churn", type=float, default=0.01)
    parser.add_argument("--poll-s", type=float, default=30.0)
    parser.add_argument(
        "--naive",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"also run the naive script (default: only up to {NAIVE_AUTO_MAX:,} customers; "
        "at 1M it takes about 20 minutes at the rate limit)",
    )
    parser.add_argument(
        "--sandbox-in-process",
        action="store_true",
        help="run the sandbox on threads of this process (sharing its GIL), not its own process",
    )
    args = parser.parse_args()
    naive = args.naive if args.naive is not None else args.customers <= NAIVE_AUTO_MAX
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="sync-", dir=DATA_DIR))
    os.environ.pop("SENDGRID_API_KEY", None)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the sandbox, remove scratch
    try:
        results = run_bench(
            args.customers, args.churn, args.poll_s, scratch, naive, args.sandbox_in_process
        )
        print("\n" + json.dumps(results, default=str, indent=1))
        return results
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    pl.Config.set_tbl_rows(50)
    main()
