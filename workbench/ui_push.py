"""The background pushes of the Activations page: their registry, progress and outcome.
A push runs on a background thread so the page (and every other user of the app) stays
responsive. The threads live in a module-level registry keyed by (state store, activation):
a second click while a push of the same activation runs is refused with "already running",
and the sync's own activation lock refuses a run started elsewhere (the runner, the CLI).
:func:`push_panel` polls the run record with ``st.fragment(run_every=...)`` while a push runs,
then shows the run's error, its approval request or its summary (also used by the Runs page).
:func:`run_progress` reads how far a run's persisted batches got (Streamlit-free).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import streamlit as st

from workbench import activations
from workbench import run_views as rv
from workbench.destinations.sendgrid.run_record import RunRecord
from workbench.destinations.sendgrid.sync_state import CONFIRMED, FAILED, load_batches
from workbench.errors import ConflictError, WorkbenchError
from workbench.store import utc_now
from workbench.ui import guarded
from workbench.workspace import Workspace

log = logging.getLogger(__name__)
POLL_S = 1.0


@dataclass
class Push:
    """One push (or approved push) running, or run, on a background thread."""

    activation: str
    what: str
    started_at: str
    thread: threading.Thread | None = None
    record: RunRecord | None = None
    error: str = ""
    run_id: int | None = None  # known from the start when approving a stored plan
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def running(self) -> bool:
        """True until the thread has finished its work."""
        return not self.done.is_set()


_PUSHES: dict[tuple[str, str], Push] = {}
_REGISTRY = threading.Lock()


def _key(ws: Workspace, name: str) -> tuple[str, str]:
    return (str(ws.settings.state_db_path), name)


def start_push(
    ws: Workspace,
    name: str,
    action: Callable[[], RunRecord],
    what: str = "a push",
    run_id: int | None = None,
) -> Push:
    """Start ``action`` on a background thread; ConflictError while a push of ``name`` runs.

    ``what`` names the push in messages; ``run_id`` is the run it applies, when known.
    """
    with _REGISTRY:
        current = _PUSHES.get(_key(ws, name))
        if current is not None and current.running:
            raise ConflictError(
                f"activation {name} is already running ({current.what} started "
                f"{rv.when(current.started_at)}): wait for it to finish"
            )
        push = Push(name, what, utc_now(), run_id=run_id)
        push.thread = threading.Thread(
            target=_work, args=(push, action), name=f"push-{name}", daemon=True
        )
        _PUSHES[_key(ws, name)] = push
        push.thread.start()
    return push


def _work(push: Push, action: Callable[[], RunRecord]) -> None:
    try:
        push.record = action()
    except ConflictError as error:
        push.error = f"Not started: {error}"
    except WorkbenchError as error:
        push.error = str(error)
    except Exception as error:  # a thread must not die silently
        log.exception("push of %s stopped", push.activation)
        push.error = f"the push stopped unexpectedly ({type(error).__name__}): see the app's log"
    finally:
        push.done.set()


def current_push(ws: Workspace, name: str) -> Push | None:
    """The latest push of ``name`` started from this app (running or finished), if any."""
    return _PUSHES.get(_key(ws, name))


def wait_for_push(ws: Workspace, name: str, timeout_s: float = 30.0) -> Push | None:
    """Wait until the push of ``name`` is finished (for tests and scripts); the push."""
    push = current_push(ws, name)
    if push is not None and not push.done.wait(timeout_s):
        raise TimeoutError(f"the push of {name} still runs after {timeout_s} s")
    return push


# -- a run's progress and outcome ---------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """How far a run's batches got: counts of batches and of emails."""

    batches: int
    confirmed: int
    failed: int
    emails_done: int
    emails_total: int
    by_status: dict[str, int] = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        """Share of batches finished (confirmed or failed), 0..1."""
        return (self.confirmed + self.failed) / self.batches if self.batches else 0.0

    def describe(self) -> str:
        """The progress in one line."""
        if not self.batches:
            return "Planning: reading the segment and looking up SendGrid contacts…"
        return (
            f"{self.confirmed + self.failed} of {self.batches} batch(es) finished "
            f"({self.emails_done:,} of {self.emails_total:,} emails confirmed)"
            + (f", {self.failed} failed" if self.failed else "")
        )


def run_progress(ws: Workspace, run_id: int) -> Progress:
    """The progress of a run from its persisted batches."""
    batches = load_batches(ws.store, run_id)
    by_status: dict[str, int] = {}
    for batch in batches:
        by_status[batch.status] = by_status.get(batch.status, 0) + 1
    return Progress(
        batches=len(batches),
        confirmed=by_status.get(CONFIRMED, 0),
        failed=by_status.get(FAILED, 0),
        emails_done=sum(b.size for b in batches if b.status == CONFIRMED),
        emails_total=sum(b.size for b in batches),
        by_status=by_status,
    )


def show_alarms(record: RunRecord) -> None:
    """Alarms loudly (a contact CREATED is the worst thing a sync can do)."""
    created = rv.created_total(record)
    if created and not any("CREATED" in a for a in record.alarms):
        st.error(
            f"ALARM: SendGrid reports {created} contact(s) CREATED by this run.",
            icon=":material/e911_emergency:",
        )
    for alarm in record.alarms:
        st.error(alarm, icon=":material/e911_emergency:")


def show_run_summary(record: RunRecord) -> None:
    """A finished run: status, counts, skipped by reason, jobs, API calls, duration, alarms."""
    message = rv.status_said_once(record.message)
    text = f"Run {record.id} {record.status}" + (f": {message}" if message else "")
    {"succeeded": st.success, "failed": st.error}.get(record.status, st.info)(text)
    show_alarms(record)
    row = rv.history_rows([record])[0]
    names = ("added", "removed", "skipped", "failed", "API calls", "duration (s)")
    for column, name in zip(st.columns(len(names)), names, strict=True):
        column.metric(name, row[name])
    skipped = rv.skipped_rows(record)
    if skipped:
        st.dataframe(skipped, hide_index=True)
    jobs = rv.job_rows(record)
    if jobs:
        st.caption("SendGrid jobs, each followed to its end:")
        st.dataframe(jobs, hide_index=True)


@st.fragment(run_every=POLL_S)
def _live_progress(ws: Workspace, name: str) -> None:
    push = current_push(ws, name)
    if push is None or not push.running:
        st.rerun()  # the whole page, to show the outcome
    fraction, text = _progress_of(ws, name, push)
    st.progress(fraction, text=text)


def _progress_of(ws: Workspace, name: str, push: Push | None) -> tuple[float, str]:
    """The progress bar's fraction and text for the run ``push`` works on."""
    run_id = push.run_id if push else None
    if run_id is None:
        latest = activations.list_runs(ws, name, limit=1)
        fresh = latest and push and latest[0].started_at >= push.started_at
        run_id = latest[0].id if fresh else None
    progress = run_progress(ws, -1 if run_id is None else run_id)
    return progress.fraction, f"Pushing {name}: {progress.describe()}"


def push_panel(ws: Workspace, name: str) -> None:
    """Progress while a push runs; then its error, approval request or summary."""
    push = current_push(ws, name)
    if push is not None and push.running:
        _live_progress(ws, name)
        return
    latest = activations.list_runs(ws, name, limit=1)
    if push is not None and push.error and (not latest or latest[0].started_at < push.started_at):
        st.error(push.error)  # it stopped before recording a run
    if not latest:
        return
    if latest[0].status not in rv.TERMINAL:
        progress = run_progress(ws, latest[0].id)
        st.progress(progress.fraction, text=f"Run {latest[0].id}: {progress.describe()}")
        st.caption(f"Run {latest[0].id} is {latest[0].status}, started elsewhere (the runner or "
                   "the command line) or stopped midway: Push now resumes it.")  # fmt: skip
    elif latest[0].status == "needs_approval":
        approval_box(ws, latest[0])
    else:
        show_run_summary(latest[0])


def approval_box(ws: Workspace, record: RunRecord) -> None:
    """Why a run waits, its stored plan's counts, and "Approve and push" or "Discard"."""
    why = "; ".join(rv.approval_reasons(record))
    st.warning(f"Run {record.id} waits for your approval: {why}")
    planned = record.fields.get("planned") or {}
    for column, (label, value) in zip(
        st.columns(max(len(planned), 1)), planned.items(), strict=False
    ):
        column.metric(f"planned {label.replace('_', ' ')}", f"{int(value):,}")
    name, run_id = record.activation, record.id
    approve, discard = st.columns(2)
    approve.button(
        "Approve and push",
        type="primary",
        key="act_approve",
        on_click=guarded(
            lambda: start_push(
                ws, name, lambda: activations.approve_run(ws, run_id), "an approval", run_id
            )
        ),
    )
    discard.button(
        "Discard",
        key="act_discard",
        on_click=guarded(lambda: activations.discard_run(ws, run_id), f"Discarded run {run_id}."),
    )
