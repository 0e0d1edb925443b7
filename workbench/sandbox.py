"""Run the local SendGrid sandbox: ``python -m workbench.sandbox --api-key KEY [options]``.

Listens on loopback by default, prints its URL (use it as the SendGrid host, e.g.
``WORKBENCH_SENDGRID_HOST``), and stops cleanly on SIGTERM or SIGINT. The key may also come
from the environment variable ``WORKBENCH_SANDBOX_API_KEY``; it is never printed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from workbench.destinations.sendgrid.sandbox import FULL_SCOPES, SandboxConfig, SandboxServer
from workbench.errors import ConfigError

KEY_ENV = "WORKBENCH_SANDBOX_API_KEY"
DEFAULT_STATE = Path(".workbench") / "sendgrid-sandbox.sqlite"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sandbox's command-line options."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one")
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE, help="SQLite state file")
    parser.add_argument(
        "--api-key",
        action="append",
        default=[],
        help=f"accepted key with full marketing scopes (repeatable; or ${KEY_ENV})",
    )
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every request")
    parser.add_argument(
        "--rate-limit", type=int, default=1000, help="requests per second per endpoint before 429"
    )
    parser.add_argument("--job-delay", type=float, default=0.0, help="seconds until a job finishes")
    parser.add_argument(
        "--visibility-lag",
        type=float,
        default=0.0,
        help="seconds before finished writes show in searches, counts, exports",
    )
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of requests 5xx")
    parser.add_argument(
        "--timeout-rate",
        type=float,
        default=0.0,
        help="share of requests held past the client's timeout",
    )
    parser.add_argument("--job-error-rate", type=float, default=0.0, help="share of jobs failing")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random faults")


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    """The ``SandboxConfig`` the parsed options describe."""
    keys = list(args.api_key) or ([os.environ[KEY_ENV]] if os.environ.get(KEY_ENV) else [])
    if not keys:
        raise ConfigError(f"give the sandbox an API key: --api-key KEY or ${KEY_ENV}")
    return SandboxConfig(
        state_path=args.state,
        api_keys={key: list(FULL_SCOPES) for key in keys},
        latency_s=args.latency_ms / 1000,
        rate_limit_per_s=args.rate_limit,
        job_delay_s=args.job_delay,
        visibility_lag_s=args.visibility_lag,
        error_rate=args.error_rate,
        timeout_rate=args.timeout_rate,
        job_error_rate=args.job_error_rate,
        seed=args.seed,
    )


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or SIGINT; returns the exit code."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        """Ask the main loop to stop (SIGTERM, SIGINT)."""
        stop.set()

    with SandboxServer(config_from_args(args), host=args.host, port=args.port) as server:
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        print(f"SendGrid sandbox listening on {server.url} (state: {args.state})", flush=True)
        if args.host not in LOOPBACK:
            print(
                "warning: the /_sandbox/ admin surface has no key; keep it off shared networks",
                file=sys.stderr,
                flush=True,
            )
        while not stop.wait(0.5):
            pass
    print("SendGrid sandbox stopped", flush=True)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sandbox`` command to ``python -m workbench``."""
    parser = subparsers.add_parser("sandbox", help="run the local SendGrid sandbox server")
    add_arguments(parser)
    parser.set_defaults(handler=run)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m workbench.sandbox``: errors are printed readably, exit code 2."""
    parser = argparse.ArgumentParser(prog="python -m workbench.sandbox", description=__doc__)
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
