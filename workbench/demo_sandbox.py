"""The demo's SendGrid account: a seeded sandbox state, a ready destination, started on demand.

``python -m workbench demo`` (and the first use of the demo warehouse) calls
:func:`seed_demo_sandbox`: the sandbox state file ``<WORKBENCH_HOME>/sendgrid-sandbox.sqlite``
gets contacts for about 60% of the demo customers with a valid email (SendGrid keeps emails in
lower case, so mixed-case warehouse emails are stored in another case; some customers' address
is only an *alternate* email of a contact; a few contacts carry an ``external_id``) plus about
5% addresses that are not customers, and the destination ``demo-sandbox`` points at it on
loopback with the demo key. So "only existing contacts are added" is visible out of the box.

A rebuilt demo (``demo --force``) replaces the account's contacts and lists, so the demo
destination's activations forget their old list ids and member snapshots (:func:`forget_demo_lists`)
and their next run creates a new list: no ``--recreate-list`` needed. Runs those activations left
unfinished or waiting for approval are abandoned (their plans name contacts that are gone).

The sandbox process (:func:`ensure_demo_sandbox`, :func:`stop_demo_sandbox`) lives in
``workbench.demo_sandbox_process``; its public names are re-exported here.
"""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.activations import create_destination
from workbench.config import Settings
from workbench.demo_sandbox_process import (
    DEMO_API_KEY,
    DEMO_DESTINATION,
    demo_state_path,
    loopback_url,
)
from workbench.demo_sandbox_process import demo_sandbox_url as demo_sandbox_url  # re-exported
from workbench.demo_sandbox_process import ensure_demo_sandbox as ensure_demo_sandbox
from workbench.demo_sandbox_process import stop_demo_sandbox as stop_demo_sandbox
from workbench.demo_vocabulary import FIRST_NAMES, LAST_NAMES
from workbench.destinations.sendgrid import sync_lock
from workbench.destinations.sendgrid.sandbox import FULL_SCOPES
from workbench.destinations.sendgrid.sandbox import inbox as sandbox_inbox
from workbench.destinations.sendgrid.sandbox import store as sandbox_store
from workbench.emails import is_valid_email, normalise_email
from workbench.errors import ConflictError, NotFoundError
from workbench.secrets import key_file_path, save_api_key
from workbench.warehouse import open_warehouse
from workbench.workspace import Workspace

CONTACT_SHARE = 0.60  # of the customers with a valid email
ALTERNATE_SHARE = 0.08  # of those contacts: the customer's address is an alternate email
EXTERNAL_ID_SHARE = 0.05  # of those contacts: they also carry an external_id
NON_CUSTOMER_SHARE = 0.05  # extra contacts, relative to the number of customers
ALTERNATE_DOMAIN = "home.example.net"  # primary emails of alternate-email contacts
NON_CUSTOMER_DOMAIN = "prospects.example.org"  # never a demo customer's domain
SEED_MARKER = "demo_seed"
OPEN_RUNS = ("planned", "applying", "needs_approval")  # runs that would still touch the list
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
    forgotten: tuple[str, ...] = ()  # demo activations that start over on a new list
    busy: tuple[str, ...] = ()  # demo activations running during the rebuild

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
            + self._restarts()
        )

    def _restarts(self) -> str:
        """What the rebuild means for the demo activations, if any."""
        text = ""
        if self.forgotten:
            text += (f"\nthe old demo lists are gone: {', '.join(self.forgotten)} will create "
                     "new lists on their next run")  # fmt: skip
        if self.busy:
            text += (f"\n{', '.join(self.busy)} ran during the rebuild: once it ends, run it "
                     "again with --recreate-list")  # fmt: skip
        return text


def demo_sandbox_port(settings: Settings) -> int:
    """The demo sandbox's port (``WORKBENCH_DEMO_SANDBOX_PORT``, default 8125)."""
    return settings.demo_sandbox_port


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
    sandbox_inbox.discard(path)  # jobs a killed sandbox left must not reach the rebuilt account
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
    if loopback_url(str(saved["host"])) not in (None, url):
        ws.store.save_destination(DEMO_DESTINATION, {**saved, "host": url})
    if not key_file_path(settings.home, DEMO_DESTINATION).exists():
        save_api_key(settings.home, DEMO_DESTINATION, DEMO_API_KEY)


ABANDONED = "the demo SendGrid account was rebuilt: this run's list and contacts are gone"


def _forget_list(ws: Workspace, name: str) -> None:
    """Under the activation's lock: abandon its open runs, forget its list id and snapshot."""
    with sync_lock.locked(ws.store, name):
        for run in ws.store.list_runs(name, limit=20):
            if run["status"] in OPEN_RUNS:
                ws.store.update_run(int(run["id"]), status="abandoned", message=ABANDONED)
        snapshot = ws.store.read_snapshot(name)
        ws.store.confirm_removed(name, snapshot.get_column("email").to_list())
        config = ws.store.get_activation(name)
        ws.store.save_activation(name, {**config, "list_id": None, "created_by_us": False})


def forget_demo_lists(settings: Settings) -> tuple[list[str], list[str]]:
    """After the demo account was reseeded: every demo-destination activation forgets its list
    and snapshot. Returns the names forgotten and those skipped because a run held them."""
    forgotten, busy = [], []
    with Workspace(settings) as ws:
        for doc in ws.store.list_activations(destination=DEMO_DESTINATION):
            try:
                _forget_list(ws, doc.name)
            except ConflictError:
                busy.append(doc.name)
            else:
                forgotten.append(doc.name)
    return forgotten, busy


def seed_demo_sandbox(settings: Settings) -> DemoSandboxSummary:
    """Seed the demo sandbox state from the demo warehouse and create the demo destination.

    Deterministic and idempotent: the same warehouse and seed leave the state untouched; a
    rebuilt warehouse replaces the sandbox's contacts and lists, and the demo activations
    forget their old lists. The sandbox is not started.
    """
    started = time.perf_counter()
    customers, others = demo_contacts(settings)
    path = demo_state_path(settings)
    seeded = _seed_state(path, customers + others)
    url = f"http://127.0.0.1:{demo_sandbox_port(settings)}"
    _ensure_destination(settings, url)
    forgotten, busy = forget_demo_lists(settings) if seeded else ([], [])
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
        forgotten=tuple(forgotten),
        busy=tuple(busy),
    )


def _demo_settings_wanted(settings: Settings) -> bool:
    """Whether the warehouse in use is the demo one in WORKBENCH_HOME (the only one seeded)."""
    return settings.uses_demo_warehouse and settings.warehouse_path.exists()


def seed_if_demo(settings: Settings) -> DemoSandboxSummary | None:
    """:func:`seed_demo_sandbox` when the demo warehouse in WORKBENCH_HOME is in use, else None."""
    return seed_demo_sandbox(settings) if _demo_settings_wanted(settings) else None
