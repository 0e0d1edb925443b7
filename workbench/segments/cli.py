"""``python -m workbench segment ...``: validate, describe, count, show SQL, explain, export, save.

``SEGMENT`` is a JSON or YAML file, or the name of a saved segment. ``--as-of YYYY-MM-DD``
(00:00 UTC that day) or a full ISO time fixes the moment relative dates count from.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from workbench.errors import NotFoundError, SegmentInvalid, WorkbenchError
from workbench.segments.compiler import DIALECTS, resolve_as_of
from workbench.segments.describe import describe_segment
from workbench.segments.engine import count, export_members, segment_sql, store_lookup
from workbench.segments.explain import explain
from workbench.segments.model import Segment, load_segment_file, parse_segment
from workbench.segments.validate import validate_segment
from workbench.segments.values import ValueProblem
from workbench.workspace import Workspace, open_workspace


def as_of_argument(text: str) -> datetime:
    """argparse type of ``--as-of``: a date (00:00 UTC) or an ISO time."""
    try:
        return resolve_as_of(text)
    except ValueProblem as problem:
        raise argparse.ArgumentTypeError(problem.message) from None


def load(ws: Workspace, source: str) -> Segment:
    """The segment in file ``source``, or the saved segment of that name."""
    path = Path(source)
    if path.is_file():
        return load_segment_file(path)
    try:
        return parse_segment(ws.store.get_segment(source))
    except NotFoundError:
        raise WorkbenchError(
            f"{source!r} is neither a segment file nor a saved segment "
            "(`python -m workbench segment list` shows the saved ones)"
        ) from None


def checked(ws: Workspace, source: str) -> Segment:
    """A loaded segment that passed validation (SegmentInvalid lists every problem)."""
    segment = load(ws, source)
    problems = validate_segment(segment, ws.catalog(), store_lookup(ws))
    if problems:
        raise SegmentInvalid(problems)
    return segment


def _validate(args: argparse.Namespace, ws: Workspace) -> int:
    segment = checked(ws, args.segment)
    print(f"valid: {describe_segment(segment, ws.catalog())}")
    return 0


def _describe(args: argparse.Namespace, ws: Workspace) -> int:
    print(describe_segment(checked(ws, args.segment), ws.catalog()))
    return 0


def _count(args: argparse.Namespace, ws: Workspace) -> int:
    segment = checked(ws, args.segment)
    print(describe_segment(segment, ws.catalog()))
    print(count(ws, segment, as_of=args.as_of))
    return 0


def _sql(args: argparse.Namespace, ws: Workspace) -> int:
    compiled = segment_sql(ws, checked(ws, args.segment), dialect=args.dialect, as_of=args.as_of)
    print(compiled.sql + ";")
    print("-- params: " + json.dumps(compiled.params, default=str))
    return 0


def _export(args: argparse.Namespace, ws: Workspace) -> int:
    written = export_members(ws, checked(ws, args.segment), args.out, as_of=args.as_of)
    print(f"wrote {written} members to {args.out}")
    return 0


def _explain(args: argparse.Namespace, ws: Workspace) -> int:
    for explanation in explain(ws, checked(ws, args.segment), args.member, as_of=args.as_of):
        print(explanation.text())
    return 0


def _save(args: argparse.Namespace, ws: Workspace) -> int:
    segment = checked(ws, args.segment)
    version = ws.store.save_segment(segment.to_dict())
    print(f"saved segment {segment.name!r} (version {version})")
    return 0


def _list(args: argparse.Namespace, ws: Workspace) -> int:
    saved = ws.store.list_segments()
    for info in saved:
        about = f"  {info.description}" if info.description else ""
        print(f"{info.name}  v{info.version}  {info.updated_at}{about}")
    if not saved:
        print("no saved segments: `python -m workbench segment save FILE` saves one")
    return 0


def _with_workspace(handler: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        with open_workspace() as ws:
            return int(handler(args, ws))

    return run


def _command(
    commands: Any, name: str, handler: Any, help_text: str, segment: bool = True
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help_text)
    if segment:
        parser.add_argument("segment", metavar="SEGMENT", help="segment file or saved name")
    parser.set_defaults(handler=_with_workspace(handler))
    return parser


def _as_of(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as-of",
        type=as_of_argument,
        default=None,
        help="moment relative dates count from: YYYY-MM-DD (00:00 UTC) or ISO time; default now",
    )


def register(subparsers: Any) -> None:
    """Add the ``segment`` command group."""
    group = subparsers.add_parser("segment", help="validate, count, export and save segments")
    commands = group.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _command(commands, "validate", _validate, "check a segment; list every problem")
    _command(commands, "describe", _describe, "the segment in plain English")
    _as_of(_command(commands, "count", _count, "count members (the last line is the count)"))
    sql = _command(commands, "sql", _sql, "the SQL behind the segment, with its parameters")
    sql.add_argument("--dialect", default="duckdb", help=f"one of {', '.join(DIALECTS)}, ...")
    _as_of(sql)
    export = _command(commands, "export", _export, "write members to a .csv or .parquet file")
    export.add_argument("--out", type=Path, required=True, help="file to write (.csv/.parquet)")
    _as_of(export)
    why = _command(commands, "explain", _explain, "why a member is in or not, condition by cond.")
    why.add_argument("member", metavar="MEMBER", help="the member's primary key, or email")
    _as_of(why)
    _command(commands, "save", _save, "validate and save into the state store (versioned)")
    _command(commands, "list", _list, "saved segments", segment=False)
