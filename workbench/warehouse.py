"""Opening the DuckDB warehouse: always read-only, so the app and the runner can share it.

DuckDB's file lock forbids any other process beside a writer, so every reader in the workbench
opens the warehouse read-only. The demo warehouse is the one exception: it is built once, into a
temporary file that is renamed into place, under a lock so two processes never build it twice.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from workbench.config import Settings
from workbench.errors import CatalogError


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_demo_warehouse(settings: Settings) -> Path:
    """Build the demo warehouse in ``settings.home`` if it is the one in use and is missing."""
    path = settings.warehouse_path
    if not settings.uses_demo_warehouse or path.exists():
        return path
    from workbench.demo import build_demo  # imported late: only needed once

    with file_lock(path.with_suffix(".lock")):
        if not path.exists():
            build_demo(path, customers=settings.demo_customers, seed=settings.demo_seed)
            from workbench.demo_sandbox import seed_if_demo

            seed_if_demo(settings)  # the demo SendGrid account and destination
    return path


def open_warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    """Open the warehouse read-only; a CatalogError says what to do when it is missing."""
    if not path.exists():
        raise CatalogError(
            f"the warehouse {str(path)!r} does not exist: set WORKBENCH_WAREHOUSE to a DuckDB "
            "file, or run `python -m workbench demo` to build the demo warehouse"
        )
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        raise CatalogError(f"cannot open the warehouse {str(path)!r}: {first}") from None
