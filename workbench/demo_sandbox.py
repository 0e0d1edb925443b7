"""The demo's SendGrid account: a seeded sandbox state, a ready destination, started on demand.

``python -m workbench demo`` (and the first use of the demo warehouse) calls
:func:`seed_demo_sandbox`: the sandbox state file ``<WORKBENCH_HOME>/sendgrid-sandbox.sqlite``
gets contacts for about 60% of the demo customers with a valid email (SendGrid keeps emails in
lower case, so mixed-case warehouse emails are stored in another case; some customers' address
is only an *alternate* email of a contact; a few contacts carry an ``external_id``) plus about
5% addresses that are not customers, and the destination ``demo-sandbox`` points at it on
loopback with the demo key. So "only existing contacts are added" is visible out of the box.

:func:`ensure_demo_sandbox` starts ``python -m workbench.sandbox`` in the background when the
demo destination is used and nothing listens on its port; :func:`stop_demo_sandbox` stops it.
The demo key is a fixed, public, sandbox-only constant: it opens nothing but this sandbox.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.activations import create_destination
from workbench.config import Settings
from workbench.demo_vocabulary import FIRST_NAMES, LAST_NAMES
from workbench.destinations.sendgrid.sandbox import FULL_SCOPES, SandboxRemote
from workbench.destinations.sendgrid.sandbox import store as sandbox_store
from workbench.emails import is_valid_email, normalise_email
from workbench.errors import ConfigError, NotFoundError, Unavailable
from workbench.secrets import key_file_path, save_api_key
from workbench.warehouse import open_warehouse
from workbench.workspace import Workspace

DEMO_DESTINATION = "demo-sandbox"
DEMO_API_KEY = "demo-sandbox-key-not-a-secret"  # accepted only by the demo sandbox
DEMO_STATE_FILE = "sendgrid-sandbox.sqlite"
CONTACT_SHARE = 0.60  # of the customers with a valid email
ALTERNATE_SHARE = 0.08  # of those contacts: the customer's address is an alternate email
EXTERNAL_ID_SHARE = 0.05  # of those contacts: they also carry an external_id
NON_CUSTOMER_SHARE = 0.05  # extra contacts, relative to the number of customers
ALTERNATE_DOMAIN = "home.example.net"  # primary emails of alternate-email contacts
NON_CUSTOMER_DOMAIN = "prospects.example.org"  # never a demo customer's domain
SEED_MARKER = "demo_seed"
SANDBOX_KEY_ENV = "WORKBENCH_SANDBOX_API_KEY"  # how the sandbox process gets its key
LOOPBACK = ("127.0.0.1", "localhost", "::1")
LOCK_FILE, PID_FILE, LOG_FILE = (f"sendgrid-sandbox.{end}" for end in ("lock", "pid", "log"))
START_TIMEOUT_S, STOP_TIMEOUT_S, HEALTH_TIMEOUT_S, POLL_S = 20.0, 10.0, 2.0, 0.1
_STARTED: dict[int, subprocess.Popen[bytes]] = {}  # kept so they are reaped, never collected
RESET_TABLES = ("contacts", "alternate_emails", "members", "lists", "jobs", "changes", "exports")


@dataclass(frozen=True)
class DemoSandboxSummary:
    """What :func:`seed_demo_sandbox` left in place: the state file, the contacts, the URL."""

    state_path: Path
    url: str
    destination: str
    customer_contacts: int
    alternate_contacts: int
    external_id_contacts: int
    non_customer_contacts: int
    seeded: bool
    seconds: float

    @property
    def contacts(self) -> int:
        """Every contact the demo account holds."""
        return self.customer_contacts + self.non_customer_contacts

    def __str__(self) -> str:
        action = "seeded" if self.seeded else "already seeded"
        return (
            f"demo SendGrid sandbox {action} at {self.state_path}: {self.contacts:,} contacts "
            f"({self.customer_contacts:,} customers, {self.alternate_contacts:,} of them by an "
            f"alternate email, {self.non_customer_contacts:,} not customers); destination "
            f"{self.destination!r} -> {self.url} (started on first use), in {self.seconds:.1f} s"
        )


def demo_sandbox_port(settings: Settings) -> int:
    """The demo sandbox's port (``WORKBENCH_DEMO_SANDBOX_PORT``, default 8125)."""
    return settings.demo_sandbox_port


def demo_state_path(settings: Settings) -> Path:
    """The demo sandbox's SQLite state file in WORKBENCH_HOME."""
    return settings.home / DEMO_STATE_FILE


def _customer_rows(settings: Settings) -> list[tuple[int, str, str, str]]:
    """``(id, normalised email, first, last)`` of each customer with a valid, unique email."""
    con = open_warehouse(settings.warehouse_path)
    try:
        rows = con.sql(
            "SELECT id, email, first_name, last_name FROM customers ORDER BY id"
        ).fetchall()
    finally:
        con.close()
    seen: set[str] = set()
    found = []
    for cid, raw, first, last in rows:
        email = normalise_email(raw)
        if email is not None and email not in seen and is_valid_email(email):
            seen.add(email)
            found.append((int(cid), email, str(first), str(last)))
    return found


def _contact(rng: random.Random, email: str, first: str, last: str, **extra: Any) -> dict:
    """One contact in the sandbox store's shape, with an id drawn from ``rng``."""
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "email": email,
        "alternate_emails": [],
        "first_name": first,
        "last_name": last,
        **extra,
    }


def _customer_contact(rng: random.Random, cid: int, email: str, first: str, last: str) -> dict:
    """A customer's contact: by primary email, by an alternate email, or with an external_id."""
    kind = rng.random()
    if kind < ALTERNATE_SHARE:
        primary = f"{email.split('@')[0]}.{cid}@{ALTERNATE_DOMAIN}"
        return _contact(rng, primary, first, last, alternate_emails=[email])
    if kind < ALTERNATE_SHARE + EXTERNAL_ID_SHARE:
        return _contact(rng, email, first, last, external_id=f"crm-{cid}")
    return _contact(rng, email, first, last)


def demo_contacts(settings: Settings) -> tuple[list[dict], list[dict]]:
    """The demo account's contacts, the same for the same warehouse and seed: customers' and
    non-customers'."""
    rng = random.Random(settings.demo_seed)
    customers = [
        _customer_contact(rng, cid, email, first, last)
        for cid, email, first, last in _customer_rows(settings)
        if rng.random() < CONTACT_SHARE
    ]
    extra = max(1, round(NON_CUSTOMER_SHARE * len(customers) / CONTACT_SHARE))
    others = []
    for i in range(1, extra + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first.lower()}.{last.lower()}.{i}@{NON_CUSTOMER_DOMAIN}"
        others.append(_contact(rng, email, first, last))
    return customers, others


def _fingerprint(contacts: list[dict]) -> str:
    """A digest of the contacts' addresses: equal digests mean the state is already seeded."""
    digest = hashlib.sha256()
    for c in contacts:
        digest.update(f"{c['email']}|{','.join(c['alternate_emails'])}\n".encode())
    return digest.hexdigest()


def _seed_state(path: Path, contacts: list[dict]) -> bool:
    """Write ``contacts`` into the sandbox state (replacing an older demo seed); False if the
    same seed is there already. One transaction, so two seeders never interleave."""
    sandbox_store.initialise(path)
    marker = _fingerprint(contacts)
    with sandbox_store.transaction(path) as conn:
        sandbox_store.put_key(conn, DEMO_API_KEY, list(FULL_SCOPES))
        rows = conn.execute("SELECT value FROM meta WHERE key = ?", (SEED_MARKER,)).fetchall()
        if rows and rows[0]["value"] == marker:
            return False
        for table in RESET_TABLES:  # a rebuilt demo: the old contacts belong to other people
            conn.execute(f"DELETE FROM {table}")
        now = time.time()
        stamped = [{**c, "created_at": now, "updated_at": now} for c in contacts]
        for layer in (sandbox_store.TRUTH, sandbox_store.VISIBLE):
            sandbox_store.write_contacts(conn, layer, stamped)
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (SEED_MARKER, marker))
    return True


def _ensure_destination(settings: Settings, url: str) -> None:
    """Create the demo destination (default activation settings) unless it exists; an existing
    one keeps its settings but follows a changed port and gets its key file back if missing."""
    ws = Workspace(settings)
    try:
        saved = ws.store.get_destination(DEMO_DESTINATION)
    except NotFoundError:
        create_destination(ws, DEMO_DESTINATION, host=url, api_key=DEMO_API_KEY)
        return
    if _loopback_url(str(saved["host"])) not in (None, url):
        ws.store.save_destination(DEMO_DESTINATION, {**saved, "host": url})
    if not key_file_path(settings.home, DEMO_DESTINATION).exists():
        save_api_key(settings.home, DEMO_DESTINATION, DEMO_API_KEY)


def seed_demo_sandbox(settings: Settings) -> DemoSandboxSummary:
    """Seed the demo sandbox state from the demo warehouse and create the demo destination.

    Deterministic and idempotent: the same warehouse and seed leave the state untouched; a
    rebuilt warehouse replaces the sandbox's contacts and lists. The sandbox is not started.
    """
    started = time.perf_counter()
    customers, others = demo_contacts(settings)
    path = demo_state_path(settings)
    seeded = _seed_state(path, customers + others)
    url = f"http://127.0.0.1:{demo_sandbox_port(settings)}"
    _ensure_destination(settings, url)
    return DemoSandboxSummary(
        state_path=path,
        url=url,
        destination=DEMO_DESTINATION,
        customer_contacts=len(customers),
        alternate_contacts=sum(1 for c in customers if c["alternate_emails"]),
        external_id_contacts=sum(1 for c in customers if c.get("external_id")),
        non_customer_contacts=len(others),
        seeded=seeded,
        seconds=time.perf_counter() - started,
    )


def _demo_settings_wanted(settings: Settings) -> bool:
    """Whether the warehouse in use is the demo one in WORKBENCH_HOME (the only one seeded)."""
    return settings.uses_demo_warehouse and settings.warehouse_path.exists()


def seed_if_demo(settings: Settings) -> DemoSandboxSummary | None:
    """:func:`seed_demo_sandbox` when the demo warehouse in WORKBENCH_HOME is in use, else None."""
    return seed_demo_sandbox(settings) if _demo_settings_wanted(settings) else None


# --- the sandbox process: started on demand, found again by its port, stopped by its pid file


def _loopback_url(host: str) -> str | None:
    """``http://host:port`` when ``host`` is such a loopback URL, else None."""
    parts = urllib.parse.urlsplit(host)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK or parts.port is None:
        return None
    return f"http://{parts.hostname}:{parts.port}"


def demo_sandbox_url(ws: Workspace) -> str | None:
    """The demo destination's sandbox URL; None without a demo destination or when it points
    somewhere other than loopback."""
    try:
        return _loopback_url(str(ws.store.get_destination(DEMO_DESTINATION)["host"]))
    except NotFoundError:
        return None


def _listening(url: str) -> bool:
    """Whether a sandbox answers its health check at ``url``."""
    return SandboxRemote(url, timeout_s=HEALTH_TIMEOUT_S).healthy()


@contextmanager
def _home_lock(home: Path) -> Iterator[None]:
    """An exclusive lock on the demo sandbox of ``home``, across threads and processes."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / LOCK_FILE, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _start_process(settings: Settings, url: str) -> subprocess.Popen[bytes]:
    """``python -m workbench.sandbox`` on the URL's port, detached; the key goes by env."""
    parts = urllib.parse.urlsplit(url)
    package_root = str(Path(__file__).resolve().parent.parent)
    python_path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, SANDBOX_KEY_ENV: DEMO_API_KEY, "PYTHONPATH": python_path}
    command = [sys.executable, "-m", "workbench.sandbox", "--host", str(parts.hostname),
               "--port", str(parts.port), "--state", str(demo_state_path(settings))]  # fmt: skip
    with open(settings.home / LOG_FILE, "ab") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,  # outlives the app or runner that started it
        )  # fmt: skip
    _STARTED[process.pid] = process
    return process


def _wait_until_listening(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Return once a sandbox answers at ``url``; a clear error when ours exits or hangs."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if _listening(url):
            return
        if process.poll() is not None:
            _STARTED.pop(process.pid, None)
            if _listening(url):  # another process won the port: its sandbox serves the URL
                return
            raise ConfigError(
                f"the demo sandbox could not listen at {url} (see {log}): another program may "
                "use that port; set WORKBENCH_DEMO_SANDBOX_PORT to a free port and run "
                "`python -m workbench demo --force`, or give the demo destination another "
                "loopback host"
            )
        time.sleep(POLL_S)
    raise Unavailable(f"the demo sandbox at {url} did not answer within {START_TIMEOUT_S:.0f} s")


def ensure_demo_sandbox(ws: Workspace, destination: str | None = None) -> str | None:
    """Start the demo sandbox unless it already answers; its URL, or None without one.

    Pass the destination about to be used: other destinations return None at once. Safe to
    call from several threads and processes: one starts the sandbox, the others find it.
    """
    if destination is not None and destination != DEMO_DESTINATION:
        return None
    url = demo_sandbox_url(ws)
    if url is None or _listening(url):
        return url
    with _home_lock(ws.settings.home):
        if not _listening(url):
            process = _start_process(ws.settings, url)
            _wait_until_listening(url, process, ws.settings.home / LOG_FILE)
            if process.poll() is None:  # ours serves: remember it for stop_demo_sandbox
                (ws.settings.home / PID_FILE).write_text(str(process.pid))
    return url


def _is_sandbox_process(pid: int) -> bool:
    """Whether ``pid`` is a running ``workbench.sandbox`` (so a reused pid is never killed)."""
    try:
        return b"workbench.sandbox" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _wait_for_exit(pid: int) -> None:
    """Wait (bounded) until the process ``pid`` is gone, reaping it if we started it."""
    started = _STARTED.pop(pid, None)
    if started is not None:
        started.wait(timeout=STOP_TIMEOUT_S)
        return
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _is_sandbox_process(pid) and time.monotonic() < deadline:
        time.sleep(POLL_S)


def stop_demo_sandbox(settings: Settings) -> bool:
    """Stop the demo sandbox that :func:`ensure_demo_sandbox` started; False if none runs."""
    pid_file = settings.home / PID_FILE
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return False
    running = _is_sandbox_process(pid)
    if running:
        os.kill(pid, signal.SIGTERM)
        _wait_for_exit(pid)
    pid_file.unlink(missing_ok=True)
    return running
