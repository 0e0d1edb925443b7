"""The runner's command line: arguments, logging to stderr, settings, signals, output.

See :mod:`workbench.runner` for the commands, exit codes and how a stop is handled.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Sequence

from workbench.config import Settings
from workbench.errors import ConfigError
from workbench.runner import STOP_GRACE_S, Emit, run_due, run_loop, run_named
from workbench.runner_exec import Abandoned, ActivationResult, exit_code, log_result

DESCRIPTION = "Run due activations (cron/systemd: --once; a service: --loop)."


def build_parser() -> argparse.ArgumentParser:
    """The runner's command line."""
    parser = argparse.ArgumentParser(prog="python -m workbench.runner", description=DESCRIPTION)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--once", action="store_true", help="run whatever is due, then exit")
    what.add_argument("--loop", action="store_true", help="stay up, run activations when due")
    what.add_argument("--activation", metavar="NAME", help="run this activation now")
    parser.add_argument("--dry-run", action="store_true", help="plan and print; change nothing")
    parser.add_argument("--json", action="store_true", help="one JSON object per activation")
    parser.add_argument(
        "--stop-grace",
        type=float,
        default=STOP_GRACE_S,
        metavar="SECONDS",
        help=f"on SIGTERM, time the run in flight may take (default {STOP_GRACE_S:g} s)",
    )
    return parser


def configure_logging() -> None:
    """Log lines to stderr as ``2026-11-27T06:00:00Z activation=... status=...``."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    logger = logging.getLogger("workbench.runner")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False


def load_settings() -> Settings:
    """The settings from the environment; ConfigError naming each bad setting (not its value)."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"WORKBENCH_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(f"bad settings: {problems}") from None


def install_stop_handlers(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set ``stop``: no new run starts, the one in flight may finish."""

    def handler(signum: int, _frame: object) -> None:
        logging.getLogger("workbench.runner").warning(
            "received %s: finishing the run in flight, starting no new one",
            signal.Signals(signum).name,
        )
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _printer(as_json: bool) -> Emit:
    """Log every result; print it as JSON, or as text unless it is merely not due (so a cron
    log stays quiet while nothing happens)."""

    def emit(result: ActivationResult) -> None:
        log_result(result)
        if as_json:
            print(result.to_json(), flush=True)
        elif result.status != "not_due":
            print(result.describe(), flush=True)

    return emit


def _dispatch(args: argparse.Namespace, settings: Settings, stop: threading.Event) -> int:
    emit = _printer(args.json)
    plans: list[str] | None = None if args.json else []
    if args.loop:
        run_loop(settings, stop, grace_s=args.stop_grace, emit=emit)
        return 0
    if args.activation is not None:
        results = [
            run_named(
                settings,
                args.activation,
                dry_run=args.dry_run,
                stop=stop,
                grace_s=args.stop_grace,
                emit=emit,
                plans=plans,
            )
        ]
    else:
        results = run_due(
            settings,
            dry_run=args.dry_run,
            stop=stop,
            grace_s=args.stop_grace,
            emit=emit,
            plans=plans,
        )
    for plan in plans or []:
        print(plan)
    return exit_code(results)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the runner; returns the exit code (the process ends at once if a run is abandoned)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.loop and args.dry_run:
        parser.error("--dry-run plans once: use it with --once or --activation, not --loop")
    configure_logging()
    stop = threading.Event()
    install_stop_handlers(stop)
    try:
        return _dispatch(args, load_settings(), stop)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except sqlite3.Error as exc:
        print(f"error: cannot read the state store: {exc}", file=sys.stderr)
        return 2
    except Abandoned as exc:
        logging.getLogger("workbench.runner").warning(
            'activation=%s status=interrupted reason="stopped before the run ended; its '
            'batches are saved and the next start resumes it"',
            exc.name,
        )
        print(
            ActivationResult(exc.name, "interrupted").to_json()
            if args.json
            else f"{exc.name}: interrupted",
            flush=True,
        )
        sys.stderr.flush()
        os._exit(0)  # the run's worker threads must not keep the process alive
