"""Shared machinery of the SQLite state store: connections, transactions and common guards.

The Streamlit app and the scheduled runner read and write the store at the same time, so:

- WAL mode (readers never block the writer), ``busy_timeout`` (writers wait instead of failing),
  foreign keys on;
- ``synchronous = NORMAL``: commits are not flushed to disk one by one, only WAL checkpoints
  are. A killed process loses nothing (its commits are with the OS), which is what a sync's
  crash safety rests on; a power cut may lose the last commits, never the file's consistency
  (a run then resumes from an earlier batch status: every batch is idempotent). Flushing every
  commit made each one wait behind the disk writes of a run's payload and snapshot files:
  80-90 ms for a one-row update at the end of a 1M run;
- a fresh ``sqlite3`` connection per operation, never shared across threads;
- every write inside ``BEGIN IMMEDIATE`` (we issue it ourselves with ``isolation_level=None``):
  Python's default deferred transactions lose updates under two writers.

``StoreBase.transaction()`` groups several operations into one atomic write: while it is open,
every store method called on the same thread joins it (nested writes become savepoints).
The mixins of ``workbench.store.Store`` build on ``StoreBase``; this module also holds the guards
they share: ``refuse_secrets`` (the store never holds secrets), ``not_found`` and ``utc_now``.
"""

from __future__ import annotations

import difflib
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError, NotFoundError

BUSY_TIMEOUT_MS = 30_000

_SECRET_KEY = re.compile(r"api[_-]?key|secret|token|passw(or)?d|credential|private[_-]?key", re.I)
_REFERENCE_SUFFIXES = ("_env", "_name", "_ref")  # where a secret lives, not the secret itself
_SENDGRID_KEY_VALUE = re.compile(r"SG\.[\w-]{10,}\.[\w-]{10,}")


def utc_now() -> str:
    """Now as UTC ISO-8601 with milliseconds, e.g. ``2026-06-30T12:00:00.000+00:00``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _secret_paths(doc: Any, path: str = "") -> Iterator[str]:
    """Paths in ``doc`` whose key is named like a secret or whose value looks like an API key."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            here = f"{path}.{key}" if path else str(key)
            named_secret = _SECRET_KEY.search(str(key))
            if named_secret and not str(key).lower().endswith(_REFERENCE_SUFFIXES):
                yield here
            else:
                yield from _secret_paths(value, here)
    elif isinstance(doc, list):
        for i, item in enumerate(doc):
            yield from _secret_paths(item, f"{path}[{i}]")
    elif isinstance(doc, str) and _SENDGRID_KEY_VALUE.search(doc):
        yield path or "(value)"


def refuse_secrets(kind: str, name: str, doc: Any) -> None:
    """Raise ConfigError when ``doc`` holds something secret (the message never shows the value)."""
    found = list(_secret_paths(doc))
    if found:
        raise ConfigError(
            f"{kind} {name!r}: refusing to store {', '.join(found)}: it looks like a secret and "
            "the state store never holds secrets. Keep the API key in .streamlit/secrets.toml "
            "or an environment variable, and store only where to find it (a key ending in _env)."
        )


def not_found(kind: str, name: object, known: list[str]) -> NotFoundError:
    """A NotFoundError naming the missing object and the closest (or all) saved names."""
    close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
    if close:
        hint = "did you mean: " + ", ".join(repr(c) for c in close) + "?"
    else:
        hint = "saved: " + (", ".join(repr(k) for k in known[:20]) or "none")
    return NotFoundError(f"no saved {kind} named {name!r} ({hint})")


class StoreBase:
    """Connections and transactions of the state store at ``path`` (set by ``Store.__init__``)."""

    path: Path
    _local: threading.local

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        con.row_factory = sqlite3.Row
        con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        con.execute("PRAGMA foreign_keys = ON")
        con.execute("PRAGMA synchronous = NORMAL")  # see the module docstring
        return con

    def _enable_wal(self) -> None:
        """Switch the file to WAL mode (it stays so). SQLite answers "database is locked" at
        once, without waiting for the busy timeout, when another process opens the new file at
        the same moment: retry until the busy timeout has passed."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        con = self._connect()
        try:
            while True:
                try:
                    con.execute("PRAGMA journal_mode = WAL")
                    return
                except sqlite3.OperationalError as error:
                    if "locked" not in str(error) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
        finally:
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection inside ``BEGIN IMMEDIATE``: commits on success, rolls back on error.

        Store methods called on this thread while it is open join it; a nested
        ``transaction()`` becomes a savepoint that rolls back alone.
        """
        active: sqlite3.Connection | None = getattr(self._local, "con", None)
        if active is not None:
            yield from _savepoint(active)
            return
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            self._local.con = con
            try:
                yield con
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            self._local.con = None
            con.close()

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The open transaction's connection on this thread, else a fresh one for this read."""
        active: sqlite3.Connection | None = getattr(self._local, "con", None)
        if active is not None:
            yield active
            return
        con = self._connect()
        try:
            yield con
        finally:
            con.close()

    @staticmethod
    def _names(con: sqlite3.Connection, table: str) -> list[str]:
        return [r[0] for r in con.execute(f"SELECT name FROM {table} ORDER BY name").fetchall()]


def _savepoint(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    con.execute("SAVEPOINT nested")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK TO nested")
        con.execute("RELEASE nested")
        raise
    con.execute("RELEASE nested")
