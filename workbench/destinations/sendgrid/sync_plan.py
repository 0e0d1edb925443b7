"""What a run will do (``SyncPlan``), as the planner in :mod:`.sync` leaves it."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

REMOVE_SCHEMA = {"email": pl.String, "contact_id": pl.String}


@dataclass(frozen=True)
class SyncPlan:
    """What a run will do: the coverage funnel and the rows to add, remove and skip.

    ``to_add`` has ``email, contact_id, entry`` (the upsert entry as JSON: primary email plus
    existing identifiers); ``to_remove`` has ``email, contact_id``; ``skipped`` has
    ``email, reason``. ``to_forget`` (``email, contact_id``) are snapshot rows that leave
    without an API call: their contact stays on the list through another wanted email, or (in
    mirror mode) is no longer on it. ``list_size`` is the confirmed list size the guards
    compare against; ``snapshot`` the confirmed members the plan started from.
    """

    activation: str
    list_name: str
    list_id: str | None
    mode: str
    funnel: list[tuple[str, int]]
    to_add: pl.DataFrame
    to_remove: pl.DataFrame
    to_forget: pl.DataFrame
    skipped: pl.DataFrame
    unchanged: int
    list_size: int
    lookup: str
    guard_problems: list[str] = field(default_factory=list)
    snapshot: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=REMOVE_SCHEMA))

    @property
    def counts(self) -> dict[str, int]:
        """The plan's sizes by name."""
        return {
            "to_add": self.to_add.height,
            "to_remove": self.to_remove.height,
            "unchanged": self.unchanged,
            "skipped": self.skipped.height,
        }

    def skipped_by_reason(self) -> dict[str, int]:
        """How many rows were skipped, per reason."""
        return {str(k): int(v) for k, v in self.skipped.get_column("reason").value_counts().rows()}

    def describe(self) -> str:
        """The plan in a few lines of plain text (for the CLI and logs)."""
        lines = [f"activation {self.activation} -> list {self.list_name!r} ({self.mode})"]
        lines += [f"  {step:<28} {count:>10,}" for step, count in self.funnel]
        lines.append(
            f"  add {self.to_add.height:,}, remove {self.to_remove.height:,}, "
            f"unchanged {self.unchanged:,}, skipped {self.skipped.height:,} "
            f"(contacts found by {self.lookup})"
        )
        for reason, count in sorted(self.skipped_by_reason().items()):
            lines.append(f"    skipped, {reason}: {count:,}")
        lines += [f"  needs approval: {problem}" for problem in self.guard_problems]
        return "\n".join(lines)
