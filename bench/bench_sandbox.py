"""Benchmark: the SendGrid sandbox at demo scale, through the real ``sendgrid`` client.

Run: ``.venv/bin/python -m bench.bench_sandbox [--contacts N]``. Seeds N contacts (each with an
alternate email), upserts 30,000 of them onto a list (SendGrid's largest request), times the
job until it completes, 10 email lookups of 100 addresses while the job runs and 10 after, and
a CSV export of the list. The state file goes into a scratch folder under ``bench/data/``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sendgrid

from bench.common import DATA_DIR
from workbench.destinations.sendgrid.sandbox import FULL_SCOPES, SandboxConfig, SandboxServer

KEY = "SG.bench"
UPSERT_SIZE = 30_000


def timed(label: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` and print how long it took."""
    started = time.perf_counter()
    value = fn()
    print(f"{label:<45} {time.perf_counter() - started:8.2f} s", flush=True)
    return value


def lookups(sg: sendgrid.SendGridAPIClient, rounds: int = 10) -> None:
    """``rounds`` searches of 100 alternate emails each."""
    for k in range(rounds):
        emails = [f"alt{i}@example.com" for i in range(k * 100, k * 100 + 100)]
        sg.client.marketing.contacts.search.emails.post(request_body={"emails": emails})


def wait_for_job(sg: sendgrid.SendGridAPIClient, job_id: str) -> dict[str, Any]:
    """Poll the job every 0.2 s until it is no longer pending."""
    while True:
        status = json.loads(sg.client.marketing.contacts.imports._(job_id).get().body)
        if status["status"] != "pending":
            return dict(status)
        time.sleep(0.2)


def run(contacts: int, folder: Path) -> None:
    """The whole benchmark against a fresh sandbox in ``folder``."""
    config = SandboxConfig(state_path=folder / "sandbox.sqlite", api_keys={KEY: list(FULL_SCOPES)})
    with SandboxServer(config) as sandbox:
        sg = sendgrid.SendGridAPIClient(KEY, host=sandbox.url)
        sg.client.timeout = 120
        list_id = sandbox.admin.create_list("bench")
        seed = [
            {"email": f"p{i}@example.com", "alternate_emails": [f"alt{i}@example.com"]}
            for i in range(contacts)
        ]
        timed(f"seed {contacts:,} contacts", lambda: sandbox.admin.add_contacts(seed))
        body = {
            "list_ids": [list_id],
            "contacts": [{"email": f"p{i}@example.com"} for i in range(UPSERT_SIZE)],
        }
        answer = timed(
            f"PUT {UPSERT_SIZE:,} contacts (202)",
            lambda: sg.client.marketing.contacts.put(request_body=body),
        )
        job_id = json.loads(answer.body)["job_id"]
        timed("10 lookups of 100 while the job runs", lambda: lookups(sg))
        job = timed("job until completed", lambda: wait_for_job(sg, job_id))
        print(f"  results: {job['results']}")
        timed("10 lookups of 100, idle", lambda: lookups(sg))
        export = json.loads(
            sg.client.marketing.contacts.exports.post(
                request_body={"list_ids": [list_id], "file_type": "csv"}
            ).body
        )
        timed(
            "CSV export of the list until ready",
            lambda: sg.client.marketing.contacts.exports._(export["id"]).get(),
        )


def main() -> None:
    """Parse the options, run in a scratch folder, clean up."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=50_000)
    args = parser.parse_args()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=DATA_DIR, prefix="sandbox-"))
    try:
        run(args.contacts, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
