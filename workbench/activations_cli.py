"""The ``activation`` and ``destination`` command groups.

::

    python -m workbench destination create NAME [--host URL] [--region global|eu] [--key-stdin]
    python -m workbench destination test NAME
    python -m workbench activation create SEGMENT [--destination D] [--list-name ..]
        [--email-column COLUMN | --entity-email-column] [--schedule ..] [--mode managed|mirror]
        [--adopt-list]
    python -m workbench activation list | preview NAME | run NAME [--approve] [--reconcile]
    python -m workbench activation approve RUN_ID | discard RUN_ID | runs NAME
    python -m workbench activation log RUN_ID --out FILE | reconcile NAME | delete NAME

``run`` exits 0 when the run succeeded, 3 when it waits for approval, 1 when it failed.
The API key is never an argument (arguments show in process lists): it comes from
``SENDGRID_API_KEY``, ``.streamlit/secrets.toml`` or, with ``--key-stdin``, a key file.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from workbench import activations
from workbench.destinations.sendgrid.destination import MODES, REGIONS
from workbench.run_views import status_said_once
from workbench.workspace import open_workspace

EXIT_NEEDS_APPROVAL = 3


def register(subparsers: Any) -> None:
    """Add the ``destination`` and ``activation`` groups."""
    _register_destination(subparsers)
    _register_activation(subparsers)


def _register_destination(subparsers: Any) -> None:
    group = subparsers.add_parser("destination", help="SendGrid destinations")
    commands = group.add_subparsers(dest="command", metavar="COMMAND", required=True)
    create = commands.add_parser("create", help="save a SendGrid destination")
    create.add_argument("name")
    create.add_argument("--host", help="API host (default: WORKBENCH_SENDGRID_HOST)")
    create.add_argument("--region", choices=REGIONS, default="global")
    create.add_argument(
        "--key-stdin", action="store_true", help="read the API key from stdin and save it"
    )
    _add_default_options(create)
    create.set_defaults(handler=destination_create)
    test = commands.add_parser("test", help="check the destination's API key and permissions")
    test.add_argument("name")
    test.set_defaults(handler=destination_test)


def _add_default_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--list-name", help="list name template ({segment}, {entity})")
    email = parser.add_mutually_exclusive_group()
    email.add_argument("--email-column", help="column holding the email")
    email.add_argument(
        "--entity-email-column",
        dest="email_column",
        action="store_const",
        const=activations.ENTITY_EMAIL_COLUMN,
        help="use the entity's own email column (overrides a destination's default column)",
    )
    parser.add_argument("--schedule", help="manual, 'every 6h', 'daily 06:30', ...")
    parser.add_argument("--mode", choices=MODES)
    parser.add_argument("--allow-empty", action="store_true", default=None)
    parser.add_argument("--max-remove-fraction", type=float)


def _register_activation(subparsers: Any) -> None:
    group = subparsers.add_parser("activation", help="segments kept equal to SendGrid lists")
    commands = group.add_subparsers(dest="command", metavar="COMMAND", required=True)
    create = commands.add_parser("create", help="activate a saved segment")
    create.add_argument("segment")
    create.add_argument("--destination")
    create.add_argument("--name", help="activation name (default: the segment's)")
    create.add_argument("--adopt-list", action="store_true", help="use an existing list")
    _add_default_options(create)
    create.set_defaults(handler=activation_create)
    commands.add_parser("list", help="every activation").set_defaults(handler=activation_list)
    for command, handler, text in (
        ("preview", activation_preview, "show what a run would do"),
        ("run", activation_run, "run (or resume) an activation"),
        ("runs", activation_runs, "the latest runs"),
        ("reconcile", activation_reconcile, "compare the snapshot with the real list"),
    ):
        parser = commands.add_parser(command, help=text)
        parser.add_argument("name")
        parser.set_defaults(handler=handler)
        if command in ("preview", "run"):
            parser.add_argument("--as-of", help="evaluate the segment as of this date")
        if command == "run":
            parser.add_argument("--approve", action="store_true", help="pass the guards")
            parser.add_argument("--reconcile", action="store_true", help="read the list first")
            parser.add_argument("--recreate-list", action="store_true")
    approve = commands.add_parser("approve", help="apply a plan that waits for approval")
    approve.add_argument("run_id", type=int)
    approve.set_defaults(handler=activation_approve)
    discard = commands.add_parser("discard", help="drop a plan that waits (nothing is sent)")
    discard.add_argument("run_id", type=int)
    discard.set_defaults(handler=activation_discard)
    delete = commands.add_parser("delete", help="delete an activation (its list and runs stay)")
    delete.add_argument("name")
    delete.set_defaults(handler=activation_delete)
    log = commands.add_parser("log", help="write a run's per-row log (.csv or .parquet)")
    log.add_argument("run_id", type=int)
    log.add_argument("--out", type=Path, required=True)
    log.set_defaults(handler=activation_log)


def _settings_of(args: argparse.Namespace) -> dict[str, Any]:
    guards = {
        k: v
        for k, v in (
            ("allow_empty", args.allow_empty),
            ("max_remove_fraction", args.max_remove_fraction),
        )
        if v is not None
    }
    given = {
        "list_name": args.list_name,
        "email_column": args.email_column,
        "schedule": args.schedule,
        "mode": args.mode,
        "guards": guards or None,
    }
    return {k: v for k, v in given.items() if v is not None}


def destination_create(args: argparse.Namespace) -> int:
    """Save a destination (and, with --key-stdin, its key file)."""
    key = sys.stdin.readline().strip() if args.key_stdin else None
    with open_workspace() as ws:
        dest = activations.create_destination(
            ws, args.name, host=args.host, region=args.region, api_key=key, **_settings_of(args)
        )
    print(f"destination {dest.name} saved ({dest.host})")
    return 0


def destination_test(args: argparse.Namespace) -> int:
    """Check the key: prints the verdict in plain words."""
    with open_workspace() as ws:
        check = activations.test_connection(ws, args.name)
    print(check.message)
    return 0 if check.ok else 1


def activation_create(args: argparse.Namespace) -> int:
    """Activate a segment with the destination's defaults and the given overrides."""
    with open_workspace() as ws:
        made = activations.activate(
            ws,
            args.segment,
            args.destination,
            name=args.name,
            adopt_existing_list=args.adopt_list,
            **_settings_of(args),
        )
    print(f"activation {made.name} saved: {made.segment} -> {made.destination}")
    return 0


def activation_list(args: argparse.Namespace) -> int:
    """Print every activation."""
    with open_workspace() as ws:
        for item in activations.list_activations(ws):
            listed = item.list_id or "no list yet"
            print(f"{item.name}\t{item.segment} -> {item.destination}\t{listed}")
    return 0


def activation_preview(args: argparse.Namespace) -> int:
    """Print the plan a run would apply."""
    with open_workspace() as ws:
        print(activations.preview(ws, args.name, as_of=args.as_of).describe())
    return 0


def _described(record: activations.RunRecord) -> str:
    """The record in plain text, its HTTP status said once."""
    return replace(record, message=status_said_once(record.message)).describe()


def _exit_code(record: activations.RunRecord) -> int:
    if record.status == "needs_approval":
        return EXIT_NEEDS_APPROVAL
    return 0 if record.ok else 1


def activation_run(args: argparse.Namespace) -> int:
    """Run an activation and print the result."""
    with open_workspace() as ws:
        record = activations.run(
            ws,
            args.name,
            approve=args.approve,
            reconcile=args.reconcile,
            as_of=args.as_of,
            recreate_list=args.recreate_list,
        )
    print(_described(record))
    if record.status == "needs_approval":
        print(f"approve with: python -m workbench activation approve {record.id}")
    return _exit_code(record)


def activation_approve(args: argparse.Namespace) -> int:
    """Apply the stored plan of a run waiting for approval."""
    with open_workspace() as ws:
        record = activations.approve_run(ws, args.run_id)
    print(_described(record))
    return _exit_code(record)


def activation_discard(args: argparse.Namespace) -> int:
    """Discard the stored plan of a run waiting for approval."""
    with open_workspace() as ws:
        record = activations.discard_run(ws, args.run_id)
    print(f"run {record.id} of {record.activation} discarded: nothing was sent")
    return 0


def activation_delete(args: argparse.Namespace) -> int:
    """Delete an activation; its SendGrid list and its run history stay."""
    with open_workspace() as ws:
        activations.delete_activation(ws, args.name)
    print(f"activation {args.name} deleted; its SendGrid list and its runs are kept")
    return 0


def activation_runs(args: argparse.Namespace) -> int:
    """Print the latest runs of an activation."""
    with open_workspace() as ws:
        for record in activations.list_runs(ws, args.name, limit=20):
            f = record.fields
            print(
                f"{record.id}\t{record.started_at}\t{record.status}\t+{f.get('added', 0)} "
                f"-{f.get('removed', 0)}\t{status_said_once(record.message)}"
            )
    return 0


def activation_log(args: argparse.Namespace) -> int:
    """Write a run's per-row log."""
    with open_workspace() as ws:
        path = activations.export_run_log(ws, args.run_id, args.out)
    print(f"wrote {path}")
    return 0


def activation_reconcile(args: argparse.Namespace) -> int:
    """Print the drift between the snapshot and the real list (exit 1 when there is some)."""
    with open_workspace() as ws:
        drift = activations.reconcile(ws, args.name)
    for name, count in drift.counts().items():
        print(f"{name.replace('_', ' ')}: {count}")
    return 0 if drift.in_sync else 1
