"""The running sandbox's connections to its state file and its job inbox: per file one writer
and a pool of readers.

``write()`` is ``store.transaction`` on a connection kept open (its page cache stays warm, which
matters at a million contacts): one ``BEGIN IMMEDIATE`` transaction under the process lock.
``read()`` is a deferred transaction on a pooled connection: in WAL mode it reads a consistent
snapshot while the writer works, so a search never waits for a job or an export render.
``inbox_write()`` and ``inbox_read()`` do the same on the job inbox (``inbox.py``), whose writer
has a lock of its own: accepting a job never waits for the state file's writer.
Other code (the demo seeder, tests) may still use ``store.transaction(path)`` on the same file.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workbench.destinations.sendgrid.sandbox import inbox, store

WRITER_CACHE_KIB = 256 * 1024
READER_CACHE_KIB = 64 * 1024
INBOX_CACHE_KIB = 16 * 1024
CHECKPOINT_CACHE_KIB = 2 * 1024
MMAP_BYTES = 1 << 30


class Database:
    """Connections to one state file for one ``SandboxServer`` (closed by ``close()``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.inbox_path = inbox.inbox_path(path)
        self._writers: dict[Path, sqlite3.Connection] = {}
        self._readers: dict[Path, queue.SimpleQueue[sqlite3.Connection]] = {}
        self._inbox_lock = threading.Lock()
        self._checkpointers: dict[Path, sqlite3.Connection] = {}
        self._checkpoint_lock = threading.Lock()
        self._opened: list[sqlite3.Connection] = []
        self._open_lock = threading.Lock()
        self._in_use = 0  # transactions running now; close() waits for them
        self._closed = False
        self._idle = threading.Condition()

    def _open(self, path: Path, cache_kib: int) -> sqlite3.Connection:
        conn = store.connect(path, check_same_thread=False)
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
        with self._write(self.path, store.process_lock()) as conn:
            yield conn

    @contextmanager
    def inbox_write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction on the job inbox's writer (its own lock)."""
        with self._write(self.inbox_path, self._inbox_lock) as conn:
            yield conn

    @contextmanager
    def _write(
        self, path: Path, lock: threading.Lock | threading.RLock
    ) -> Iterator[sqlite3.Connection]:
        with self._using(), lock:
            conn = self._writer_connection(path)
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

    def _writer_connection(self, path: Path) -> sqlite3.Connection:
        with self._open_lock:
            conn = self._writers.get(path)
        if conn is None:
            cache = WRITER_CACHE_KIB if path == self.path else INBOX_CACHE_KIB
            conn = self._open(path, cache)
            conn.execute("PRAGMA wal_autocheckpoint=0")  # see checkpoint()
            with self._open_lock:
                self._writers[path] = conn
        return conn

    def checkpoint(self) -> None:
        """Copy the write-ahead logs (state file, then inbox) into the database files as far as
        readers allow (PASSIVE).

        The writers do not checkpoint when they commit, so a job's commit (and the poll that
        waits for it) does not pay for copying its pages a second time, nor does accepting a
        6 MB upsert; the worker thread calls this between its steps instead. It runs on a
        connection of its own, outside the writers' locks (SQLite lets a passive checkpoint
        run while a writer commits): copying a 30,000-contact job's pages takes about 0.3 s
        at a million contacts, which no request should wait for."""
        with self._using(), self._checkpoint_lock:
            for path in (self.path, self.inbox_path):
                if path not in self._checkpointers:
                    self._checkpointers[path] = self._open(path, CHECKPOINT_CACHE_KIB)
                self._checkpointers[path].execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """One read-only snapshot (a deferred transaction) on a pooled connection."""
        with self._read(self.path, READER_CACHE_KIB) as conn:
            yield conn

    @contextmanager
    def inbox_read(self) -> Iterator[sqlite3.Connection]:
        """One read-only snapshot of the job inbox on a pooled connection."""
        with self._read(self.inbox_path, INBOX_CACHE_KIB) as conn:
            yield conn

    @contextmanager
    def _read(self, path: Path, cache_kib: int) -> Iterator[sqlite3.Connection]:
        with self._using():
            with self._open_lock:
                pool = self._readers.setdefault(path, queue.SimpleQueue())
            try:
                conn = pool.get_nowait()
            except queue.Empty:
                conn = self._open(path, cache_kib)
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("ROLLBACK")
                pool.put(conn)

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
                    opened, self._opened = self._opened, []
                    self._writers, self._readers, self._checkpointers = {}, {}, {}
                for conn in opened:
                    conn.close()
            finally:
                self._closed = False
