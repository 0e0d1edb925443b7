# ruff: noqa: F811  (the `world` fixture is imported from sync_support)
"""Crash safety and locking: a run killed with SIGKILL at random points of a push (a real
subprocess) is finished by the next start exactly as a clean run would leave the list; two
runs of one activation never overlap, in threads or across processes; stale locks are taken
over."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import workbench
from tests.sendgrid.sync_support import World, world  # noqa: F401
from workbench import activations
from workbench.destinations.sendgrid import sync_lock
from workbench.errors import ConflictError

FIRST = set(range(1, 151))
SECOND = set(range(60, 330))
REPO = Path(workbench.__file__).resolve().parents[1]
WORKER = """
import json
import sys
from pathlib import Path
from workbench import activations
from workbench.config import Settings
from workbench.destinations.sendgrid.sync_context import SyncOptions
from workbench.workspace import Workspace

home, warehouse, name, client = sys.argv[1:5]
ws = Workspace(Settings(home=Path(home), warehouse=Path(warehouse)))
options = SyncOptions(poll_s=0.02, heartbeat_s=0.2,
                      client={"backoff": 0.01, "backoff_cap": 0.05, **json.loads(client)})
print("started", flush=True)
print(activations.run(ws, name, approve=True, options=options).status, flush=True)
"""


def start_worker(
    world: World, tmp_path: Path, client: dict[str, Any] | None = None
) -> subprocess.Popen[str]:
    """Run the activation in another process (its client options: 7 contacts per upsert,
    or ``client``); returns once its imports are done."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {k: v for k, v in os.environ.items() if k != "SENDGRID_API_KEY"}
    env["PYTHONPATH"] = str(REPO)
    settings = world.ws.settings
    options = json.dumps(client or {"upsert_max_contacts": 7})
    args = [sys.executable, str(script), str(settings.home), str(settings.warehouse), world.name]
    args.append(options)
    process = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "started"
    return process


def kill_at_random(world: World, process: subprocess.Popen[str], seed: int) -> None:
    """SIGKILL the worker while it plans (seed 1) or at a random moment of its push."""
    rng = random.Random(seed)
    if seed > 1:  # wait until the worker's plan is persisted: its push begins
        earlier, deadline = len(batch_rows(world)), time.monotonic() + 20
        while time.monotonic() < deadline and len(batch_rows(world)) == earlier:
            time.sleep(0.01)
    time.sleep(rng.uniform(0.1, 0.6) if seed == 1 else rng.uniform(0.0, 0.9))
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


@pytest.mark.parametrize("seed", [1, 3, 4])
def test_a_run_killed_at_a_random_moment_converges_on_the_next_start(
    world: World, tmp_path: Path, seed: int
) -> None:
    world.run()
    contacts_before = world.contact_count()
    world.set_segment(SECOND)
    world.sandbox.admin.set_faults(latency_s=0.01, job_delay_s=0.1)
    kill_at_random(world, start_worker(world, tmp_path), seed)
    world.sandbox.admin.set_faults(latency_s=0.0)
    record = world.run(approve=True)  # resumes an unfinished run, or plans the rest
    if record.status == "applying":
        record = world.run(approve=True)
    assert record.status == "succeeded", record.message
    assert world.on_list() == world.expected(SECOND) == world.snapshot()
    assert world.contact_count() == contacts_before  # no contact created
    assert world.run().fields["planned"] == {
        "to_add": 0, "to_remove": 0, "unchanged": len(world.expected(SECOND)),
        "skipped": record.fields["planned"]["skipped"],
    }  # fmt: skip


def test_a_run_left_applying_is_resumed_not_planned_again(world: World, tmp_path: Path) -> None:
    world.set_segment(SECOND)
    world.sandbox.admin.set_faults(job_delay_s=30)  # jobs outlive the worker
    process = start_worker(world, tmp_path)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(b["status"] == "sent" for b in batch_rows(world)):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    killed = activations.list_runs(world.ws, world.name)[0]
    assert killed.status == "applying"
    world.sandbox.admin.set_faults(job_delay_s=0.0)
    world.sandbox.admin.flush()
    resumed = world.run()
    assert resumed.id == killed.id and resumed.status == "succeeded", resumed.message
    assert world.on_list() == world.expected(SECOND) == world.snapshot()


def batch_rows(world: World) -> list[sqlite3.Row]:
    """The sync's batch rows, read straight from SQLite."""
    con = sqlite3.connect(world.ws.settings.state_db_path)
    con.row_factory = sqlite3.Row
    try:
        return con.execute("SELECT * FROM run_batches").fetchall()
    finally:
        con.close()


def test_two_runs_in_threads_never_overlap(world: World) -> None:
    world.sandbox.admin.set_faults(latency_s=0.02)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt() -> None:
        barrier.wait()
        try:
            outcomes.append(world.run().status)
        except ConflictError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes)[0].startswith(f"activation {world.name} is already running (pid ")
    assert "succeeded" in outcomes
    assert world.on_list() == world.expected(FIRST)


def test_a_run_in_another_process_holds_the_lock(world: World, tmp_path: Path) -> None:
    world.sandbox.admin.set_faults(latency_s=0.03)
    process = start_worker(world, tmp_path)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not lock_rows(world):
        time.sleep(0.02)
    with pytest.raises(ConflictError, match=rf"already running \(pid {process.pid} since"):
        world.run()
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "succeeded"
    process.wait(timeout=30)
    assert world.run().status == "succeeded"


def lock_rows(world: World) -> list[tuple[object, ...]]:
    """The lock table's rows."""
    con = sqlite3.connect(world.ws.settings.state_db_path)
    try:
        return con.execute("SELECT * FROM activation_locks").fetchall()
    finally:
        con.close()


def put_lock(world: World, pid: int, host: str, heartbeat_at: float) -> None:
    """Write a lock row as another owner would have."""
    with world.ws.store.transaction() as con:
        con.execute(
            "INSERT OR REPLACE INTO activation_locks VALUES (?, ?, ?, 'x', ?, ?)",
            (world.name, pid, host, "2026-01-01T00:00:00.000+00:00", heartbeat_at),
        )


def test_stale_locks_are_taken_over_and_live_ones_respected(world: World) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    put_lock(world, dead.pid, socket.gethostname(), time.time())
    assert world.run().status == "succeeded"  # its owner died: taken over
    put_lock(world, 1, "another-host", time.time() - 3600)
    assert world.run().status == "succeeded"  # heartbeat stopped an hour ago
    put_lock(world, 1, "another-host", time.time())
    with pytest.raises(ConflictError, match="pid 1 on another-host since 2026-01-01 00:00:00"):
        world.run()
    assert sync_lock.is_stale(
        sync_lock.LockOwner(world.name, 1, "another-host", "x", "", time.time() - 200),
        time.time(),
        sync_lock.STALE_AFTER_S,
    )
