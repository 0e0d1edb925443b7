"""One run per activation at a time, across processes: a lock row in the SQLite state store.

The lock is taken inside ``BEGIN IMMEDIATE`` (so two processes cannot both see it free), names
its owner (pid and host) and carries a heartbeat that a background thread refreshes while the
run works. A lock is stale, and may be taken over, when its owner's pid is dead on this host or
its heartbeat is older than ``stale_after_s`` (an owner on another host, or a hung one).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from workbench.errors import RunSkipped
from workbench.store import Store, utc_now

HEARTBEAT_S = 5.0
STALE_AFTER_S = 120.0


@dataclass(frozen=True)
class LockOwner:
    """Who holds an activation's lock."""

    activation: str
    pid: int
    host: str
    token: str
    acquired_at: str
    heartbeat_at: float


def pid_alive(pid: int) -> bool:
    """True when a process with ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(owner: LockOwner, now: float, stale_after_s: float) -> bool:
    """A lock whose owner died (same host) or whose heartbeat stopped long ago."""
    if owner.host == socket.gethostname() and not pid_alive(owner.pid):
        return True
    return now - owner.heartbeat_at > stale_after_s


def acquire(store: Store, activation: str, stale_after_s: float = STALE_AFTER_S) -> LockOwner:
    """Take the activation's lock; RunSkipped (a ConflictError) naming the holder while held."""
    now = time.time()
    me = LockOwner(activation, os.getpid(), socket.gethostname(), uuid.uuid4().hex, utc_now(), now)
    with store.transaction() as con:
        rows = con.execute(
            "SELECT * FROM activation_locks WHERE activation = ?", (activation,)
        ).fetchall()
        if rows:
            held = LockOwner(**dict(rows[0]))
            if not is_stale(held, now, stale_after_s):
                raise _conflict(held)
        con.execute(
            "INSERT OR REPLACE INTO activation_locks "
            "(activation, pid, host, token, acquired_at, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?)",
            (me.activation, me.pid, me.host, me.token, me.acquired_at, me.heartbeat_at),
        )
    return me


def _conflict(held: LockOwner) -> RunSkipped:
    since = datetime.fromisoformat(held.acquired_at).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    where = "" if held.host == socket.gethostname() else f" on {held.host}"
    return RunSkipped(
        f"activation {held.activation} is already running (pid {held.pid}{where} since "
        f"{since} UTC): wait for it to finish"
    )


def heartbeat(store: Store, owner: LockOwner) -> None:
    """Refresh the heartbeat of a lock we hold."""
    with store.transaction() as con:
        con.execute(
            "UPDATE activation_locks SET heartbeat_at = ? WHERE activation = ? AND token = ?",
            (time.time(), owner.activation, owner.token),
        )


def release(store: Store, owner: LockOwner) -> None:
    """Give the lock back (only if we still hold it)."""
    with store.transaction() as con:
        con.execute(
            "DELETE FROM activation_locks WHERE activation = ? AND token = ?",
            (owner.activation, owner.token),
        )


@contextmanager
def locked(store: Store, activation: str, heartbeat_s: float = HEARTBEAT_S) -> Iterator[LockOwner]:
    """Hold the activation's lock (with a heartbeat thread) for the body of the block."""
    owner = acquire(store, activation)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(heartbeat_s):
            heartbeat(store, owner)

    thread = threading.Thread(target=beat, name=f"lock-{activation}", daemon=True)
    thread.start()
    try:
        yield owner
    finally:
        stop.set()
        thread.join()
        release(store, owner)
