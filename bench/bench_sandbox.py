"""Benchmark: the SendGrid sandbox at a million contacts, through the real ``sendgrid`` client.

Run: ``.venv/bin/python -m bench.bench_sandbox [--contacts N] [--accept-only]`` (default
1,000,000 contacts).

Seeds N contacts straight into the sandbox's store (``bench.sync_seed.seed_contacts``, what
``bench_sync`` does) and puts them all on the list "everyone"; seeds 10,000 more through
``admin.add_contacts`` (with an alternate email each). Then, through the real client:

* a 30,000-contact upsert of existing contacts onto an empty list, while a second thread
  searches 100 primary emails at a time; then a removal job of 100 ids;
* searches of 100 emails, idle;
* the time to the 202 of a 30,000-contact upsert while the job worker is idle, and while it
  applies another 30,000-contact job sent ``HEAD_START_S`` before (``--accept-only``: this part
  alone, after seeding);
* a gzip CSV export of all contacts and one of the 1M-member list, alone, then again while
  searches run.

"Sandbox work" is the sandbox's own time: a job from its creation to its ``finished_at``, an
export from becoming due to ``completed_at`` (``job_delay_s`` is 0). CPU is the whole process
(client, server threads and sandbox together). The state file goes into a scratch folder under
``bench/data/``.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import resource
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sendgrid

from bench.common import DATA_DIR
from bench.sync_seed import seed_contacts
from workbench.destinations.sendgrid.sandbox import FULL_SCOPES, SandboxConfig, SandboxServer

KEY = "SG.bench"
UPSERT_SIZE = 30_000
REMOVE_SIZE = 100
EXTRA_CONTACTS = 10_000
ACCEPT_ROUNDS = 3
HEAD_START_S = 0.25  # the worker looks for work every 0.1 s when idle: by then it applies the job


def cpu_s() -> float:
    """CPU seconds of this process so far (all threads, user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load() -> str:
    """The 1-minute load average, as ``uptime`` shows it."""
    return f"{os.getloadavg()[0]:.2f}"


def timed(label: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn``; print its wall and CPU seconds."""
    started, cpu = time.perf_counter(), cpu_s()
    value = fn()
    wall, used = time.perf_counter() - started, cpu_s() - cpu
    print(f"{label:<52} {wall:8.3f} s wall {used:8.2f} s CPU  (load {load()})", flush=True)
    return value


class Searcher:
    """A thread that searches 100 emails at a time until stopped; keeps each call's latency."""

    def __init__(self, sg: sendgrid.SendGridAPIClient, population: int) -> None:
        self.sg, self.population = sg, population
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Searcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        k = 0
        while not self._stop.is_set():
            start = (k * 7919) % max(self.population - 100, 1)
            emails = [f"p{i:07d}@example.com" for i in range(start, start + 100)]
            began = time.perf_counter()
            search(self.sg, emails)
            self.latencies.append(time.perf_counter() - began)
            k += 1
            time.sleep(0.01)

    def summary(self) -> str:
        """Count, median and maximum latency in milliseconds."""
        if not self.latencies:
            return "no search finished"
        ms = [1000 * s for s in self.latencies]
        return f"{len(ms)} searches, median {statistics.median(ms):.1f} ms, max {max(ms):.1f} ms"


def search(sg: sendgrid.SendGridAPIClient, emails: list[str]) -> dict[str, Any]:
    """One email search (200 or 404)."""
    try:
        answer = sg.client.marketing.contacts.search.emails.post(request_body={"emails": emails})
        return dict(json.loads(answer.body))
    except Exception as exc:  # a 404 (none found) is an answer too
        if getattr(exc, "status_code", None) == 404:
            return {}
        raise


def wait_for_job(sg: sendgrid.SendGridAPIClient, job_id: str) -> tuple[dict[str, Any], int]:
    """Poll the job every 20 ms until it is no longer pending; its status and the polls made."""
    polls = 0
    while True:
        polls += 1
        status = json.loads(sg.client.marketing.contacts.imports._(job_id).get().body)
        if status["status"] != "pending":
            return dict(status), polls
        time.sleep(0.02)


def sandbox_seconds(state: Path, table: str, row_id: str) -> float:
    """The sandbox's own time for a job (created -> finished) or an export (due -> completed)."""
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        if table == "jobs":
            sql = "SELECT finished_at - created_at FROM jobs WHERE id = ?"
        else:
            sql = "SELECT completed_at - due_at FROM exports WHERE id = ?"
        return float(conn.execute(sql, (row_id,)).fetchall()[0][0])
    finally:
        conn.close()


def seed(state: Path, contacts: int, list_id: str) -> None:
    """N contacts straight into the store (as bench_sync does), all on ``list_id``."""
    emails = [f"p{i:07d}@example.com" for i in range(contacts)]
    timed(f"seed {contacts:,} contacts into the store", lambda: seed_contacts(state, emails))
    conn = sqlite3.connect(str(state), timeout=60)
    try:
        timed(
            f"put all {contacts:,} on one list (SQL)",
            lambda: conn.executescript(
                "BEGIN; INSERT INTO members(layer, list_id, contact_id, added_at) "
                f"SELECT layer, '{list_id}', id, 0 FROM contacts; COMMIT;"
            ),
        )
    finally:
        conn.close()


def upsert_and_remove(sandbox: SandboxServer, sg: sendgrid.SendGridAPIClient, n: int) -> None:
    """The 30,000-contact upsert job (searches running meanwhile), then a removal of 100."""
    state = sandbox.config.state_path
    list_id = sandbox.admin.create_list("bench")
    body = {
        "list_ids": [list_id],
        "contacts": [
            {"email": f"p{i:07d}@example.com"} for i in range(0, n, max(n // UPSERT_SIZE, 1))
        ][:UPSERT_SIZE],
    }
    with Searcher(sg, n) as searcher:
        answer = timed(
            f"PUT {len(body['contacts']):,} contacts (until 202)",
            lambda: sg.client.marketing.contacts.put(request_body=body),
        )
        job_id = json.loads(answer.body)["job_id"]
        job, polls = timed(
            "  the job, until a poll finds it done", lambda: wait_for_job(sg, job_id)
        )
    print(
        f"  sandbox work {sandbox_seconds(state, 'jobs', job_id):.3f} s, {polls} polls, "
        f"results {job['results']}"
    )
    print(f"  searches meanwhile: {searcher.summary()}")
    found = search(sg, [c["email"] for c in body["contacts"][:REMOVE_SIZE]])
    ids = [r["contact"]["id"] for r in found["result"].values()]
    answer = timed(
        f"DELETE {len(ids)} ids from the list (until 202)",
        lambda: sg.client.marketing.lists._(list_id).contacts.delete(
            query_params={"contact_ids": ",".join(ids)}
        ),
    )
    job_id = json.loads(answer.body)["job_id"]
    job, polls = timed(
        "  the removal job, until a poll finds it done", lambda: wait_for_job(sg, job_id)
    )
    print(
        f"  sandbox work {1000 * sandbox_seconds(state, 'jobs', job_id):.1f} ms, "
        f"{polls} polls, results {job['results']}"
    )


def upsert_body(list_id: str, n: int, part: int) -> dict[str, Any]:
    """30,000 existing contacts (every ``n // 30,000``-th, shifted by ``part``) onto a list."""
    step = max(n // UPSERT_SIZE, 1)
    emails = [f"p{i:07d}@example.com" for i in range(part % step, n, step)][:UPSERT_SIZE]
    return {"list_ids": [list_id], "contacts": [{"email": e} for e in emails]}


def timed_put(sg: sendgrid.SendGridAPIClient, body: dict[str, Any]) -> tuple[float, str, float]:
    """Send one upsert; seconds until its 202, its job id, and when (Unix time) it came."""
    began = time.perf_counter()
    answer = sg.client.marketing.contacts.put(request_body=body)
    return time.perf_counter() - began, json.loads(answer.body)["job_id"], time.time()


def job_finished_at(state: Path, job_id: str) -> float:
    """A finished job's ``finished_at`` (Unix time), read from the state file."""
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        sql = "SELECT finished_at FROM jobs WHERE id = ?"
        return float(conn.execute(sql, (job_id,)).fetchall()[0][0])
    finally:
        conn.close()


def accept_while_busy(sandbox: SandboxServer, sg: sendgrid.SendGridAPIClient, n: int) -> None:
    """Seconds to the 202 of a 30,000-contact upsert with the job worker idle, then with the
    worker applying the previous one (sent ``HEAD_START_S`` earlier); ``ACCEPT_ROUNDS`` each."""
    list_id, state = sandbox.admin.create_list("accept"), sandbox.config.state_path
    idle: list[float] = []
    busy: list[float] = []
    during = 0
    for part in range(ACCEPT_ROUNDS):
        seconds, first, _ = timed_put(sg, upsert_body(list_id, n, 2 * part))
        idle.append(seconds)
        time.sleep(HEAD_START_S)
        seconds, second, answered = timed_put(sg, upsert_body(list_id, n, 2 * part + 1))
        busy.append(seconds)
        for job_id in (first, second):
            wait_for_job(sg, job_id)
        during += answered < job_finished_at(state, first)
    for label, values in (("worker idle", idle), ("worker applying a 30,000 job", busy)):
        ms = ", ".join(f"{1000 * s:.0f}" for s in values)
        print(f"PUT 30,000 contacts until 202, {label}: {ms} ms  (load {load()})")
    print(f"  answered before the job being applied finished: {during} of {ACCEPT_ROUNDS}")


def export(
    sandbox: SandboxServer,
    sg: sendgrid.SendGridAPIClient,
    label: str,
    body: dict,
    n: int,
    searching: bool,
) -> None:
    """One gzip CSV export until ready (searches running meanwhile, if ``searching``), then its
    download."""
    searcher = Searcher(sg, n) if searching else None
    with searcher or contextlib.nullcontext():
        started = json.loads(sg.client.marketing.contacts.exports.post(request_body=body).body)

        def ready() -> tuple[dict[str, Any], int]:
            polls = 0
            while True:
                polls += 1
                status = json.loads(
                    sg.client.marketing.contacts.exports._(started["id"]).get().body
                )
                if status["status"] != "pending":
                    return status, polls
                time.sleep(0.02)

        status, polls = timed(f"export {label}, until ready", ready)
    render = sandbox_seconds(sandbox.config.state_path, "exports", started["id"])
    meanwhile = searcher.summary() if searcher else "none (the export alone)"
    print(f"  sandbox work {render:.3f} s, {polls} status calls; searches meanwhile: {meanwhile}")
    data = timed(
        "  download", lambda: urllib.request.urlopen(status["urls"][0], timeout=600).read()
    )
    lines = gzip.decompress(data).count(b"\n")
    print(
        f"  {len(data) / 1e6:.1f} MB gzip, {lines:,} lines (header included), "
        f"contact_count {status['contact_count']:,}"
    )


def run(contacts: int, folder: Path, accept_only: bool) -> None:
    """The whole benchmark (or only the acceptance part) against a fresh sandbox in ``folder``."""
    config = SandboxConfig(state_path=folder / "sandbox.sqlite", api_keys={KEY: list(FULL_SCOPES)})
    print(f"load before: {load()}")
    with SandboxServer(config) as sandbox:
        sg = sendgrid.SendGridAPIClient(KEY, host=sandbox.url)
        sg.client.timeout = 600
        everyone = sandbox.admin.create_list("everyone")
        seed(config.state_path, contacts, everyone)
        accept_while_busy(sandbox, sg, contacts)
        if accept_only:
            return
        extra = [
            {"email": f"x{i}@example.com", "alternate_emails": [f"alt{i}@example.com"]}
            for i in range(EXTRA_CONTACTS)
        ]
        timed(
            f"admin.add_contacts {EXTRA_CONTACTS:,} (with alternates)",
            lambda: sandbox.admin.add_contacts(extra),
        )
        upsert_and_remove(sandbox, sg, contacts)

        def idle() -> None:
            for k in range(20):
                search(sg, [f"p{i:07d}@example.com" for i in range(k * 100, k * 100 + 100)])

        timed("20 searches of 100 primary emails, idle", idle)
        timed(
            "20 searches of 100 alternate emails, idle",
            lambda: [
                search(sg, [f"alt{i}@example.com" for i in range(k * 100, k * 100 + 100)])
                for k in range(20)
            ],
        )
        total = contacts + EXTRA_CONTACTS
        everyone_body = {"file_type": "csv", "list_ids": [everyone]}
        for searching in (False, True):
            export(
                sandbox, sg, f"of all {total:,} contacts", {"file_type": "csv"}, contacts, searching
            )
            export(
                sandbox, sg, f"of the {contacts:,}-member list", everyone_body, contacts, searching
            )
    print(f"load after: {load()}")


def main() -> None:
    """Parse the options, run in a scratch folder, clean up."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--accept-only", action="store_true", help="only the 202 timings")
    args = parser.parse_args()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=DATA_DIR, prefix="sandbox-"))
    try:
        run(args.contacts, folder, args.accept_only)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
