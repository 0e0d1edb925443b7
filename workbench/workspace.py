"""The workspace: settings, the read-only warehouse, the catalog and the state store together.

Everything public takes a ``Workspace``; pages cache one per server (``st.cache_resource``),
the runner and the CLI make one per process, notebooks call ``open_workspace()``. DuckDB
connections are not shared across threads: every query takes its own ``cursor()``.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

import duckdb

from workbench.catalog import Catalog, build_catalog, embedded_specs
from workbench.config import Settings, get_settings
from workbench.warehouse import ensure_demo_warehouse, open_warehouse

if TYPE_CHECKING:
    from workbench.store import Store


class Workspace:
    """One user's view of the workbench: warehouse (read-only), catalog, state store."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings if settings is not None else get_settings()
        self._root: duckdb.DuckDBPyConnection | None = None
        self._catalog: Catalog | None = None
        self._lock = threading.Lock()

    @cached_property
    def store(self) -> Store:
        """The SQLite state store under ``WORKBENCH_HOME``."""
        from workbench.store import Store

        return Store(self.settings.state_db_path)

    def _root_connection(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._root is None:
                path = ensure_demo_warehouse(self.settings)
                self._root = open_warehouse(path)
            return self._root

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A fresh cursor on the warehouse: one per query or per script run, never shared."""
        return self._root_connection().cursor()

    def catalog(self) -> Catalog:
        """The checked catalog: the warehouse's own entities plus the registered ones."""
        if self._catalog is None:
            con = self.cursor()
            specs = embedded_specs(con) + self.store.list_entities()
            self._catalog = build_catalog(con, specs)
        return self._catalog

    def reload_catalog(self) -> Catalog:
        """Forget the cached catalog (after a registration) and build it again."""
        self._catalog = None
        return self.catalog()

    def close(self) -> None:
        """Close the warehouse connection."""
        with self._lock:
            if self._root is not None:
                self._root.close()
                self._root = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_workspace(**overrides: Any) -> Workspace:
    """A workspace from the environment's settings, with optional overrides (``home=...``)."""
    settings = Settings(**overrides) if overrides else get_settings()
    return Workspace(settings)
