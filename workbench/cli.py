"""The command line: ``python -m workbench <group> <command> ...``.

Each command group lives beside the code it drives and exposes ``register(subparsers)``, which
adds its parser with ``set_defaults(handler=...)``. A handler takes the parsed arguments and
returns the exit code. Errors of the workbench are printed readably (never a traceback):
exit code 2 for configuration errors, 1 for everything else.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from workbench.errors import ConfigError, WorkbenchError

COMMAND_MODULES = (
    "workbench.demo",
    "workbench.catalog_cli",
    "workbench.segments.cli",
    "workbench.activations_cli",
    "workbench.definitions_cli",
    "workbench.sandbox",
)


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every command group registered."""
    parser = argparse.ArgumentParser(
        prog="python -m workbench",
        description="Audience Workbench: segments over DuckDB, kept equal to SendGrid lists.",
    )
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
