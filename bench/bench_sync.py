"""Benchmark: the whole list sync at a larger scale, against the sandbox over loopback.

Run: ``.venv/bin/python -m bench.bench_sync [--customers N] [--kills K]``. Builds a demo
warehouse of N customers (default 20,000) in a scratch folder under ``bench/data/``, seeds the
sandbox with ~60% of their valid emails as contacts, activates "every customer" and times the
preview, the first run (export lookup path), a no-op run and an incremental run (10% churn),
with the API calls each made. With ``--kills K`` it then SIGKILLs K worker processes at random
moments of pushes (fixed seeds) and checks every rerun converges to the clean list.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import DATA_DIR
from workbench import activations
from workbench.config import Settings
from workbench.demo import build_demo
from workbench.destinations.sendgrid.sandbox import FULL_SCOPES, SandboxConfig, SandboxServer
from workbench.destinations.sendgrid.sync_context import SyncOptions
from workbench.emails import normalise_emails
from workbench.segments import members
from workbench.workspace import Workspace

KEY = "SG.bench-sync"
OPTIONS = SyncOptions(poll_s=0.05)
WORKER = """
import sys
from pathlib import Path
from workbench import activations
from workbench.config import Settings
from workbench.destinations.sendgrid.sync_context import SyncOptions
from workbench.workspace import Workspace
ws = Workspace(Settings(home=Path(sys.argv[1]), warehouse=Path(sys.argv[2])))
print("started", flush=True)
activations.run(ws, "everyone", approve=True, options=SyncOptions(poll_s=0.05))
"""


def timed(label: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` and print how long it took."""
    started = time.perf_counter()
    value = fn()
    print(f"{label:<40} {time.perf_counter() - started:8.2f} s", flush=True)
    return value


def segment(ids_below: int, churn_from: int = 0) -> dict[str, Any]:
    """Customers with ``churn_from <= id < ids_below``."""
    return {
        "name": "everyone",
        "entity": "customers",
        "filter": {"column": "id", "op": "between", "value": [churn_from, ids_below - 1]},
    }


def report(record: activations.RunRecord) -> None:
    """Print a run's outcome in one line."""
    f = record.fields
    print(
        f"  {record.status}: +{f.get('added')} -{f.get('removed')} skipped "
        f"{sum((f.get('skipped_by_reason') or {}).values())}, {f.get('api_calls')} API calls, "
        f"lookup by {f.get('lookup')}"
    )


def kill_and_converge(ws: Workspace, server: SandboxServer, seed: int, n: int) -> None:
    """Move the segment, SIGKILL a worker mid-push, rerun, check the list equals the snapshot."""
    rng = random.Random(seed)
    low = rng.randrange(1, n // 10)
    ws.store.save_segment(segment(n + 1, low))
    script = Path(tempfile.mkdtemp(dir=DATA_DIR)) / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    settings = ws.settings
    process = subprocess.Popen(
        [sys.executable, str(script), str(settings.home), str(settings.warehouse)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "started"
    time.sleep(rng.uniform(0.5, 4.0))
    process.send_signal(signal.SIGKILL)
    process.wait()
    record = activations.run(ws, "everyone", approve=True, options=OPTIONS)
    list_id = activations.get_activation(ws, "everyone").list_id or ""
    on_list = server.admin.list_members(list_id)
    snapshot = set(ws.store.read_snapshot("everyone")["email"].to_list())
    print(f"  kill seed {seed}: rerun {record.status}, list == snapshot: {on_list == snapshot}")


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--kills", type=int, default=0)
    args = parser.parse_args()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="sync-", dir=DATA_DIR))
    os.environ.pop("SENDGRID_API_KEY", None)
    os.chdir(scratch)
    try:
        n = args.customers
        timed("build demo warehouse", lambda: build_demo(scratch / "demo.duckdb", customers=n))
        ws = Workspace(Settings(home=scratch / "home", warehouse=scratch / "demo.duckdb"))
        config = SandboxConfig(scratch / "sb.sqlite", api_keys={KEY: list(FULL_SCOPES)}, seed=1)
        with SandboxServer(config) as server:
            ws.store.save_segment(segment(n + 1))
            emails = normalise_emails(members(ws, segment(n + 1)), "email", "id").valid["email"]
            seeded = random.Random(1).sample(emails.to_list(), int(emails.len() * 0.6))
            contacts = [{"email": e} for e in seeded]
            timed("seed contacts", lambda: server.admin.add_contacts(contacts))
            activations.create_destination(ws, "sg", host=server.url, api_key=KEY)
            activations.activate(ws, "everyone")
            plan = timed("preview", lambda: activations.preview(ws, "everyone", options=OPTIONS))
            print(f"  to add {plan.to_add.height}, lookup by {plan.lookup}")
            report(timed("first run", lambda: activations.run(ws, "everyone", options=OPTIONS)))
            report(timed("no-op run", lambda: activations.run(ws, "everyone", options=OPTIONS)))
            ws.store.save_segment(segment(n + 1, n // 10))
            run = lambda: activations.run(ws, "everyone", approve=True, options=OPTIONS)  # noqa: E731
            report(timed("incremental run (10% leave)", run))
            for seed in range(args.kills):
                kill_and_converge(ws, server, seed, n)
        ws.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
