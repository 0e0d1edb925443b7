"""The demo sandbox process: started on demand, found again by its port, stopped by its pid file.

:func:`ensure_demo_sandbox` starts ``python -m workbench.sandbox`` in the background when the
demo destination is used and nothing listens on its port; :func:`stop_demo_sandbox` stops it.
The demo key is a fixed, public, sandbox-only constant: it opens nothing but this sandbox.
Seeding its state lives in ``workbench.demo_sandbox``, which re-exports the entry points
(``ensure_demo_sandbox``, ``stop_demo_sandbox``, ``demo_sandbox_url``).
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workbench.config import Settings
from workbench.destinations.sendgrid.sandbox import SandboxRemote
from workbench.errors import ConfigError, NotFoundError, Unavailable
from workbench.workspace import Workspace

DEMO_DESTINATION = "demo-sandbox"
DEMO_API_KEY = "demo-sandbox-key-not-a-secret"  # accepted only by the demo sandbox
DEMO_STATE_FILE = "sendgrid-sandbox.sqlite"
SANDBOX_KEY_ENV = "WORKBENCH_SANDBOX_API_KEY"  # how the sandbox process gets its key
LOOPBACK = ("127.0.0.1", "localhost", "::1")
LOCK_FILE, PID_FILE, LOG_FILE = (f"sendgrid-sandbox.{end}" for end in ("lock", "pid", "log"))
START_TIMEOUT_S, STOP_TIMEOUT_S, HEALTH_TIMEOUT_S, POLL_S = 20.0, 10.0, 2.0, 0.1
_STARTED: dict[int, subprocess.Popen[bytes]] = {}  # kept so they are reaped, never collected


def demo_state_path(settings: Settings) -> Path:
    """The demo sandbox's SQLite state file in WORKBENCH_HOME."""
    return settings.home / DEMO_STATE_FILE


def loopback_url(host: str) -> str | None:
    """``http://host:port`` when ``host`` is such a loopback URL, else None."""
    parts = urllib.parse.urlsplit(host)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK or parts.port is None:
        return None
    return f"http://{parts.hostname}:{parts.port}"


def demo_sandbox_url(ws: Workspace) -> str | None:
    """The demo destination's sandbox URL; None without a demo destination or when it points
    somewhere other than loopback."""
    try:
        return loopback_url(str(ws.store.get_destination(DEMO_DESTINATION)["host"]))
    except NotFoundError:
        return None


def _listening(url: str) -> bool:
    """Whether a sandbox answers its health check at ``url``."""
    return SandboxRemote(url, timeout_s=HEALTH_TIMEOUT_S).healthy()


@contextmanager
def _home_lock(home: Path) -> Iterator[None]:
    """An exclusive lock on the demo sandbox of ``home``, across threads and processes."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / LOCK_FILE, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _start_process(settings: Settings, url: str) -> subprocess.Popen[bytes]:
    """``python -m workbench.sandbox`` on the URL's port, detached; the key goes by env."""
    parts = urllib.parse.urlsplit(url)
    package_root = str(Path(__file__).resolve().parent.parent)
    python_path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, SANDBOX_KEY_ENV: DEMO_API_KEY, "PYTHONPATH": python_path}
    command = [sys.executable, "-m", "workbench.sandbox", "--host", str(parts.hostname),
               "--port", str(parts.port), "--state", str(demo_state_path(settings))]  # fmt: skip
    with open(settings.home / LOG_FILE, "ab") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,  # outlives the app or runner that started it
        )  # fmt: skip
    _STARTED[process.pid] = process
    return process


def _wait_until_listening(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Return once a sandbox answers at ``url``; a clear error when ours exits or hangs."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if _listening(url):
            return
        if process.poll() is not None:
            _STARTED.pop(process.pid, None)
            if _listening(url):  # another process won the port: its sandbox serves the URL
                return
            raise ConfigError(
                f"the demo sandbox could not listen at {url} (see {log}): another program may "
                "use that port; set WORKBENCH_DEMO_SANDBOX_PORT to a free port and run "
                "`python -m workbench demo --force`, or give the demo destination another "
                "loopback host"
            )
        time.sleep(POLL_S)
    raise Unavailable(f"the demo sandbox at {url} did not answer within {START_TIMEOUT_S:.0f} s")


def ensure_demo_sandbox(ws: Workspace, destination: str | None = None) -> str | None:
    """Start the demo sandbox unless it already answers; its URL, or None without one.

    Pass the destination about to be used: other destinations return None at once. Safe to
    call from several threads and processes: one starts the sandbox, the others find it.
    """
    if destination is not None and destination != DEMO_DESTINATION:
        return None
    url = demo_sandbox_url(ws)
    if url is None or _listening(url):
        return url
    with _home_lock(ws.settings.home):
        if not _listening(url):
            process = _start_process(ws.settings, url)
            _wait_until_listening(url, process, ws.settings.home / LOG_FILE)
            if process.poll() is None:  # ours serves: remember it for stop_demo_sandbox
                (ws.settings.home / PID_FILE).write_text(str(process.pid))
    return url


def _is_sandbox_process(pid: int) -> bool:
    """Whether ``pid`` is a running ``workbench.sandbox`` (so a reused pid is never killed)."""
    try:
        return b"workbench.sandbox" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _wait_for_exit(pid: int) -> None:
    """Wait (bounded) until the process ``pid`` is gone, reaping it if we started it."""
    started = _STARTED.pop(pid, None)
    if started is not None:
        started.wait(timeout=STOP_TIMEOUT_S)
        return
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _is_sandbox_process(pid) and time.monotonic() < deadline:
        time.sleep(POLL_S)


def stop_demo_sandbox(settings: Settings) -> bool:
    """Stop the demo sandbox that :func:`ensure_demo_sandbox` started; False if none runs."""
    pid_file = settings.home / PID_FILE
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return False
    running = _is_sandbox_process(pid)
    if running:
        os.kill(pid, signal.SIGTERM)
        _wait_for_exit(pid)
    pid_file.unlink(missing_ok=True)
    return running
