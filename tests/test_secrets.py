"""Secrets: where the SendGrid key comes from, how it is stored, and that it never leaks."""

from __future__ import annotations

import os
import random
import stat
import string
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

from workbench.errors import ConfigError
from workbench.secrets import (
    ResolvedKey,
    Secret,
    delete_api_key,
    key_file_path,
    mask_secret,
    resolve_api_key,
    save_api_key,
    validate_key_format,
)

ALPHABET = string.ascii_letters + string.digits + "_-"


def make_key(seed: int) -> str:
    """A key with SendGrid's shape (SG. + 22 + . + 43 characters), from a fixed seed."""
    rng = random.Random(seed)
    first = "".join(rng.choice(ALPHABET) for _ in range(22))
    second = "".join(rng.choice(ALPHABET) for _ in range(43))
    return f"SG.{first}.{second}"


ENV_KEY, TOML_KEY, FILE_KEY = make_key(1), make_key(2), make_key(3)


def mode_of(path: Path) -> int:
    """The permission bits of ``path``."""
    return stat.S_IMODE(path.stat().st_mode)


def write_toml(path: Path, text: str) -> Path:
    """Write a Streamlit secrets file and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty WORKBENCH_HOME."""
    return tmp_path / "home"


@pytest.fixture
def no_toml(tmp_path: Path) -> Path:
    """A secrets.toml path that does not exist."""
    return tmp_path / "absent" / "secrets.toml"


# --- resolution order ----------------------------------------------------------------------


def test_key_file_wins_then_environment_then_secrets_toml(home: Path, tmp_path: Path) -> None:
    toml = write_toml(tmp_path / ".streamlit" / "secrets.toml", f'SENDGRID_API_KEY = "{TOML_KEY}"')
    save_api_key(home, "newsletter", FILE_KEY)
    env = {"SENDGRID_API_KEY": ENV_KEY}

    found = resolve_api_key(home, "newsletter", environ=env, secrets_file=toml)
    assert found is not None and (found.value, found.source) == (FILE_KEY, "key file")

    delete_api_key(home, "newsletter")
    found = resolve_api_key(home, "newsletter", environ=env, secrets_file=toml)
    assert found is not None and (found.value, found.source) == (
        ENV_KEY,
        "environment SENDGRID_API_KEY",
    )

    found = resolve_api_key(home, "newsletter", environ={}, secrets_file=toml)
    assert found is not None and (found.value, found.source) == (
        TOML_KEY,
        ".streamlit/secrets.toml",
    )

    toml.unlink()
    assert resolve_api_key(home, "newsletter", environ={}, secrets_file=toml) is None


def test_empty_values_count_as_absent(home: Path, tmp_path: Path) -> None:
    toml = write_toml(tmp_path / "secrets.toml", 'SENDGRID_API_KEY = ""\nother = 1\n')
    found = resolve_api_key(
        home, "newsletter", environ={"SENDGRID_API_KEY": "  "}, secrets_file=toml
    )
    assert found is None


def test_key_files_are_per_destination(home: Path, no_toml: Path) -> None:
    save_api_key(home, "newsletter", FILE_KEY)
    save_api_key(home, "vip-list", ENV_KEY)
    newsletter = resolve_api_key(home, "newsletter", environ={}, secrets_file=no_toml)
    vip = resolve_api_key(home, "vip-list", environ={}, secrets_file=no_toml)
    assert newsletter is not None and newsletter.value == FILE_KEY
    assert vip is not None and vip.value == ENV_KEY
    assert resolve_api_key(home, "other", environ={}, secrets_file=no_toml) is None


def test_secrets_toml_defaults_to_the_current_folder(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    write_toml(
        project / ".streamlit" / "secrets.toml",
        f'title = "x"\nSENDGRID_API_KEY = "{TOML_KEY}"\n\n[connections.wh]\nurl = "duckdb:///a"\n',
    )
    monkeypatch.chdir(project)
    found = resolve_api_key(home, "newsletter", environ={})
    assert found == ResolvedKey(TOML_KEY, ".streamlit/secrets.toml")


def test_a_key_only_inside_a_toml_section_is_not_used(home: Path, tmp_path: Path) -> None:
    toml = write_toml(tmp_path / "secrets.toml", f'[sendgrid]\nSENDGRID_API_KEY = "{TOML_KEY}"\n')
    assert resolve_api_key(home, "newsletter", environ={}, secrets_file=toml) is None


# --- the key file on disk ------------------------------------------------------------------


def test_saved_key_file_is_0600_in_a_0700_folder(home: Path, no_toml: Path) -> None:
    save_api_key(home, "newsletter", f"  {FILE_KEY}\n")  # pasted with stray whitespace
    path = key_file_path(home, "newsletter")
    assert path == home / "secrets" / "newsletter.key"
    assert mode_of(path) == 0o600
    assert mode_of(path.parent) == 0o700
    assert path.read_text(encoding="utf-8").strip() == FILE_KEY
    assert sorted(p.name for p in path.parent.iterdir()) == ["newsletter.key"]  # no temp files
    found = resolve_api_key(home, "newsletter", environ={}, secrets_file=no_toml)
    assert found is not None and found.value == FILE_KEY


def test_modes_hold_under_a_permissive_umask_and_a_loose_folder(home: Path) -> None:
    (home / "secrets").mkdir(parents=True, mode=0o755)
    os.chmod(home / "secrets", 0o755)
    old_key = key_file_path(home, "newsletter")
    old_key.write_text("SG.old", encoding="utf-8")
    old_key.chmod(0o644)
    previous = os.umask(0)
    try:
        save_api_key(home, "newsletter", FILE_KEY)
    finally:
        os.umask(previous)
    assert mode_of(old_key) == 0o600
    assert mode_of(home / "secrets") == 0o700
    assert old_key.read_text(encoding="utf-8").strip() == FILE_KEY


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660], ids=oct)
def test_key_file_readable_by_others_is_refused_with_a_chmod_hint(
    home: Path, no_toml: Path, mode: int
) -> None:
    save_api_key(home, "newsletter", FILE_KEY)
    path = key_file_path(home, "newsletter")
    path.chmod(mode)
    with pytest.raises(ConfigError) as caught:
        resolve_api_key(home, "newsletter", environ={}, secrets_file=no_toml)
    assert f"chmod 600 {path}" in str(caught.value)
    assert FILE_KEY not in str(caught.value)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_key_file_of_another_user_is_refused(home: Path, no_toml: Path) -> None:
    save_api_key(home, "newsletter", FILE_KEY)
    os.chown(key_file_path(home, "newsletter"), 12345, -1)
    with pytest.raises(ConfigError, match="belongs to another user"):
        resolve_api_key(home, "newsletter", environ={}, secrets_file=no_toml)


def test_delete_api_key_reports_whether_there_was_one(home: Path, no_toml: Path) -> None:
    save_api_key(home, "newsletter", FILE_KEY)
    assert delete_api_key(home, "newsletter") is True
    assert delete_api_key(home, "newsletter") is False
    assert resolve_api_key(home, "newsletter", environ={}, secrets_file=no_toml) is None


@pytest.mark.parametrize("name", ["", "../etc", "a/b", ".hidden", "a b", "x" * 65, "név", "a\\b"])
def test_unsafe_destination_names_are_refused(home: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="letters, digits"):
        save_api_key(home, name, FILE_KEY)
    with pytest.raises(ConfigError, match="cannot name a key file"):
        resolve_api_key(home, name, environ={"SENDGRID_API_KEY": ENV_KEY})
    assert not (home / "secrets").exists()


# --- masking and formats -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "masked"),
    [
        ("", "••••"),
        ("SG.x", "••••"),
        ("SG.abcdefghijklmnop", "••••"),  # 19 characters
        ("SG.abcdefghijklmnopq", "SG.ab…nopq"),  # 20 characters
        ("SG.abcdefghijklmnopqrstuvwxyz", "SG.ab…wxyz"),
        (ENV_KEY, f"{ENV_KEY[:5]}…{ENV_KEY[-4:]}"),
    ],
)
def test_mask_secret_shows_first_five_and_last_four_of_long_keys(key: str, masked: str) -> None:
    assert mask_secret(key) == masked


def test_validate_key_format() -> None:
    assert validate_key_format(ENV_KEY) == []
    assert "does not start with 'SG.'" in validate_key_format("sandbox-key-123")[0]
    assert "usual shape" in validate_key_format("SG.short")[0]
    with pytest.raises(ConfigError, match="empty"):
        validate_key_format("")
    with pytest.raises(ConfigError, match="spaces or line breaks"):
        validate_key_format("SG.abc def")


def test_secret_and_resolved_key_never_show_the_key() -> None:
    secret = Secret(ENV_KEY)
    resolved = ResolvedKey(ENV_KEY, "key file")
    texts = [str(secret), repr(secret), f"{secret}", str(resolved), repr(resolved), f"{resolved}"]
    texts += [repr([secret, resolved]), str({"key": secret}), repr(resolved.secret)]
    for text in texts:
        assert ENV_KEY not in text
        assert ENV_KEY[5:-4] not in text
    assert mask_secret(ENV_KEY) in str(secret) and mask_secret(ENV_KEY) in str(resolved)
    assert "key file" in str(resolved)
    assert secret.reveal() == ENV_KEY and resolved.secret == secret
    assert Secret(ENV_KEY) != Secret(FILE_KEY)


# --- no exception raised here ever carries the key ------------------------------------------


def _bad_env(home: Path, tmp: Path) -> None:
    resolve_api_key(home, "d", environ={"SENDGRID_API_KEY": f"{ENV_KEY}\n{ENV_KEY}"})


def _bad_toml_syntax(home: Path, tmp: Path) -> None:
    toml = write_toml(tmp / "s.toml", f'SENDGRID_API_KEY = "{ENV_KEY}\nbroken = [ "{ENV_KEY}\n')
    resolve_api_key(home, "d", environ={}, secrets_file=toml)


def _toml_key_not_a_string(home: Path, tmp: Path) -> None:
    toml = write_toml(tmp / "s.toml", f'SENDGRID_API_KEY = ["{ENV_KEY}"]\n')
    resolve_api_key(home, "d", environ={}, secrets_file=toml)


def _toml_key_with_space(home: Path, tmp: Path) -> None:
    toml = write_toml(tmp / "s.toml", f'SENDGRID_API_KEY = "{ENV_KEY} {ENV_KEY}"\n')
    resolve_api_key(home, "d", environ={}, secrets_file=toml)


def _toml_not_utf8(home: Path, tmp: Path) -> None:
    toml = tmp / "s.toml"
    toml.write_bytes(f'SENDGRID_API_KEY = "{ENV_KEY}'.encode() + b'\xff\xfe"\n')
    resolve_api_key(home, "d", environ={}, secrets_file=toml)


def _key_file_world_readable(home: Path, tmp: Path) -> None:
    save_api_key(home, "d", ENV_KEY)
    key_file_path(home, "d").chmod(0o644)
    resolve_api_key(home, "d", environ={}, secrets_file=tmp / "none.toml")


def _key_file_not_utf8(home: Path, tmp: Path) -> None:
    save_api_key(home, "d", "placeholder")
    key_file_path(home, "d").write_bytes(ENV_KEY.encode() + b"\xff" + ENV_KEY.encode())
    resolve_api_key(home, "d", environ={}, secrets_file=tmp / "none.toml")


def _save_key_with_newline(home: Path, tmp: Path) -> None:
    save_api_key(home, "d", f"{ENV_KEY}\n{ENV_KEY}")


def _save_under_unsafe_name(home: Path, tmp: Path) -> None:
    save_api_key(home, "../d", ENV_KEY)


@pytest.mark.parametrize(
    "cause",
    [
        _bad_env,
        _bad_toml_syntax,
        _toml_key_not_a_string,
        _toml_key_with_space,
        _toml_not_utf8,
        _key_file_world_readable,
        _key_file_not_utf8,
        _save_key_with_newline,
        _save_under_unsafe_name,
    ],
)
def test_no_error_message_or_traceback_contains_the_key(
    home: Path, tmp_path: Path, cause: Callable[[Path, Path], None]
) -> None:
    with pytest.raises(ConfigError) as caught:
        cause(home, tmp_path)
    shown = "".join(traceback.format_exception(caught.value))
    assert str(caught.value).strip()  # says something
    assert ENV_KEY not in shown and ENV_KEY[5:-4] not in shown
    assert ENV_KEY not in repr(caught.value)
