"""Rendering a CSV export of a million contacts in about a second.

Two SQL scans hand their rows to polars as ONE string each (``group_concat`` with control
characters between fields and rows, so no Python object per row): the exported contacts in
export order (``created_at, id``) and every membership of the ``visible`` layer. Polars then
joins each contact's list ids (in list creation order), formats the timestamps and quotes the
fields exactly as ``csv.writer`` does (``QUOTE_MINIMAL``), and writes the lines.

Contact fields kept in the ``data`` JSON (names, alternate emails) are formatted in Python, for
the contacts that have any (a synced list's contacts usually have none). ``render_csv`` returns
None when a value holds one of the separator characters; the caller then renders the old way.
"""

from __future__ import annotations

import io
import json
import sqlite3
from typing import Any

import polars as pl

from workbench.destinations.sendgrid.sandbox.store import VISIBLE

FIELD = "\x1f"  # between the fields of one row
ROW = "\x1e"  # between rows
CSV_HEADER = (
    "EMAIL,FIRST_NAME,LAST_NAME,ALTERNATE_EMAILS,PHONE_NUMBER_ID,EXTERNAL_ID,ANONYMOUS_ID,"
    "LIST_IDS,CREATED_AT,UPDATED_AT,CONTACT_ID\r\n"
)
PLAIN_DATA = ("{}", '{"alternate_emails": []}')  # data that adds nothing to an export row
_SCANNED = ("id", "email", "phone_number_id", "external_id", "anonymous_id", "created", "updated")
_MS = "(CAST({t} AS INTEGER) * 1000 + CAST(({t} - CAST({t} AS INTEGER)) * 1000 AS INTEGER))"
_ROW_SQL = " || char(31) || ".join(
    [
        "id",
        "ifnull(email, '')",
        "ifnull(phone_number_id, '')",
        "ifnull(external_id, '')",
        "ifnull(anonymous_id, '')",
        _MS.format(t="created_at"),
        _MS.format(t="updated_at"),
        f"CASE WHEN data IN ('{PLAIN_DATA[0]}', '{PLAIN_DATA[1]}') THEN '' ELSE '1' END",
    ]
)
_IN_LISTS = (
    " AND id IN (SELECT contact_id FROM members WHERE layer = :layer "
    "AND list_id IN (SELECT value FROM json_each(:lists)))"
)


def _scan_contacts(conn: sqlite3.Connection, list_ids: list[str]) -> str:
    where = _IN_LISTS if list_ids else ""
    sql = (
        f"SELECT count(*), group_concat(line, char(30)) FROM (SELECT {_ROW_SQL} AS line "
        f"FROM contacts WHERE layer = :layer{where} ORDER BY created_at, id)"
    )
    count, text = conn.execute(sql, {"layer": VISIBLE, "lists": json.dumps(list_ids)}).fetchall()[0]
    return text if count else ""


def _split(text: str, names: tuple[str, ...]) -> pl.DataFrame | None:
    """Rows of ``text`` as string columns ``names``; None when a value held a separator."""
    schema = dict.fromkeys(names, pl.String)
    if not text:
        return pl.DataFrame(schema=schema)
    rows = pl.Series("row", [text], dtype=pl.String).str.split(ROW).explode()
    if (rows.str.count_matches(FIELD, literal=True) != len(names) - 1).any():
        return None
    fields = rows.str.split_exact(FIELD, len(names) - 1).struct.rename_fields(list(names))
    return fields.struct.unnest()


def _memberships(conn: sqlite3.Connection) -> pl.DataFrame | None:
    """Contact id -> its list ids joined by commas, in list creation order (visible layer)."""
    text = conn.execute(
        "SELECT group_concat(contact_id || char(31) || list_id, char(30)) FROM members "
        "WHERE layer = ?",
        (VISIBLE,),
    ).fetchall()[0][0]
    pairs = _split(text or "", ("id", "list_id"))
    if pairs is None:
        return None
    seqs = conn.execute("SELECT id, seq FROM lists").fetchall()
    order = pl.DataFrame(
        {"list_id": [r[0] for r in seqs], "seq": [r[1] for r in seqs]},
        schema={"list_id": pl.String, "seq": pl.Int64},
    )
    return (
        pairs.join(order, on="list_id")
        .sort("id", "seq")
        .group_by("id", maintain_order=True)
        .agg(pl.col("list_id").str.join(",").alias("list_ids"))
    )


def _csv_value(value: object) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def _data_fields(conn: sqlite3.Connection, ids: list[str]) -> pl.DataFrame:
    """Names and alternate emails of the contacts ``ids``, formatted as the export shows them."""
    rows = conn.execute(
        "SELECT id, data FROM contacts WHERE layer = ? AND id IN (SELECT value FROM json_each(?))",
        (VISIBLE, json.dumps(ids)),
    ).fetchall()
    parsed: list[tuple[str, dict[str, Any]]] = [(r[0], json.loads(r[1])) for r in rows]
    return pl.DataFrame(
        {
            "id": [i for i, _ in parsed],
            "first_name": [_csv_value(d.get("first_name")) for _, d in parsed],
            "last_name": [_csv_value(d.get("last_name")) for _, d in parsed],
            "alternate_emails": [_csv_value(d.get("alternate_emails") or []) for _, d in parsed],
        },
        schema=dict.fromkeys(("id", "first_name", "last_name", "alternate_emails"), pl.String),
    )


def _quoted(name: str) -> pl.Expr:
    """A text column quoted as ``csv.writer`` quotes (only values with , " CR or LF)."""
    text = pl.col(name).fill_null("")
    escaped = pl.lit('"') + text.str.replace_all('"', '""', literal=True) + pl.lit('"')
    return pl.when(text.str.contains('[,"\r\n]')).then(escaped).otherwise(text).alias(name)


def _iso(name: str) -> pl.Expr:
    stamp = pl.from_epoch(pl.col(name).cast(pl.Int64), time_unit="ms")
    return stamp.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").alias(name)


def render_csv(conn: sqlite3.Connection, list_ids: list[str]) -> tuple[bytes, int] | None:
    """The CSV export (not compressed) of everyone, or of the members of ``list_ids``, and its
    row count; None when the fast path cannot represent the data (render the old way)."""
    contacts = _split(_scan_contacts(conn, list_ids), (*_SCANNED, "rich"))
    lists = _memberships(conn)
    if contacts is None or lists is None:
        return None
    rich = contacts.filter(pl.col("rich") == "1").get_column("id").to_list()
    table = contacts.join(lists, on="id", how="left", maintain_order="left").join(
        _data_fields(conn, rich), on="id", how="left", maintain_order="left"
    )
    columns = (
        *("email", "first_name", "last_name", "alternate_emails", "phone_number_id"),
        *("external_id", "anonymous_id", "list_ids"),
    )
    out = table.select(
        *[_quoted(c) for c in columns], _iso("created"), _iso("updated"), _quoted("id")
    )
    buffer = io.BytesIO()
    buffer.write(CSV_HEADER.encode())
    out.write_csv(buffer, include_header=False, quote_style="never", line_terminator="\r\n")
    return buffer.getvalue(), out.height
