"""A SendGrid destination: where lists live (host, region) and the defaults of its activations.

A destination is saved in the state store as plain JSON (``store.save_destination``) and never
holds the API key: the key comes from :mod:`workbench.secrets` (environment, Streamlit secrets
file or the destination's key file). Activating a segment "with defaults" takes every setting
from :class:`DefaultSettings`; an activation may override any of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from workbench.config import Settings
from workbench.errors import ConfigError
from workbench.schedules import Schedule, parse_schedule
from workbench.secrets import resolve_api_key

from .client import SendGridClient
from .models import ConnectionCheck

Mode = Literal["managed", "mirror"]
Region = Literal["global", "eu"]
MODES: tuple[str, ...] = ("managed", "mirror")
REGIONS: tuple[str, ...] = ("global", "eu")
EU_HOST = "https://api.eu.sendgrid.com"
LIST_NAME_PLACEHOLDERS = ("segment", "entity")


@dataclass(frozen=True)
class Guards:
    """When a run stops and asks for approval instead of touching SendGrid."""

    allow_empty: bool = False
    max_remove_fraction: float = 0.2

    def __post_init__(self) -> None:
        if not 0 <= self.max_remove_fraction <= 1:
            raise ConfigError(
                f"max_remove_fraction must be between 0 and 1, got {self.max_remove_fraction}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The guards as JSON."""
        return {"allow_empty": self.allow_empty, "max_remove_fraction": self.max_remove_fraction}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Guards:
        """Guards from JSON; missing keys keep their defaults."""
        data = data or {}
        unknown = set(data) - {"allow_empty", "max_remove_fraction"}
        if unknown:
            raise ConfigError(f"unknown guard setting(s): {', '.join(sorted(unknown))}")
        return cls(
            allow_empty=bool(data.get("allow_empty", False)),
            max_remove_fraction=float(data.get("max_remove_fraction", 0.2)),
        )


@dataclass(frozen=True)
class DefaultSettings:
    """The settings every activation of a destination starts from."""

    list_name: str = "{segment}"
    email_column: str | None = None  # None: the entity's own email column
    schedule: Schedule = field(default_factory=Schedule.manual)
    mode: Mode = "managed"
    guards: Guards = field(default_factory=Guards)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"mode must be 'managed' or 'mirror', not {self.mode!r}")
        check_list_name_template(self.list_name)

    def to_dict(self) -> dict[str, Any]:
        """The defaults as JSON."""
        return {
            "list_name": self.list_name,
            "email_column": self.email_column,
            "schedule": self.schedule.to_dict(),
            "mode": self.mode,
            "guards": self.guards.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> DefaultSettings:
        """Defaults from JSON; missing keys keep the built-in defaults."""
        data = data or {}
        return cls(
            list_name=str(data.get("list_name") or "{segment}"),
            email_column=data.get("email_column"),
            schedule=as_schedule(data.get("schedule")),
            mode=data.get("mode") or "managed",
            guards=Guards.from_dict(data.get("guards")),
        )

    def overridden(self, overrides: dict[str, Any]) -> DefaultSettings:
        """These defaults with an activation's overrides applied (None means "no override")."""
        given = {k: v for k, v in overrides.items() if v is not None}
        changes: dict[str, Any] = {}
        for key in ("list_name", "email_column", "mode"):
            if key in given:
                changes[key] = given[key]
        if "schedule" in given:
            changes["schedule"] = as_schedule(given["schedule"])
        if "guards" in given:
            changes["guards"] = Guards.from_dict({**self.guards.to_dict(), **given["guards"]})
        return replace(self, **changes)


def as_schedule(value: Any) -> Schedule:
    """A Schedule from its text form, its dict form, a Schedule, or None (manual)."""
    if value is None:
        return Schedule.manual()
    if isinstance(value, Schedule):
        return value
    if isinstance(value, dict):
        return Schedule.from_dict(value)
    return parse_schedule(str(value))


def check_list_name_template(template: str) -> None:
    """ConfigError when the list-name template uses an unknown placeholder or is empty."""
    try:
        template.format(segment="s", entity="e")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"the list-name template {template!r} is not usable ({exc}): use text with the "
            "placeholders {segment} and {entity}"
        ) from None
    if not template.strip():
        raise ConfigError("the list-name template is empty: e.g. '{segment}'")


@dataclass(frozen=True)
class Destination:
    """A SendGrid account reached at ``host``, with the defaults of its activations."""

    name: str
    host: str
    region: Region = "global"
    defaults: DefaultSettings = field(default_factory=DefaultSettings)

    def to_dict(self) -> dict[str, Any]:
        """The destination as stored (never with a key)."""
        return {
            "kind": "sendgrid",
            "host": self.host,
            "region": self.region,
            "defaults": self.defaults.to_dict(),
        }

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> Destination:
        """A destination from its stored JSON."""
        return cls(
            name=name,
            host=str(data["host"]),
            region=data.get("region") or "global",
            defaults=DefaultSettings.from_dict(data.get("defaults")),
        )


def default_host(settings: Settings, region: str) -> str:
    """The host of a region: the EU host for ``eu``, else ``WORKBENCH_SENDGRID_HOST``."""
    if region not in REGIONS:
        raise ConfigError(f"region must be 'global' or 'eu', not {region!r}")
    return EU_HOST if region == "eu" else settings.sendgrid_host


def client_for(destination: Destination, settings: Settings, **options: Any) -> SendGridClient:
    """A client for the destination, with its key from :mod:`workbench.secrets`."""
    key = resolve_api_key(settings.home, destination.name)
    if key is None:
        raise ConfigError(
            f"no SendGrid API key for destination {destination.name!r}: set SENDGRID_API_KEY, "
            "put it in .streamlit/secrets.toml, or save it with the destination"
        )
    return SendGridClient(key.secret, destination.host, settings.sendgrid_timeout_s, **options)


def test_connection(destination: Destination, settings: Settings) -> ConnectionCheck:
    """Whether the destination's key works and may read and write lists, in plain words."""
    try:
        client = client_for(destination, settings)
    except ConfigError as exc:
        return ConnectionCheck(ok=False, message=str(exc))
    return client.check_connection()


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
