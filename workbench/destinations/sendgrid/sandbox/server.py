"""``SandboxServer``: the sandbox on a background thread, as a context manager.

::

    with SandboxServer(SandboxConfig(state_path=tmp / "sg.sqlite",
                                     api_keys={"SG.test": list(FULL_SCOPES)})) as sandbox:
        sg = sendgrid.SendGridAPIClient("SG.test", host=sandbox.url)
        sandbox.admin.add_contacts([{"email": "a@example.com"}])
"""

from __future__ import annotations

import collections
import json
import sqlite3
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

from workbench.destinations.sendgrid.sandbox import exports, inbox, jobs, store
from workbench.destinations.sendgrid.sandbox.admin import SandboxAdmin
from workbench.destinations.sendgrid.sandbox.config import SandboxConfig
from workbench.destinations.sendgrid.sandbox.database import Database
from workbench.destinations.sendgrid.sandbox.export_worker import ExportRenderer
from workbench.destinations.sendgrid.sandbox.faults import FaultPlan
from workbench.destinations.sendgrid.sandbox.handler import SandboxHandler
from workbench.destinations.sendgrid.sandbox.inbox import JobInbox
from workbench.destinations.sendgrid.sandbox.job_worker import JobHold, JobWorker
from workbench.errors import ConfigError

REQUEST_LOG_SIZE = 100_000  # entries kept (the newest)
REQUEST_LOG_BODY_BYTES = 64 * 1024 * 1024  # request bodies kept, in bytes (the newest)
BODY_TEXT_CHARS = 1000  # of a body that is not JSON, the log shows this much text


class RequestLog:
    """The API requests a sandbox served, newest last, bounded: at most ``max_entries``
    entries (older ones are forgotten) and at most ``max_body_bytes`` of request bodies.
    Past that budget the oldest entries keep their metadata but lose their body: their
    ``body`` reads None while ``body_bytes`` still gives its size (a body over the whole
    budget is not kept at all). Bodies are kept as the bytes received and parsed only when
    the log is read (``entries()``), so serving a request never parses its body a second
    time for the log, and a long-running sandbox holds at most the budget. Thread-safe."""

    def __init__(
        self, max_entries: int = REQUEST_LOG_SIZE, max_body_bytes: int = REQUEST_LOG_BODY_BYTES
    ) -> None:
        self.max_entries, self.max_body_bytes = max_entries, max_body_bytes
        self._entries: collections.deque[tuple[dict[str, Any], list[bytes]]] = collections.deque()
        self._with_body: collections.deque[list[bytes]] = collections.deque()  # oldest first
        self._body_bytes = 0
        self._lock = threading.Lock()

    def add(self, entry: dict[str, Any], raw: bytes) -> None:
        """Append one request's metadata and its body as received (no headers: never a key)."""
        held = [raw] if 0 < len(raw) <= self.max_body_bytes else []  # alone over: not kept
        with self._lock:
            self._entries.append(({**entry, "body_bytes": len(raw)}, held))
            if held:
                self._with_body.append(held)
                self._body_bytes += len(raw)
            if len(self._entries) > self.max_entries:
                self._drop_body(self._entries.popleft()[1])
            while self._body_bytes > self.max_body_bytes:
                self._drop_body(self._with_body[0])

    def _drop_body(self, held: list[bytes]) -> None:
        """Forget a body (the oldest still kept, whenever it has one; the lock is held)."""
        if held:
            self._body_bytes -= len(held.pop())
            self._with_body.popleft()

    def entries(self, bodies: bool = True) -> list[dict[str, Any]]:
        """A copy of the log, oldest first, each body decoded: its JSON, else its first
        ``BODY_TEXT_CHARS`` characters as text; None when it had none or lost it (or when
        ``bodies`` is False: the metadata alone, without decoding any body)."""
        with self._lock:
            kept = [(entry, held[0] if held and bodies else b"") for entry, held in self._entries]
        return [{**entry, "body": _decoded(raw)} for entry, raw in kept]

    def usage(self) -> dict[str, int]:
        """How much the log holds: ``entries``, ``bodies`` kept and their ``body_bytes``."""
        with self._lock:
            bodies, size = len(self._with_body), self._body_bytes
            return {"entries": len(self._entries), "bodies": bodies, "body_bytes": size}

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
            self._with_body.clear()
            self._body_bytes = 0


def _decoded(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw[:BODY_TEXT_CHARS].decode(errors="replace")


class SandboxServer:
    """A local SendGrid-compatible HTTP server persisted in ``config.state_path``."""

    def __init__(self, config: SandboxConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self.host, self.port = host, port
        self.plan = FaultPlan(config.initial_knobs(), config.seed)
        self.admin = SandboxAdmin(self)
        self.db = Database(config.state_path)
        self.renderer = ExportRenderer(self.db, self.pump_for_request)
        self.inbox = JobInbox(self.db, self.plan, self._wake_worker)
        self.worker = JobWorker(self.db, self.inbox, self.plan, self.renderer)
        self.requests = RequestLog()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:8125``: the sendgrid client's ``host``."""
        if self._httpd is None:
            raise ConfigError("the sandbox is not started: call start() or use it in a with block")
        return f"http://{self.host}:{self._httpd.server_address[1]}"

    def start(self) -> SandboxServer:
        """Create the state file if needed, register the keys, serve on a background thread."""
        self._prepare_state()
        try:
            self._httpd = ThreadingHTTPServer((self.host, self.port), SandboxHandler)
        except OSError as exc:
            raise ConfigError(
                f"the sandbox cannot listen on {self.host}:{self.port}: {exc}"
            ) from exc
        self._httpd.daemon_threads = True
        self._httpd.sandbox = self  # type: ignore[attr-defined]
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="sendgrid-sandbox",
            daemon=True,
        )
        self._thread.start()
        self.worker.start()
        return self

    def _prepare_state(self) -> None:
        store.initialise(self.config.state_path)
        inbox.initialise(self.config.state_path)
        with store.transaction(self.config.state_path) as conn:
            for key, scopes in self.config.api_keys.items():
                store.put_key(conn, key, scopes)
            store.secret(conn)
            # a job cut off by a stop before its first commit starts again from scratch
            conn.execute(
                "UPDATE jobs SET started_at = NULL WHERE status = 'pending' AND progress = 0"
            )

    def _wake_worker(self) -> None:
        self.worker.wake()

    def pump(self) -> bool:
        """One bounded step of the job worker (see ``JobWorker.step``); True if work is left."""
        return self.worker.step()

    def hold_next_job(self) -> JobHold:
        """A test knob: hold the job worker inside the write transaction of the next job it
        applies until ``release()`` (``holding`` is set once it is held)."""
        return self.worker.hold_next_job()

    def pump_for_request(self, conn: sqlite3.Connection | None = None) -> None:
        """What every writing request does first: take in the small jobs waiting in the inbox,
        finish due small jobs at the head of the queue, make due changes visible, fail due
        exports set to fail (in ``conn``'s transaction, else in one of its own)."""
        if conn is None:
            with self.db.write() as own:
                return self.pump_for_request(own)
        self.inbox.copy_into(conn, largest=jobs.REQUEST_BUDGET)  # the worker marks them moved
        now = time.time()
        lag = self.plan.knobs.visibility_lag_s
        jobs.pump(conn, now, lag, jobs.REQUEST_BUDGET, jobs.REQUEST_BUDGET)
        exports.pump_exports(conn, now)
        return None

    def stop(self) -> None:
        """Stop serving (held requests are released), close the socket, stop the job worker
        (then the jobs waiting in the inbox are taken in) and close the state files."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd, self._thread = None, None
        self.worker.stop()
        self.db.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def pause(self, seconds: float) -> None:
        """Sleep for a fault's latency or hold, but wake up at once when the server stops."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def record_request(self, entry: dict[str, Any], raw: bytes = b"") -> None:
        """Append one API request and its raw body to the log (no headers, so never a key)."""
        self.requests.add(entry, raw)

    def request_log(self, bodies: bool = True) -> list[dict[str, Any]]:
        """A copy of the request log, oldest first (see ``RequestLog.entries``)."""
        return self.requests.entries(bodies)

    def clear_request_log(self) -> None:
        """Forget the logged requests."""
        self.requests.clear()
