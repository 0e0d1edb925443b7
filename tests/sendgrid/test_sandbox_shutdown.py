"""Stopping the sandbox while requests are still being answered: the process must survive.

A request thread of the HTTP server can still be inside a transaction when ``stop()`` closes the
state file's connections; closing a SQLite connection that another thread is using can crash the
interpreter (it did, intermittently, in the test suite); the same holds for the job inbox's
connections, which upserts use. The scenario runs in a child process so
that a crash shows up as its exit status instead of taking pytest down.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.sendgrid.helpers import run_child

SCENARIO = textwrap.dedent(
    """
    import json, sys, threading, urllib.error, urllib.request
    from pathlib import Path
    from workbench.destinations.sendgrid.sandbox import FULL_SCOPES, SandboxConfig, SandboxServer

    KEY = "SG.shutdown-test-key"
    for round_ in range(4):
        config = SandboxConfig(
            state_path=Path(sys.argv[1]) / f"sandbox-{round_}.sqlite",
            api_keys={KEY: list(FULL_SCOPES)},
            seed=7,
        )
        server = SandboxServer(config).start()
        path = "/v3/marketing/lists?page_size=10"
        url = server.url + path
        upsert = json.dumps({"contacts": [{"email": f"u{i}@example.com"} for i in range(50)]})
        stop = threading.Event()
        answered = []

        def ask(writes: bool) -> None:  # lists are read; upserts go to the job inbox
            while not stop.is_set():
                request = urllib.request.Request(
                    server_url + "/v3/marketing/contacts" if writes else url,
                    data=upsert.encode() if writes else None,
                    method="PUT" if writes else "GET",
                    headers={"Authorization": f"Bearer {KEY}"},
                )
                try:
                    with urllib.request.urlopen(request, timeout=5) as answer:
                        answered.append(answer.status)
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass

        server_url = server.url
        threads = [threading.Thread(target=ask, args=(i % 2 == 1,), daemon=True) for i in range(8)]
        for thread in threads:
            thread.start()
        threading.Event().wait(0.3)
        server.stop()
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        assert set(answered) == {200, 202}, sorted(set(answered))
        # a restarted server serves again on the same state file
        again = SandboxServer(config).start()
        with urllib.request.urlopen(
            urllib.request.Request(again.url + path, headers={"Authorization": f"Bearer {KEY}"}),
            timeout=5,
        ) as answer:
            assert answer.status == 200
        again.stop()
    print("survived")
    """
)


def test_stopping_the_sandbox_under_load_does_not_crash_the_process(tmp_path: Path) -> None:
    child = run_child(SCENARIO, str(tmp_path), timeout_s=120)
    assert child.returncode == 0, child.stderr[-3000:]
    assert child.stdout.strip().endswith("survived")
