"""The ``apply`` and ``export`` commands: definitions as code.

::

    python -m workbench apply FILE_OR_FOLDER... [--check]
    python -m workbench export [--out DIR]

``apply`` creates or updates the segments, destinations and activations of the files (YAML or
JSON; a folder means every ``.yaml``/``.yml``/``.json`` file in it) and prints one line per
object (``created``/``updated``/``unchanged``). When anything is wrong it prints every problem,
applies nothing and exits 1; ``--check`` validates only. ``export`` writes every saved object
to DIR (default ``definitions``) as one stable YAML file each. Exit codes: 0 done, 1 invalid
definitions, 2 configuration errors.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from workbench.workspace import open_workspace


def register(subparsers: Any) -> None:
    """Add the ``apply`` and ``export`` commands."""
    apply = subparsers.add_parser(
        "apply", help="create or update segments, destinations and activations from files"
    )
    apply.add_argument(
        "files", nargs="+", type=Path, metavar="FILE", help="YAML/JSON file or folder"
    )
    apply.add_argument("--check", action="store_true", help="validate only; change nothing")
    apply.set_defaults(handler=apply_command)
    export = subparsers.add_parser("export", help="write every saved object as YAML files")
    export.add_argument("--out", type=Path, default=Path("definitions"), help="folder to write")
    export.set_defaults(handler=export_command)


def _print_problems(problems: list[Any]) -> None:
    print(f"nothing applied: {len(problems)} problem(s):", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)


def apply_command(args: argparse.Namespace) -> int:
    """Validate every file, then apply them all (or nothing); one line per object."""
    from workbench.definitions import apply_documents, validate_documents
    from workbench.definitions_io import read_documents

    docs, problems = read_documents(args.files)
    with open_workspace() as ws:
        problems += validate_documents(ws, docs)
        if problems:
            _print_problems(problems)
            return 1
        if args.check:
            print(f"valid: {len(docs)} definition(s)")
            return 0
        print(apply_documents(ws, docs).describe())
    return 0


def export_command(args: argparse.Namespace) -> int:
    """Write every saved object to the folder; prints how many files were written."""
    from workbench.definitions_io import export_definitions

    with open_workspace() as ws:
        paths = export_definitions(ws, args.out)
    print(f"wrote {len(paths)} definition file(s) to {args.out}")
    return 0
