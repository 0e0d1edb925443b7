"""Named JSON documents in the state store: destinations and activations.

Both are stored as one JSON ``config`` per name; an activation's ``segment`` and ``destination``
keys are also copied into indexed columns so "which activations use X" is a lookup. Documents
that look like they hold a secret are refused (``refuse_secrets``): a destination stores only
*where* its API key lives (e.g. ``api_key_env``), never the key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from workbench.errors import ConflictError
from workbench.store_base import StoreBase, not_found, refuse_secrets, utc_now
from workbench.store_snapshot_cache import forget_token


@dataclass(frozen=True)
class StoredDoc:
    """A named JSON document (destination or activation) and when it was last saved."""

    name: str
    config: dict[str, Any]
    updated_at: str


class DocumentsMixin(StoreBase):
    """Saving, reading, listing and deleting destinations and activations."""

    def save_destination(self, name: str, config: dict[str, Any]) -> None:
        """Save a destination's settings (never its API key: secrets are refused)."""
        refuse_secrets("destination", name, config)
        self._put_doc("destinations", name, config, {})

    def get_destination(self, name: str) -> dict[str, Any]:
        """A destination's settings; NotFoundError when it does not exist."""
        return self._get_doc("destinations", "destination", name)

    def list_destinations(self) -> list[StoredDoc]:
        """Every destination, by name."""
        return self._list_docs("destinations")

    def delete_destination(self, name: str) -> None:
        """Delete a destination; ConflictError while activations use it."""
        users = [a.name for a in self.list_activations(destination=name)]
        if users:
            raise ConflictError(
                f"destination {name!r} is used by activation(s) {', '.join(users)}: "
                "delete or change them first"
            )
        self._delete_doc("destinations", "destination", name)

    def save_activation(self, name: str, config: dict[str, Any]) -> None:
        """Save an activation; its ``segment`` and ``destination`` keys are indexed."""
        refuse_secrets("activation", name, config)
        columns = {"segment": config.get("segment"), "destination": config.get("destination")}
        self._put_doc("activations", name, config, columns)

    def get_activation(self, name: str) -> dict[str, Any]:
        """An activation's settings; NotFoundError when it does not exist."""
        return self._get_doc("activations", "activation", name)

    def list_activations(
        self, *, segment: str | None = None, destination: str | None = None
    ) -> list[StoredDoc]:
        """Every activation by name, optionally only those of one segment or destination."""
        return self._list_docs("activations", segment=segment, destination=destination)

    def delete_activation(self, name: str) -> None:
        """Delete an activation and its member snapshot (its runs stay as history)."""
        with self.transaction() as con:
            self._delete_doc("activations", "activation", name)
            con.execute("DELETE FROM snapshot_members WHERE activation = ?", (name,))
            forget_token(con, name)

    def _put_doc(
        self, table: str, name: str, config: dict[str, Any], columns: dict[str, Any]
    ) -> None:
        names = ["name", "config", "updated_at", *columns]
        values = [name, json.dumps(config), utc_now(), *columns.values()]
        updates = ", ".join(f"{c} = excluded.{c}" for c in names[1:])
        with self.transaction() as con:
            con.execute(
                f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
                f"ON CONFLICT(name) DO UPDATE SET {updates}",
                values,
            )

    def _get_doc(self, table: str, kind: str, name: str) -> dict[str, Any]:
        with self._reading() as con:
            rows = con.execute(f"SELECT config FROM {table} WHERE name = ?", (name,)).fetchall()
            if not rows:
                raise not_found(kind, name, self._names(con, table))
        config: dict[str, Any] = json.loads(rows[0]["config"])
        return config

    def _list_docs(self, table: str, **filters: str | None) -> list[StoredDoc]:
        wanted = {k: v for k, v in filters.items() if v is not None}
        where = " AND ".join(f"{k} = ?" for k in wanted) or "1"
        sql = f"SELECT name, config, updated_at FROM {table} WHERE {where} ORDER BY name"
        with self._reading() as con:
            rows = con.execute(sql, list(wanted.values())).fetchall()
        return [StoredDoc(r["name"], json.loads(r["config"]), r["updated_at"]) for r in rows]

    def _delete_doc(self, table: str, kind: str, name: str) -> None:
        with self.transaction() as con:
            if con.execute(f"DELETE FROM {table} WHERE name = ?", (name,)).rowcount == 0:
                raise not_found(kind, name, self._names(con, table))
