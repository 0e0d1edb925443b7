"""Benchmark: where the sandbox's acceptance of one 30,000-contact upsert goes, step by step.

Run: ``.venv/bin/python -m bench.sandbox_accept [--pad N] [--rounds R]`` (``--pad``: extra
characters per address; 0 gives a body of about 1 MB, 150 about 5.5 MB, the client's batch cap).

On a small state file whose jobs are never due (``job_delay_s``: the worker only takes them in,
so it does not compete for the interpreter), times what ``PUT /v3/marketing/contacts`` does
with a body of plain ``{"email": ...}`` items, median of ``--rounds``:

* parse: ``json.loads`` of the body (the only parse of it: the request log keeps the bytes);
* validate: the column-wise check of the items (``contacts_api.plain_upsert_items_valid``);
* store: the job's text around the received body and its row in the job inbox;
* log: the request log entry (raw bytes, decoded only when the log is read);
* handler: the route as the server runs it (parse, checks, list lookup, inbox, log);
* HTTP: the real ``sendgrid`` client until the 202 (its own JSON encoding included).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sendgrid

from workbench.destinations.sendgrid.sandbox import (
    FULL_SCOPES,
    SandboxConfig,
    SandboxServer,
    contacts_api,
    handler,
)
from workbench.destinations.sendgrid.sandbox.api import ApiRequest
from workbench.destinations.sendgrid.sandbox.job_records import UPSERT, text_around_body

KEY = "SG.bench"
ITEMS = 30_000
NEVER_DUE_S = 3600.0


def median_ms(seconds: list[float]) -> str:
    """Median and minimum of ``seconds`` in milliseconds."""
    return f"{1000 * statistics.median(seconds):7.1f} ms (min {1000 * min(seconds):6.1f})"


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds ``fn`` took, and its value."""
    began = time.perf_counter()
    value = fn()
    return time.perf_counter() - began, value


def steps(sandbox: SandboxServer, list_id: str, raw: bytes) -> dict[str, float]:
    """One acceptance, step by step: seconds per step."""
    took: dict[str, float] = {}
    took["parse"], body = timed(lambda: json.loads(raw))
    took["validate"], valid = timed(lambda: contacts_api.plain_upsert_items_valid(body["contacts"]))
    assert valid, "the bench's items must take the column-wise check"
    payload = {"list_ids": [list_id], "contacts": body["contacts"]}
    took["store"], _ = timed(
        lambda: sandbox.inbox.create(
            UPSERT, payload, text_around_body(raw, UPSERT, {"list_ids": [list_id]})
        )
    )
    took["log"], _ = timed(lambda: sandbox.record_request({"method": "PUT"}, raw))
    return took


def through_handler(sandbox: SandboxServer, raw: bytes) -> float:
    """Seconds for the route as the server runs it on a read snapshot, its log entry included."""
    route = handler.find_route("PUT", contacts_api.CONTACTS_PATH)
    assert route is not None
    began = time.perf_counter()
    with sandbox.db.read() as conn:
        body = json.loads(raw)
        scopes = list(FULL_SCOPES)
        req = ApiRequest(
            conn, {}, {}, body, sandbox.url, sandbox.plan, time.time(), scopes, sandbox.inbox, raw
        )
        assert route[0].handler(req).status == 202
    sandbox.record_request({"method": "PUT"}, raw)
    return time.perf_counter() - began


def run(pad: int, rounds: int) -> None:
    """Print the step timings and the HTTP round trip for bodies with ``pad`` extra characters."""
    with tempfile.TemporaryDirectory() as folder:
        config = SandboxConfig(
            state_path=Path(folder) / "sandbox.sqlite",
            api_keys={KEY: list(FULL_SCOPES)},
            job_delay_s=NEVER_DUE_S,
        )
        with SandboxServer(config) as sandbox:
            list_id = sandbox.admin.create_list("accept")
            emails = [f"p{i:07d}{'x' * pad}@example.com" for i in range(ITEMS)]
            body = {"list_ids": [list_id], "contacts": [{"email": e} for e in emails]}
            raw = json.dumps(body).encode()
            print(f"{ITEMS:,} plain items, body {len(raw) / 1e6:.2f} MB, {rounds} rounds")
            per_step: dict[str, list[float]] = {}
            for _ in range(rounds):
                for name, seconds in steps(sandbox, list_id, raw).items():
                    per_step.setdefault(name, []).append(seconds)
            for name, values in per_step.items():
                print(f"  {name:<9} {median_ms(values)}")
            handled = [through_handler(sandbox, raw) for _ in range(rounds)]
            print(f"  handler   {median_ms(handled)}")
            sg = sendgrid.SendGridAPIClient(KEY, host=sandbox.url)
            put = sg.client.marketing.contacts.put
            http = [timed(lambda: put(request_body=body))[0] for _ in range(rounds)]
            print(f"  HTTP 202  {median_ms(http)}  (the client's encoding included)")
            sandbox.clear_request_log()


def main() -> None:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pad", type=int, default=0, help="extra characters per address")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    run(args.pad, args.rounds)


if __name__ == "__main__":
    main()
