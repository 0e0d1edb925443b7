"""Rendering a CSV export of a million contacts without a Python object per contact.

One SQL scan hands the exported contacts to polars as ONE string (``group_concat`` with control
characters between fields and rows), in export order (``created_at, id``, from an index): id,
email and both timestamps as exact integers (the float times 2**22, which is exact for every
time after 2004). Each list's members come as one string too; polars marks who is on which list
and joins the ids in list creation order, formats the timestamps, quotes the fields exactly as
``csv.writer`` does (``QUOTE_MINIMAL``) and writes the lines.

Contacts with anything more (names, alternate emails, identifiers, times before 2004) are
formatted in Python, as the per-row renderer does (a synced list's contacts usually have none).
``render_csv`` returns None when a value holds a separator character, or when very many lists
have members: the caller then renders row by row.
"""

from __future__ import annotations

import io
import json
import sqlite3
from typing import Any

import polars as pl

from workbench.destinations.sendgrid.sandbox.api import iso
from workbench.destinations.sendgrid.sandbox.store import IDENTIFIERS, VISIBLE

FIELD = "\x1f"  # between the fields of one row
ROW = "\x1e"  # between rows
CSV_HEADER = (
    "EMAIL,FIRST_NAME,LAST_NAME,ALTERNATE_EMAILS,PHONE_NUMBER_ID,EXTERNAL_ID,ANONYMOUS_ID,"
    "LIST_IDS,CREATED_AT,UPDATED_AT,CONTACT_ID\r\n"
)
MAX_LISTS = 64  # lists with members the fast path handles (one membership test each)
SCALE = 4_194_304  # 2**22: a Unix time after 2004 times this is an exact integer
_SIMPLE = (
    "data IN ('{}', '{\"alternate_emails\": []}') AND phone_number_id IS NULL "
    "AND external_id IS NULL AND anonymous_id IS NULL "
    f"AND created_at >= {2**30} AND updated_at >= {2**30}"
)
_ROW_SQL = (
    "id || char(31) || ifnull(email, '') || char(31) || "
    f"CAST(created_at * {SCALE} AS INTEGER) || char(31) || "
    f"CAST(updated_at * {SCALE} AS INTEGER) || char(31) || "
    f"CASE WHEN {_SIMPLE} THEN '' ELSE '1' END"
)
_SCANNED = ("id", "email", "created", "updated", "rich")
_IN_LISTS = (
    " AND +id IN (SELECT contact_id FROM members WHERE layer = :layer "
    "AND list_id IN (SELECT value FROM json_each(:lists)))"
)
_RICH = ("first_name", "last_name", "alternate_emails", *IDENTIFIERS, "created_iso", "updated_iso")


def _scan_contacts(conn: sqlite3.Connection, list_ids: list[str]) -> str:
    where = _IN_LISTS if list_ids else ""
    sql = (
        f"SELECT count(*), group_concat(line, char(30)) FROM (SELECT {_ROW_SQL} AS line "
        f"FROM contacts WHERE layer = :layer{where} ORDER BY created_at, id)"
    )
    count, text = conn.execute(sql, {"layer": VISIBLE, "lists": json.dumps(list_ids)}).fetchall()[0]
    return text if count else ""


def _rows(text: str) -> pl.Series:
    return pl.Series("row", [text], dtype=pl.String).str.split(ROW).explode()


def _split(text: str, names: tuple[str, ...]) -> pl.DataFrame | None:
    """Rows of ``text`` as string columns ``names``; None when a value held a separator."""
    if not text:
        return pl.DataFrame(schema=dict.fromkeys(names, pl.String))
    rows = _rows(text)
    if (rows.str.count_matches(FIELD, literal=True) != len(names) - 1).any():
        return None
    fields = rows.str.split_exact(FIELD, len(names) - 1).struct.rename_fields(list(names))
    return fields.struct.unnest()


def _list_ids(conn: sqlite3.Connection) -> pl.Expr | None:
    """Each contact's list ids joined by commas in list creation order, as an expression over
    the ``id`` column; None past ``MAX_LISTS`` lists with members."""
    rows = conn.execute(
        "SELECT l.id, (SELECT group_concat(m.contact_id, char(30)) FROM members m "
        "WHERE m.layer = ? AND m.list_id = l.id) FROM lists l ORDER BY l.seq",
        (VISIBLE,),
    ).fetchall()
    filled = [(list_id, text) for list_id, text in rows if text]
    if len(filled) > MAX_LISTS:
        return None
    marks = [
        pl.when(pl.col("id").is_in(_rows(text).implode())).then(pl.lit(i)) for i, text in filled
    ]
    if not marks:
        return pl.lit("")
    return pl.concat_str(marks, separator=",", ignore_nulls=True)


def _csv_value(value: object) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def _rich_fields(conn: sqlite3.Connection, ids: list[str]) -> pl.DataFrame:
    """Every field but email and list ids of the contacts ``ids``, formatted in Python as the
    per-row renderer formats them."""
    rows = conn.execute(
        "SELECT * FROM contacts WHERE layer = ? AND id IN (SELECT value FROM json_each(?))",
        (VISIBLE, json.dumps(ids)),
    ).fetchall()
    columns: dict[str, list[Any]] = {name: [] for name in ("id", *_RICH)}
    for row in rows:
        data = json.loads(row["data"])
        values = [data.get("first_name"), data.get("last_name"), data.get("alternate_emails")]
        values += [row[name] for name in IDENTIFIERS]
        for name, value in zip(_RICH, values, strict=False):
            columns[name].append(_csv_value(value or [] if name == "alternate_emails" else value))
        columns["id"].append(row["id"])
        columns["created_iso"].append(iso(row["created_at"]))
        columns["updated_iso"].append(iso(row["updated_at"]))
    return pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.String))


def _quoted(name: str) -> pl.Expr:
    """A text column quoted as ``csv.writer`` quotes (only values with , " CR or LF)."""
    text = pl.col(name).fill_null("")
    escaped = pl.lit('"') + text.str.replace_all('"', '""', literal=True) + pl.lit('"')
    return pl.when(text.str.contains('[,"\r\n]')).then(escaped).otherwise(text).alias(name)


def _iso(scaled: str, exact: str) -> pl.Expr:
    """ISO text of a time sent as ``time * 2**22``, computed as ``api.iso`` computes it."""
    stamp = pl.col(scaled).cast(pl.Int64).cast(pl.Float64) / SCALE
    whole = stamp.floor()
    millis = ((stamp - whole) * 1000).cast(pl.Int64)
    moment = pl.from_epoch(whole.cast(pl.Int64) * 1000 + millis, time_unit="ms")
    return pl.coalesce(pl.col(exact), moment.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"))


def render_csv(conn: sqlite3.Connection, list_ids: list[str]) -> tuple[bytes, int] | None:
    """The CSV export (not compressed) of everyone, or of the members of ``list_ids``, and its
    row count; None when the fast path cannot represent the data (render the old way)."""
    contacts = _split(_scan_contacts(conn, list_ids), _SCANNED)
    lists = _list_ids(conn)
    if contacts is None or lists is None:
        return None
    rich = contacts.filter(pl.col("rich") == "1").get_column("id").to_list()
    table = contacts.join(_rich_fields(conn, rich), on="id", how="left", maintain_order="left")
    table = table.with_columns(list_ids=lists)
    out = table.select(
        *[_quoted(c) for c in ("email", *_RICH[:6], "list_ids")],
        _iso("created", "created_iso").alias("created"),
        _iso("updated", "updated_iso").alias("updated"),
        _quoted("id"),
    )
    buffer = io.BytesIO()
    buffer.write(CSV_HEADER.encode())
    out.write_csv(buffer, include_header=False, quote_style="never", line_terminator="\r\n")
    return buffer.getvalue(), out.height
