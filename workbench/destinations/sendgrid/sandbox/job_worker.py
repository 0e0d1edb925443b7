"""The sandbox's job worker: a background thread that takes accepted jobs in and applies them.

One step: copy the jobs waiting in the inbox into the state file's ``jobs`` table and mark the
due job at the head of the queue started, in one short transaction (its internal
``started_at``; the API shows the creation time, as SendGrid does), then mark the copied
jobs moved in the inbox; advance jobs,
visibility and exports in one write transaction (``jobs.pump``: a whole 30,000-contact plain
upsert at a time); checkpoint; render due exports. A new job wakes the worker at once;
otherwise it looks every ``WORKER_IDLE_S`` (every ``WORKER_TICK_S`` while work is left, so
requests get the state file's writer in between).

``hold_next_job()`` is a knob for tests: the worker stops inside the write transaction of the
next job it applies until released, so a test can send requests while a job is being applied
without racing the clock.
"""

from __future__ import annotations

import logging
import threading
import time

from workbench.destinations.sendgrid.sandbox import exports, jobs
from workbench.destinations.sendgrid.sandbox.database import Database
from workbench.destinations.sendgrid.sandbox.export_worker import ExportRenderer
from workbench.destinations.sendgrid.sandbox.faults import FaultPlan
from workbench.destinations.sendgrid.sandbox.inbox import JobInbox

WORKER_TICK_S = 0.01
WORKER_IDLE_S = 0.1
WORKER_BUDGET = 3000  # items of a job per worker step (plain upserts: up to jobs.PLAIN_CHUNK)
HOLD_CHECK_S = 0.05
log = logging.getLogger(__name__)


class JobHold:
    """The worker held inside a job's write transaction until ``release()`` (a test knob)."""

    def __init__(self) -> None:
        self.holding = threading.Event()  # set once the worker is held inside a job
        self._released = threading.Event()

    def release(self) -> None:
        """Let the worker finish the job."""
        self._released.set()

    def hold(self, stopping: threading.Event) -> None:
        """Called by the worker inside the job: wait for ``release()`` (or the server stopping)."""
        self.holding.set()
        while not self._released.wait(HOLD_CHECK_S) and not stopping.is_set():
            pass


class JobWorker:
    """The background thread of one sandbox (``SandboxServer.worker``)."""

    def __init__(
        self, db: Database, inbox: JobInbox, plan: FaultPlan, renderer: ExportRenderer
    ) -> None:
        self._db, self._inbox, self._plan, self._renderer = db, inbox, plan, renderer
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._hold: JobHold | None = None

    def start(self) -> None:
        """Start the thread; its first step takes in what the inbox holds (a restart)."""
        self._stopping.clear()
        self._wake.set()
        self._thread = threading.Thread(target=self._run, name="sendgrid-sandbox-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (a held job is let go), then take in the waiting jobs, so the
        inbox is empty while the sandbox is not running (unless it was killed)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None
        try:
            self._take_in(start=False)
        except Exception:  # the jobs stay in the inbox; the next start takes them in
            log.exception("sandbox: could not take in the waiting jobs while stopping")

    def wake(self) -> None:
        """Look for work now (a job was accepted)."""
        self._wake.set()

    def hold_next_job(self) -> JobHold:
        """Hold the worker inside the write transaction of the next job it applies."""
        self._hold = JobHold()
        return self._hold

    def _run(self) -> None:
        pause = WORKER_IDLE_S
        while not self._stopping.is_set():
            self._wake.wait(pause)
            self._wake.clear()
            if self._stopping.is_set():
                break
            try:  # after each step, pause a little so requests get the lock in between
                pause = WORKER_TICK_S if self.step() else WORKER_IDLE_S
            except Exception:  # keep the worker alive; the next request pumps too
                log.exception("sandbox: background job processing failed")

    def step(self) -> bool:
        """One bounded step of job, visibility and export processing; True if work is left."""
        applying = self._take_in(start=True)
        with self._db.write() as conn:
            now = time.time()
            more = jobs.pump(conn, now, self._plan.knobs.visibility_lag_s, budget=WORKER_BUDGET)
            exports.pump_exports(conn, now)
            if applying is not None and self._hold is not None:
                hold, self._hold = self._hold, None
                hold.hold(self._stopping)
        self._db.checkpoint()
        self._renderer.render_due()
        return more

    def _take_in(self, start: bool) -> str | None:
        """Copy the waiting jobs into the ``jobs`` table and (``start``) mark the due head job
        started, in one short transaction; then mark the copied jobs moved in the inbox.
        Returns the id of the due head job (None if none is due)."""
        with self._db.read() as conn:
            head = jobs.head_state(conn, time.time())
        if not self._inbox.waiting() and (head is None or head[1] or not start):
            return head[0] if head else None
        with self._db.write() as conn:
            moved = self._inbox.copy_into(conn)
            due = jobs.start_head(conn, time.time()) if start else None
        self._inbox.mark_moved(moved)
        return due
