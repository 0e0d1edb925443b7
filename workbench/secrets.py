"""The SendGrid API key: where it comes from, how it is stored, and how it is kept out of text.

The key never goes into the state database. :func:`resolve_api_key` looks, in this order, at

1. the destination's own key file, saved by the app or the CLI:
   ``<WORKBENCH_HOME>/secrets/<destination>.key``, mode 0600 in a 0700 folder (a key file that
   group or others can read is refused). It comes first because it is the only source that
   names one destination: a global key must not shadow the demo sandbox's own key;
2. the environment variable ``SENDGRID_API_KEY``;
3. Streamlit's secrets file ``.streamlit/secrets.toml`` (key ``SENDGRID_API_KEY``), read with
   ``tomllib`` so this module does not import Streamlit.

Keys travel as :class:`Secret` (or :class:`ResolvedKey`), whose ``repr``/``str`` show only
:func:`mask_secret`; call ``.reveal()`` (or read ``ResolvedKey.value``) at the HTTP boundary only.
No message raised here contains a key: they name sources, paths and destinations instead.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import ConfigError

ENV_VAR = "SENDGRID_API_KEY"
SECRETS_TOML_KEY = "SENDGRID_API_KEY"
SOURCE_ENVIRONMENT = "environment SENDGRID_API_KEY"
SOURCE_SECRETS_TOML = ".streamlit/secrets.toml"
SOURCE_KEY_FILE = "key file"
SHORTEST_PARTLY_SHOWN = 20  # shorter keys are masked completely
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_SENDGRID_SHAPE = re.compile(r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}")
_TOML_POSITION = re.compile(r"\(at line \d+, column \d+\)|\(at end of document\)")


def mask_secret(key: str) -> str:
    """The key shortened for display: first 5 and last 4 characters (``SG.ab…wxyz``).

    Keys under 20 characters become ``••••``, since showing 9 of them would reveal too much.
    """
    if len(key) < SHORTEST_PARTLY_SHOWN:
        return "••••"
    return f"{key[:5]}…{key[-4:]}"


class Secret:
    """A string that shows only its masked form in ``repr``, ``str``, f-strings and logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        """Wrap ``value``; only :meth:`reveal` gives it back."""
        self._value = value

    def reveal(self) -> str:
        """The secret itself: pass it to the HTTP client, never to a message or a log."""
        return self._value

    @property
    def masked(self) -> str:
        """The masked form, e.g. ``SG.ab…wxyz``."""
        return mask_secret(self._value)

    def __str__(self) -> str:
        """The masked form."""
        return self.masked

    def __repr__(self) -> str:
        """``Secret('SG.ab…wxyz')``: masked."""
        return f"Secret({self.masked!r})"

    def __eq__(self, other: object) -> bool:
        """Equal to another Secret holding the same value (compared in constant time)."""
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        """Hash of the value, so equal secrets hash alike."""
        return hash(self._value)


@dataclass(frozen=True)
class ResolvedKey:
    """An API key and where it came from; ``repr``/``str`` show only the masked key."""

    value: str = field(repr=False)
    source: str

    @property
    def masked(self) -> str:
        """The masked key, e.g. ``SG.ab…wxyz``."""
        return mask_secret(self.value)

    @property
    def secret(self) -> Secret:
        """The key wrapped as a :class:`Secret`."""
        return Secret(self.value)

    def __str__(self) -> str:
        """``SG.ab…wxyz (from key file)``."""
        return f"{self.masked} (from {self.source})"

    def __repr__(self) -> str:
        """``ResolvedKey(masked='SG.ab…wxyz', source='key file')``."""
        return f"ResolvedKey(masked={self.masked!r}, source={self.source!r})"


def validate_key_format(key: str) -> list[str]:
    """Warnings about a key's format; raises ConfigError if it is empty or contains whitespace.

    A key that does not look like a SendGrid key (``SG.`` + 22 + ``.`` + 43 characters) only
    yields a warning, since sandbox and test keys may differ.
    """
    if not key:
        raise ConfigError("the API key is empty: paste the whole key from SendGrid")
    if any(character.isspace() for character in key):
        raise ConfigError(
            "the API key contains spaces or line breaks: copy it again from SendGrid "
            "(Settings > API Keys); it is a single word"
        )
    if not key.startswith("SG."):
        return ["the key does not start with 'SG.': SendGrid API keys do (a sandbox key may not)"]
    if not _SENDGRID_SHAPE.fullmatch(key):
        return ["the key does not have the usual shape of a SendGrid key (69 characters)"]
    return []


def key_file_path(home: Path, destination: str) -> Path:
    """``<home>/secrets/<destination>.key``; ConfigError if the name is not a safe file name."""
    if not isinstance(destination, str) or not _SAFE_NAME.fullmatch(destination):
        raise ConfigError(
            f"destination name {destination!r} cannot name a key file: use 1 to 64 letters, "
            "digits, '.', '_' or '-', starting with a letter or digit"
        )
    return Path(home) / "secrets" / f"{destination}.key"


def save_api_key(home: Path, destination: str, key: str) -> None:
    """Store ``key`` (surrounding whitespace removed) as the destination's key file, mode 0600.

    The file is written to a temporary file created with mode 0600 and renamed over the old
    one, so no reader ever sees a half-written or world-readable key.
    """
    path = key_file_path(home, destination)
    key = key.strip()
    validate_key_format(key)
    _make_private_folder(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(key + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _make_private_folder(folder: Path) -> None:
    """Create ``folder`` with mode 0700, or tighten it to 0700 if it exists."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if stat.S_IMODE(folder.stat().st_mode) != 0o700:
        folder.chmod(0o700)


def delete_api_key(home: Path, destination: str) -> bool:
    """Remove the destination's key file; True if there was one."""
    try:
        key_file_path(home, destination).unlink()
    except FileNotFoundError:
        return False
    return True


def resolve_api_key(
    home: Path,
    destination: str,
    *,
    environ: Mapping[str, str] = os.environ,
    secrets_file: Path | None = None,
) -> ResolvedKey | None:
    """The API key for ``destination`` from the first source that has one, or None.

    Sources in order: the destination's key file, ``environ["SENDGRID_API_KEY"]``,
    ``secrets_file`` (default ``.streamlit/secrets.toml`` in the current folder). Empty values
    count as absent. A key with inner whitespace, an unreadable secrets file or a key file
    others can read raise ConfigError naming the source.
    """
    key_file = key_file_path(home, destination)
    toml_file = secrets_file if secrets_file is not None else Path(".streamlit/secrets.toml")
    from_file = _read_key_file(key_file)
    if from_file:
        return _resolved(from_file, SOURCE_KEY_FILE)
    from_env = environ.get(ENV_VAR, "").strip()
    if from_env:
        return _resolved(from_env, SOURCE_ENVIRONMENT)
    from_toml = _read_secrets_toml(toml_file)
    return _resolved(from_toml, SOURCE_SECRETS_TOML) if from_toml else None


def _resolved(key: str, source: str) -> ResolvedKey:
    """A ResolvedKey, after checking the key is a single word."""
    if any(character.isspace() for character in key):
        raise ConfigError(f"the API key from {source} contains spaces or line breaks: fix it there")
    return ResolvedKey(key, source)


def _read_secrets_toml(path: Path) -> str:
    """``SENDGRID_API_KEY`` from a Streamlit secrets file, or "" if the file or key is absent."""
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return ""
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(
            f"cannot read {path} ({type(error).__name__}): fix or remove it"
        ) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        where = _TOML_POSITION.search(str(error))  # position only: the text may hold secrets
        position = where.group(0) if where else ""
        raise ConfigError(f"{path} is not valid TOML {position}: fix or remove it") from None
    value = document.get(SECRETS_TOML_KEY, "")
    if not isinstance(value, str):
        raise ConfigError(f"{SECRETS_TOML_KEY} in {path} must be a quoted string")
    return value.strip()


def _read_key_file(path: Path) -> str:
    """The key in a key file, or "" if there is none; refuses files others can read."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return ""
    except OSError as error:
        raise ConfigError(f"cannot open the key file {path} ({error.strerror})") from None
    with os.fdopen(descriptor, "rb") as handle:
        _check_private(os.fstat(handle.fileno()), path)
        content = handle.read()
    try:
        return content.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"the key file {path} is not UTF-8 text: save the key again") from None


def _check_private(status: os.stat_result, path: Path) -> None:
    """ConfigError unless the key file belongs to the current user and only they can read it."""
    if status.st_mode & 0o077:
        raise ConfigError(
            f"the key file {path} can be read by other users "
            f"(mode {stat.S_IMODE(status.st_mode):04o}): run `chmod 600 {path}` and try again"
        )
    if hasattr(os, "getuid") and status.st_uid != os.getuid():
        raise ConfigError(
            f"the key file {path} belongs to another user (uid {status.st_uid}): "
            f"save the key again from this account, or `chown` the file to it"
        )
