"""The sandbox of ``bench.bench_sync`` in its own process, as SendGrid is: its request parsing,
job processing and export rendering no longer share the benchmarked process's interpreter
(and its GIL), so the sync's own work is what the wall time of our side measures.

``SandboxProcess`` offers what the bench uses of ``SandboxServer``: ``url``, ``config``
(its ``state_path`` is read read-only for job and export times), ``request_log()`` and
``clear_request_log()`` (over the sandbox's ``/_sandbox/`` admin surface).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from workbench.destinations.sendgrid.sandbox import SandboxConfig, SandboxServer, store
from workbench.destinations.sendgrid.sandbox.remote import SandboxRemote

REPO = Path(__file__).resolve().parents[1]
LOG_TIMEOUT_S = 120.0  # the request log of a big run is a large answer on a busy machine


def prepare_state(config: SandboxConfig) -> None:
    """Create the sandbox's state file and schema, so contacts can be seeded before it starts."""
    store.initialise(config.state_path)


class SandboxProcess:
    """``python -m workbench.sandbox`` with the bench's settings, stopped on exit."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._process: subprocess.Popen[str] | None = None
        self.url = ""
        self._remote: SandboxRemote | None = None

    def _arguments(self) -> list[str]:
        args = [sys.executable, "-m", "workbench.sandbox", "--state", str(self.config.state_path)]
        for key in self.config.api_keys:
            args += ["--api-key", key]
        knobs = self.config.initial_knobs()
        args += ["--latency-ms", str(knobs.latency_s * 1000)]
        args += ["--rate-limit", str(knobs.rate_limit_per_s), "--seed", str(self.config.seed)]
        return args

    def __enter__(self) -> SandboxProcess:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self._process = subprocess.Popen(
            self._arguments(), stdout=subprocess.PIPE, text=True, cwd=REPO, env=env
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if "listening on " not in line:
            self.__exit__()
            raise RuntimeError(f"the sandbox did not start: {line!r}")
        self.url = line.split("listening on ", 1)[1].split(" ", 1)[0]
        self._remote = SandboxRemote(self.url, timeout_s=LOG_TIMEOUT_S)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=30)

    def request_log(self) -> list[dict[str, Any]]:
        """The API requests the sandbox logged, oldest first, without their bodies (the bench
        reads endpoints, statuses and times: a 1M run's bodies are up to 64 MB)."""
        assert self._remote is not None
        return self._remote.request_log(bodies=False)

    def clear_request_log(self) -> None:
        """Forget the logged requests."""
        assert self._remote is not None
        self._remote.clear_request_log()


def sandbox(config: SandboxConfig, in_process: bool) -> SandboxProcess | SandboxServer:
    """The bench's sandbox: its own process (the default), or a thread of this one."""
    prepare_state(config)
    return SandboxServer(config) if in_process else SandboxProcess(config)
