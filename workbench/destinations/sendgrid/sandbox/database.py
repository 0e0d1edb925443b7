"""The running sandbox's connections to its state file: one writer, a pool of readers.

``write()`` is ``store.transaction`` on a connection kept open (its page cache stays warm, which
matters at a million contacts): one ``BEGIN IMMEDIATE`` transaction under the process lock.
``read()`` is a deferred transaction on a pooled connection: in WAL mode it reads a consistent
snapshot while the writer works, so a search never waits for a job or an export render.
Other code (the demo seeder, tests) may still use ``store.transaction(path)`` on the same file.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workbench.destinations.sendgrid.sandbox import store

WRITER_CACHE_KIB = 256 * 1024
READER_CACHE_KIB = 64 * 1024
MMAP_BYTES = 1 << 30


class Database:
    """Connections to one state file for one ``SandboxServer`` (closed by ``close()``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: sqlite3.Connection | None = None
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._opened: list[sqlite3.Connection] = []
        self._open_lock = threading.Lock()
        self._in_use = 0  # transactions running now; close() waits for them
        self._closed = False
        self._idle = threading.Condition()

    def _open(self, cache_kib: int) -> sqlite3.Connection:
        conn = store.connect(self.path, check_same_thread=False)
        conn.execute(f"PRAGMA cache_size=-{cache_kib}")
        conn.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA synchronous=OFF")  # a test double: no fsync (a process crash is
        # still safe; only an OS crash could lose the last writes)
        with self._open_lock:
            self._opened.append(conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction on the writer: committed on success, rolled
        back on any error."""
        with self._using(), store.process_lock():
            conn = self._writer_connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _using(self) -> Iterator[None]:
        """Count a transaction as running; refuse one once ``close()`` has begun."""
        with self._idle:
            if self._closed:
                raise RuntimeError("the sandbox is stopping: its state file is being closed")
            self._in_use += 1
        try:
            yield
        finally:
            with self._idle:
                self._in_use -= 1
                self._idle.notify_all()

    def _writer_connection(self) -> sqlite3.Connection:
        if self._writer is None:
            self._writer = self._open(WRITER_CACHE_KIB)
            self._writer.execute("PRAGMA wal_autocheckpoint=0")  # see checkpoint()
        return self._writer

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database file as far as readers allow (PASSIVE).

        The writer does not checkpoint when it commits, so a job's commit (and the poll that
        waits for it) does not pay for copying its pages a second time; the worker thread
        calls this between its steps instead."""
        with self._using(), store.process_lock():
            self._writer_connection().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """One read-only snapshot (a deferred transaction) on a pooled connection."""
        with self._using():
            try:
                conn = self._readers.get_nowait()
            except queue.Empty:
                conn = self._open(READER_CACHE_KIB)
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("ROLLBACK")
                self._readers.put(conn)

    def close(self, wait_s: float = 10.0) -> None:
        """Hold new transactions back, wait (at most ``wait_s``) for the running ones, then
        close every connection opened so far; afterwards the database can be used again (a
        restarted server opens new connections). Closing a connection another thread is
        using can crash the interpreter, so if one is still running after the wait (a
        request thread stuck on its client) nothing is closed: the connections go with the
        process."""
        with self._idle:
            self._closed = True
            try:
                if not self._idle.wait_for(lambda: self._in_use == 0, timeout=wait_s):
                    return
                with self._open_lock:
                    opened, self._opened, self._writer = self._opened, [], None
                    self._readers = queue.SimpleQueue()
                for conn in opened:
                    conn.close()
            finally:
                self._closed = False
