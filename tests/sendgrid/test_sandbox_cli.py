"""``python -m workbench.sandbox`` starts on a free port, answers, and stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import sendgrid

from tests.sendgrid.helpers import call
from workbench.destinations.sendgrid.sandbox import SandboxRemote

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_line(process: subprocess.Popen, timeout_s: float = 15.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline() if process.stdout else ""
        if line:
            return line
        if process.poll() is not None:
            break
    raise AssertionError(f"the sandbox printed nothing (exit code {process.poll()})")


def test_the_cli_serves_until_sigterm(tmp_path: Path) -> None:
    port, state = free_port(), tmp_path / "cli.sqlite"
    env = {**os.environ, "WORKBENCH_SANDBOX_API_KEY": "SG.cli-key", "PYTHONPATH": str(ROOT)}
    command = [
        sys.executable,
        "-m",
        "workbench.sandbox",
        "--port",
        str(port),
        "--state",
        str(state),
        "--job-delay",
        "0.05",
    ]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = wait_for_line(process)
        assert f"http://127.0.0.1:{port}" in line and "SG.cli-key" not in line
        sg = sendgrid.SendGridAPIClient("SG.cli-key", host=f"http://127.0.0.1:{port}")
        sg.client.timeout = 5
        status, body, _ = call(sg, "POST", "/v3/marketing/lists", {"name": "from the cli"})
        assert status == 201 and body["name"] == "from the cli"
        remote = SandboxRemote(f"http://127.0.0.1:{port}")  # seeded from this other process
        remote.add_contacts([{"email": "a@example.com"}], list_ids=[body["id"]])
        assert remote.list_members(body["id"]) == {"a@example.com"}
        search = {"emails": ["A@example.com"]}
        assert call(sg, "POST", "/v3/marketing/contacts/search/emails", search)[0] == 200
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "stopped" in out
    assert state.exists()


def test_the_cli_without_a_key_says_what_to_do(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_SANDBOX_API_KEY"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "workbench.sandbox", "--state", str(tmp_path / "s.sqlite")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "--api-key" in done.stderr and "Traceback" not in done.stderr
