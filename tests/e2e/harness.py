"""The real-browser harness: a Streamlit server subprocess and a headless Chromium.

Shared by the end-to-end test (through fixtures in ``conftest.py``) and by
``bench/bench_browser.py``. The server runs ``app.py`` of this checkout on a free loopback port
with its own WORKBENCH_HOME and demo sandbox port, from a scratch working folder (so a
``.streamlit/secrets.toml`` in the checkout can never hand it a real SendGrid key). Stopping
it also stops the demo SendGrid sandbox that the app started on first use.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

from workbench.config import Settings
from workbench.demo_sandbox import stop_demo_sandbox

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "app.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
LOG_TAIL_CHARS = 6000
# never inherited by the server: they would point it at another warehouse, key or account
SCRUBBED_ENV = ("SENDGRID_API_KEY", "WORKBENCH_SANDBOX_API_KEY", "WORKBENCH_WAREHOUSE")


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class AppServer:
    """A running Streamlit server: its base URL, its WORKBENCH_HOME, its log file."""

    url: str
    home: Path
    log: Path
    process: subprocess.Popen[bytes]
    sandbox_port: int

    def settings(self, warehouse: Path | None = None) -> Settings:
        """Settings equal to the server's (same home, same warehouse)."""
        return Settings(home=self.home, warehouse=warehouse)

    def log_tail(self) -> str:
        """The end of the server's log, for failure messages."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text[-LOG_TAIL_CHARS:]


def server_env(home: Path, sandbox_port: int, extra: dict[str, str]) -> dict[str, str]:
    """The server's environment: ours without outside keys or warehouse, plus the test's."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env.update(
        {
            "WORKBENCH_HOME": str(home),
            "WORKBENCH_DEMO_SANDBOX_PORT": str(sandbox_port),
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    return env


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_until_healthy(server: AppServer, timeout_s: float = START_TIMEOUT_S) -> None:
    """Return once ``/_stcore/health`` answers; a RuntimeError holding the log otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _healthy(server.url):
            return
        if server.process.poll() is not None:
            raise RuntimeError(
                f"streamlit exited with {server.process.returncode} before it served "
                f"{server.url}; its log:\n{server.log_tail()}"
            )
        time.sleep(0.2)
    raise RuntimeError(
        f"streamlit did not answer {server.url}/_stcore/health within {timeout_s:.0f} s; "
        f"its log:\n{server.log_tail()}"
    )


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, then SIGKILL it if it lingers (bounded)."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_S)


@contextmanager
def streamlit_server(workdir: Path, extra_env: dict[str, str] | None = None) -> Iterator[AppServer]:
    """Run ``streamlit run app.py`` in ``workdir`` (home and log inside it) until the block ends.

    The demo sandbox the app starts is stopped afterwards, and so is Streamlit.
    """
    home, cwd = workdir / "home", workdir / "cwd"
    (cwd / ".streamlit").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / ".streamlit" / "config.toml", cwd / ".streamlit" / "config.toml")
    port, sandbox_port = free_port(), free_port()
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]  # fmt: skip (others edit the checkout)
    log = workdir / "streamlit.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=server_env(home, sandbox_port, extra_env or {}), start_new_session=True,
        )  # fmt: skip
    server = AppServer(f"http://127.0.0.1:{port}", home, log, process, sandbox_port)
    try:
        wait_until_healthy(server)
        yield server
    finally:
        _stop_process(process)
        stop_demo_sandbox(Settings(home=home))


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's headless Chromium driven by Playwright (sync API)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
