"""The demo SendGrid account: ``python -m workbench demo`` (through ``workbench.cli.main``) seeds
a sandbox state and a destination; the demo destination starts its sandbox on first use; a
rebuilt demo leaves the demo activations ready to run on new lists.

Everything is real: a demo warehouse in a temporary WORKBENCH_HOME, the sandbox as a separate
``python -m workbench.sandbox`` process on a free loopback port, the real sendgrid client. The
expectations are computed here from the warehouse rows with plain Python.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

import pytest

from workbench import activations, cli
from workbench.config import Settings
from workbench.demo_sandbox import (
    DEMO_API_KEY,
    DEMO_DESTINATION,
    DemoSandboxSummary,
    demo_contacts,
    demo_state_path,
    ensure_demo_sandbox,
    forget_demo_lists,
    seed_demo_sandbox,
    seed_if_demo,
    stop_demo_sandbox,
)
from workbench.demo_sandbox_process import PID_FILE
from workbench.destinations.sendgrid import sync_lock
from workbench.destinations.sendgrid.sandbox import SandboxRemote, job_records
from workbench.destinations.sendgrid.sandbox import inbox as sandbox_inbox
from workbench.destinations.sendgrid.sandbox import store as sandbox_store
from workbench.destinations.sendgrid.sync import REASON_NOT_CONTACT
from workbench.destinations.sendgrid.sync_context import SyncOptions
from workbench.emails import is_valid_email, normalise_email
from workbench.errors import ConfigError
from workbench.secrets import resolve_api_key
from workbench.workspace import Workspace

CUSTOMERS = 1_000
FAST = SyncOptions(poll_s=0.02, heartbeat_s=0.5, client={"backoff": 0.01, "backoff_cap": 0.05})
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Demo:
    """The demo home built by the CLI: settings, the customers' raw emails, the CLI output."""

    settings: Settings
    raw_emails: dict[int, str | None]
    output: str

    def workspace(self) -> Workspace:
        """A workspace over the demo home."""
        return Workspace(self.settings)

    def valid_emails(self, ids: set[int] | None = None) -> set[str]:
        """The normalised valid emails of the customers ``ids`` (all by default)."""
        emails = (normalise_email(e) for i, e in self.raw_emails.items() if ids is None or i in ids)
        return {e for e in emails if e is not None and is_valid_email(e)}


def demo_environment(mp: pytest.MonkeyPatch, home: Path) -> None:
    """Point the workbench at a demo home with its own sandbox port; no outside key."""
    mp.setenv("WORKBENCH_HOME", str(home))
    mp.setenv("WORKBENCH_DEMO_SANDBOX_PORT", str(free_port()))
    mp.setenv("WORKBENCH_SYNC_POLL_S", "0.05")
    for name in ("WORKBENCH_WAREHOUSE", "SENDGRID_API_KEY", "WORKBENCH_SANDBOX_API_KEY"):
        mp.delenv(name, raising=False)
    mp.chdir(home.parent)  # no .streamlit/secrets.toml from the checkout


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """``python -m workbench demo --customers 1000`` in a fresh home; the sandbox stopped after."""
    home = tmp_path_factory.mktemp("demo-sandbox") / "home"
    with pytest.MonkeyPatch.context() as mp:
        demo_environment(mp, home)
        args = ["demo", "--customers", str(CUSTOMERS), "--reference-date", "2026-06-30"]
        output = _captured(lambda: cli.main([*args, "--events-per-customer", "5"]))
        settings = Settings()
        with Workspace(settings) as ws:
            rows = ws.cursor().sql("SELECT id, email FROM customers").fetchall()
        try:
            yield Demo(settings, {int(i): e for i, e in rows}, output)
        finally:
            stop_demo_sandbox(settings)


def _captured(call: Any) -> str:
    """Run ``call`` (which must return exit code 0) and return what it printed."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert call() == 0
    return out.getvalue()


def sandbox_pids(port: int) -> list[int]:
    """The running ``workbench.sandbox`` processes serving ``port``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"workbench.sandbox" in argv and str(port).encode() in argv:
            found.append(int(entry.name))
    return found


def sandbox_contacts(url: str) -> list[dict[str, Any]]:
    """Every contact the running demo sandbox holds (admin surface over HTTP)."""
    return SandboxRemote(url).contacts()


def test_demo_command_seeds_about_60_percent_of_customers_and_some_strangers(demo: Demo) -> None:
    assert "demo SendGrid sandbox seeded" in demo.output
    ws = demo.workspace()
    url = ensure_demo_sandbox(ws)
    assert url is not None
    contacts = sandbox_contacts(url)
    customers = demo.valid_emails()
    addresses = {c["email"] for c in contacts} | {
        a for c in contacts for a in c["alternate_emails"]
    }
    share = len(customers & addresses) / len(customers)
    assert 0.55 <= share <= 0.65
    strangers = [c for c in contacts if c["email"] not in customers and not c["alternate_emails"]]
    assert 0.03 * CUSTOMERS <= len(strangers) <= 0.07 * CUSTOMERS
    by_alternate = [c for c in contacts if set(c["alternate_emails"]) & customers]
    assert by_alternate and all(c["email"] not in customers for c in by_alternate)
    assert any(c.get("external_id") for c in contacts)
    mixed_case = {e.strip() for e in demo.raw_emails.values() if e and e.strip() != e.lower()}
    assert {e.lower() for e in mixed_case} & addresses  # stored in another case than the warehouse


def test_seeding_is_deterministic_idempotent_and_only_for_the_demo_home(
    demo: Demo, tmp_path: Path
) -> None:
    before = demo_state_path(demo.settings).stat().st_mtime_ns
    again = seed_demo_sandbox(demo.settings)
    assert not again.seeded and again.contacts > 0.6 * CUSTOMERS * 0.8
    assert demo_state_path(demo.settings).stat().st_mtime_ns >= before
    first, second = demo_contacts(demo.settings), demo_contacts(demo.settings)
    assert first == second
    configured = Settings(home=tmp_path / "other", warehouse=demo.settings.warehouse_path)
    assert seed_if_demo(configured) is None
    assert not demo_state_path(configured).exists()


def test_demo_destination_key_resolves_and_connects_to_an_auto_started_sandbox(
    demo: Demo,
) -> None:
    ws = demo.workspace()
    destination = activations.get_destination(ws, DEMO_DESTINATION)
    assert destination.host.startswith("http://127.0.0.1:")
    key = resolve_api_key(demo.settings.home, DEMO_DESTINATION)
    assert key is not None and key.value == DEMO_API_KEY and key.source == "key file"
    stop_demo_sandbox(demo.settings)
    assert not SandboxRemote(destination.host, timeout_s=1).healthy()
    assert ensure_demo_sandbox(ws, DEMO_DESTINATION) == destination.host
    check = activations.test_connection(ws, DEMO_DESTINATION)
    assert check.ok, check.message
    assert ensure_demo_sandbox(ws, "some-other-destination") is None


def test_preview_skips_non_contacts_and_a_push_adds_exactly_segment_and_contacts(
    demo: Demo,
) -> None:
    ws = demo.workspace()
    url = ensure_demo_sandbox(ws)
    assert url is not None
    contacts = sandbox_contacts(url)
    primary_of = {c["email"]: c["email"] for c in contacts}
    primary_of.update({a: c["email"] for c in contacts for a in c["alternate_emails"]})
    ids = {i for i in demo.raw_emails if i <= 300}
    ws.store.save_segment({"name": "first-300", "entity": "customers",
                           "filter": {"column": "id", "op": "lt", "value": 301}})  # fmt: skip
    activations.activate(ws, "first-300")
    wanted = demo.valid_emails(ids)
    plan = activations.preview(ws, "first-300", options=FAST)
    assert set(plan.to_add["email"].to_list()) == wanted & primary_of.keys()
    assert plan.skipped_by_reason()[REASON_NOT_CONTACT] == len(wanted - primary_of.keys())
    record = activations.run(ws, "first-300", options=FAST)
    assert record.status == "succeeded", record
    list_id = activations.get_activation(ws, "first-300").list_id
    assert list_id is not None
    expected = {primary_of[e] for e in wanted & primary_of.keys()}
    assert SandboxRemote(url).list_members(list_id) == expected
    assert len(sandbox_contacts(url)) == len(contacts)  # no contact was created


def test_racing_starters_share_one_sandbox(demo: Demo) -> None:
    ws = demo.workspace()
    stop_demo_sandbox(demo.settings)
    code = "from workbench.demo_sandbox import *; from workbench.workspace import Workspace; " \
        "print(ensure_demo_sandbox(Workspace()))"  # fmt: skip
    other = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE)
    urls: list[str | None] = []
    threads = [threading.Thread(target=lambda: urls.append(ensure_demo_sandbox(ws)))
               for _ in range(3)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out, _ = other.communicate(timeout=60)
    expected = activations.get_destination(ws, DEMO_DESTINATION).host
    assert urls == [expected] * 3 and out.decode().strip() == expected
    pid = int((demo.settings.home / PID_FILE).read_text())
    assert sandbox_pids(int(expected.rsplit(":", 1)[1])) == [pid]


def test_a_port_held_by_another_program_is_a_clear_error(
    demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    demo_environment(monkeypatch, home)
    settings = Settings(home=home, warehouse=None)
    ws = Workspace(settings)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        port = squatter.getsockname()[1]
        activations.create_destination(ws, DEMO_DESTINATION, host=f"http://127.0.0.1:{port}",
                                       api_key=DEMO_API_KEY)  # fmt: skip
        with pytest.raises(ConfigError, match="another program may use that port"):
            ensure_demo_sandbox(ws)
    assert not stop_demo_sandbox(settings)  # the failed process is gone already


def state_emails(settings: Settings) -> set[str]:
    """The primary emails the demo sandbox state holds (read straight from its SQLite file)."""
    conn = sandbox_store.connect(demo_state_path(settings))
    try:
        rows = conn.execute("SELECT email FROM contacts WHERE layer = 'truth'").fetchall()
    finally:
        conn.close()
    return {r["email"] for r in rows}


def leave_a_job_in_the_inbox(state: Path, email: str) -> str:
    """An accepted upsert a killed sandbox left in its job inbox, never taken in."""
    sandbox_inbox.initialise(state)
    job = job_records.new_job("upsert", {"list_ids": [], "contacts": [{"email": email}]}, 0.0,
                              False, time.time())  # fmt: skip
    with sandbox_store.transaction(sandbox_inbox.inbox_path(state)) as conn:
        marks = ", ".join("?" * len(astuple(job)))
        conn.execute(f"INSERT INTO inbox({job_records.COLUMNS}) VALUES ({marks})", astuple(job))
    return job.id


def test_a_rebuilt_demo_reseeds_and_a_new_port_moves_the_destination(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo_environment(monkeypatch, tmp_path / "home")
    small = ["demo", "--events-per-customer", "1", "--orders-per-customer", "1"]
    _captured(lambda: cli.main([*small, "--customers", "300"]))
    before = state_emails(Settings())
    stale = leave_a_job_in_the_inbox(demo_state_path(Settings()), "stale@example.com")
    monkeypatch.setenv("WORKBENCH_DEMO_SANDBOX_PORT", str(free_port()))
    output = _captured(lambda: cli.main([*small, "--customers", "400", "--force"]))
    settings = Settings()
    assert "demo SendGrid sandbox seeded" in output
    assert sandbox_inbox.discard(demo_state_path(settings)) == 0, f"{stale} survived"
    assert "stale@example.com" not in state_emails(settings)
    customers, others = demo_contacts(settings)
    after = state_emails(settings)
    assert after == {c["email"] for c in customers + others} and after != before
    host = activations.get_destination(Workspace(settings), DEMO_DESTINATION).host
    assert host == f"http://127.0.0.1:{os.environ['WORKBENCH_DEMO_SANDBOX_PORT']}"


def test_after_a_rebuilt_demo_the_demo_activations_run_on_new_lists_by_themselves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo_environment(monkeypatch, tmp_path / "home")
    small = ["demo", "--events-per-customer", "1", "--orders-per-customer", "1"]
    _captured(lambda: cli.main([*small, "--customers", "300"]))
    settings = Settings()
    try:
        with Workspace(settings) as ws:
            early = {"column": "id", "op": "lt", "value": 101}
            ws.store.save_segment({"name": "early", "entity": "customers", "filter": early})
            activations.activate(ws, "early")
            assert activations.run(ws, "early", options=FAST).status == "succeeded"
            old_list = activations.get_activation(ws, "early").list_id
            waiting = ws.store.create_run("early", {"status": "needs_approval"})  # an old plan
        output = _captured(lambda: cli.main([*small, "--customers", "400", "--force"]))
        assert "early will create new lists on their next run" in output
        with Workspace(settings) as ws:
            assert activations.get_activation(ws, "early").list_id is None
            assert ws.store.read_snapshot("early").is_empty()
            assert activations.get_run(ws, waiting).status == "abandoned"
            url = ensure_demo_sandbox(ws)
            assert url is not None and SandboxRemote(url).find_list("early") is None  # gone
            record = activations.run(ws, "early", options=FAST)  # no --recreate-list needed
            assert record.status == "succeeded", record.message
            new_list = activations.get_activation(ws, "early").list_id
            emails = ws.cursor().sql("SELECT email FROM customers WHERE id < 101").fetchall()
        assert new_list not in (None, old_list)
        contacts = sandbox_contacts(url)
        primary = {c["email"]: c["email"] for c in contacts}
        primary.update({a: c["email"] for c in contacts for a in c["alternate_emails"]})
        wanted = {normalise_email(raw) for (raw,) in emails} & primary.keys()
        assert SandboxRemote(url).list_members(str(new_list)) == {primary[e] for e in wanted}
    finally:
        stop_demo_sandbox(settings)


def test_a_demo_activation_running_during_the_rebuild_is_named_with_what_to_do(
    tmp_path: Path,
) -> None:
    settings = Settings(home=tmp_path / "home", warehouse=None)
    with Workspace(settings) as ws:
        for name, destination in (("idle", DEMO_DESTINATION), ("busy", DEMO_DESTINATION),
                                  ("elsewhere", "real-sendgrid")):  # fmt: skip
            ws.store.save_activation(name, {"segment": "s", "destination": destination,
                                            "list_id": f"L-{name}"})  # fmt: skip
            ws.store.confirm_added(name, [(f"{name}@x.org", "c1")], None)
        owner = sync_lock.acquire(ws.store, "busy")
        try:
            assert forget_demo_lists(settings) == (["idle"], ["busy"])
        finally:
            sync_lock.release(ws.store, owner)
        lists = {a.name: a.list_id for a in activations.list_activations(ws)}
        assert lists == {"idle": None, "busy": "L-busy", "elsewhere": "L-elsewhere"}
        assert ws.store.read_snapshot("idle").is_empty()
        assert ws.store.read_snapshot("elsewhere").height == 1
    summary = DemoSandboxSummary(settings.home, "http://127.0.0.1:1", DEMO_DESTINATION,
                                 1, 0, 0, 1, True, 0.1, ("idle",), ("busy",))  # fmt: skip
    assert "busy ran during the rebuild: once it ends, run it again with --recreate-list" in str(
        summary
    )
