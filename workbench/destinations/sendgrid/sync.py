"""The sync planner: desired members + confirmed snapshot + SendGrid lookups -> a SyncPlan.

Steps (pure apart from the read-only SendGrid calls):

1. normalise the members' emails (dropped rows keep their reason: null / invalid / duplicate);
2. diff the unique emails against the snapshot of what SendGrid confirmed on the list;
3. look up only the emails not yet confirmed, by the cheaper path in API calls: ``ceil(n/100)``
   searches, or one export of every contact (create + polls + download) when that is fewer;
   emails that are no SendGrid contact are skipped and looked up again on later runs;
4. in mirror mode, the removals are the list's real membership (read by an export of the list)
   minus the desired contacts; in managed mode, the confirmed members who left.

Nothing here writes to SendGrid; :mod:`.sync_apply` does, from the persisted plan.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import polars as pl

from workbench.diff import diff_members
from workbench.emails import NormalisedEmails

from .batching import SEARCH_MAX_EMAILS
from .client import SendGridClient
from .models import Contact

REASON_NOT_CONTACT = "not a SendGrid contact"
REASON_REFUSED = "SendGrid refuses this address"
EXPORT_CALLS_ESTIMATE = 5  # 1 create + about 3 polls + 1 download
ADD_SCHEMA = {"email": pl.String, "contact_id": pl.String, "entry": pl.String}
REMOVE_SCHEMA = {"email": pl.String, "contact_id": pl.String}
SKIP_SCHEMA = {"email": pl.String, "reason": pl.String}


@dataclass(frozen=True)
class SyncPlan:
    """What a run will do: the coverage funnel and the rows to add, remove and skip.

    ``to_add`` has ``email, contact_id, entry`` (the upsert entry as JSON: primary email plus
    existing identifiers); ``to_remove`` has ``email, contact_id``; ``skipped`` has
    ``email, reason``. ``to_forget`` (``email, contact_id``) are snapshot rows that leave
    without an API call: their contact stays on the list through another wanted email, or (in
    mirror mode) is no longer on it. ``list_size`` is the confirmed list size the guards
    compare against.
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


def lookup_path(n: int) -> str:
    """``search`` when ``ceil(n/100)`` searches cost no more calls than one export, else
    ``export``."""
    return "search" if math.ceil(n / SEARCH_MAX_EMAILS) <= EXPORT_CALLS_ESTIMATE else "export"


def find_contacts(
    client: SendGridClient, emails: list[str], poll_s: float
) -> tuple[dict[str, Contact], set[str], str]:
    """The contacts of ``emails`` (by primary or alternate email), the refused ones, the path."""
    path = lookup_path(len(emails))
    if not emails:
        return {}, set(), "none"
    if path == "search":
        result = client.search_emails(emails)
        return result.found, result.invalid, path
    by_email: dict[str, Contact] = {}
    for contact in client.export_contacts(poll_s=poll_s):
        for address in (contact.email, *contact.alternate_emails):
            if address:
                by_email.setdefault(address, contact)
    return {e: by_email[e] for e in emails if e in by_email}, set(), path


def dropped_as_skipped(normalised: NormalisedEmails) -> pl.DataFrame:
    """The rows normalisation dropped, as ``email`` (the raw text, "" for null) and ``reason``."""
    dropped = normalised.dropped
    return dropped.select(
        email=pl.col("raw_email").fill_null(""), reason=pl.col("reason").cast(pl.String)
    )


def plan_sync(
    *,
    activation: str,
    list_name: str,
    list_id: str | None,
    mode: str,
    normalised: NormalisedEmails,
    snapshot: pl.DataFrame,
    client: SendGridClient,
    poll_s: float = 5.0,
) -> SyncPlan:
    """Plan one run (reads SendGrid, writes nothing); see the module docstring."""
    desired = normalised.valid.select("email")
    diff = diff_members(desired, snapshot)
    candidates = diff.to_add.get_column("email").to_list()
    found, refused, path = find_contacts(client, candidates, poll_s)
    to_add = _additions(candidates, found)
    lookup_skips = [(e, REASON_REFUSED) for e in candidates if e in refused]
    unknown = [e for e in candidates if e not in found and e not in refused]
    lookup_skips += [(e, REASON_NOT_CONTACT) for e in unknown]
    skipped = pl.concat(
        [dropped_as_skipped(normalised), pl.DataFrame(lookup_skips, SKIP_SCHEMA, orient="row")]
    )
    leavers = diff.to_remove.select("email", "contact_id")
    keep = set(diff.unchanged.get_column("contact_id").to_list()) | {c.id for c in found.values()}
    if mode == "mirror" and list_id:
        to_remove = mirror_removals(client, list_id, keep, snapshot, poll_s)
    else:
        to_remove = leavers.filter(~pl.col("contact_id").is_in(list(keep)))
    removed_ids = to_remove.get_column("contact_id").to_list()
    to_forget = leavers.filter(~pl.col("contact_id").is_in(removed_ids))
    matched = diff.unchanged.height + to_add.height
    funnel = [
        *normalised.funnel(),
        ("SendGrid contacts", matched),
        ("will be on the list", matched),
    ]
    return SyncPlan(
        activation=activation,
        list_name=list_name,
        list_id=list_id,
        mode=mode,
        funnel=funnel,
        to_add=to_add,
        to_remove=to_remove,
        to_forget=to_forget,
        skipped=skipped,
        unchanged=diff.unchanged.height,
        list_size=snapshot.height,
        lookup=path,
    )


def _additions(candidates: list[str], found: dict[str, Contact]) -> pl.DataFrame:
    """``email, contact_id, entry`` of every candidate that is a contact, in email order."""
    rows = [
        (email, found[email].id, json.dumps(found[email].upsert_entry()))
        for email in candidates
        if email in found
    ]
    return pl.DataFrame(rows, ADD_SCHEMA, orient="row")


def mirror_removals(
    client: SendGridClient,
    list_id: str,
    keep: set[str],
    snapshot: pl.DataFrame,
    poll_s: float,
) -> pl.DataFrame:
    """Contacts really on the list (read by export) that are not desired: ``email, contact_id``.

    The email is the one the snapshot knows for the contact, else the contact's primary email.
    """
    known = dict(zip(snapshot["contact_id"].to_list(), snapshot["email"].to_list(), strict=True))
    rows = [
        (known.get(c.id) or c.email or "", c.id)
        for c in client.export_contacts([list_id], poll_s=poll_s)
        if c.id not in keep
    ]
    return pl.DataFrame(rows, REMOVE_SCHEMA, orient="row").sort("email")


def guard_problems(plan: SyncPlan, allow_empty: bool, max_remove_fraction: float) -> list[str]:
    """Why the plan must wait for approval: an empty segment, or too many removals."""
    problems = []
    if not allow_empty and plan.funnel[2][1] == 0:
        problems.append("the segment has no member with a usable email: approve to empty the list")
    size = max(plan.list_size, 1)
    if plan.to_remove.height and plan.to_remove.height / size > max_remove_fraction:
        problems.append(
            f"it would remove {plan.to_remove.height:,} of {plan.list_size:,} list members "
            f"(more than {max_remove_fraction:.0%}): approve if that is intended"
        )
    return problems
