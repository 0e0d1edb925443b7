"""The ``destination`` and ``activation`` commands through ``workbench.cli.main``, against a
sandbox on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from workbench import activations, cli
from workbench.destinations.sendgrid.sandbox import FULL_SCOPES, SandboxConfig, SandboxServer
from workbench.emails import normalise_emails
from workbench.segments import members
from workbench.workspace import Workspace

KEY = "SG.cli-sandbox-key"
SEGMENT = {
    "name": "se",
    "entity": "customers",
    "filter": {"column": "country", "op": "eq", "value": "SE"},
}
NOBODY = {**SEGMENT, "filter": {"column": "id", "op": "lt", "value": 0}}


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxServer]:
    """A sandbox accepting KEY."""
    config = SandboxConfig(tmp_path / "sb.sqlite", api_keys={KEY: list(FULL_SCOPES)}, seed=3)
    with SandboxServer(config) as server:
        yield server


@pytest.fixture
def env(
    workspace: Workspace, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Workspace:
    """Environment pointing the CLI at the test workspace; SE customers seeded as contacts."""
    monkeypatch.setenv("WORKBENCH_HOME", str(workspace.settings.home))
    monkeypatch.setenv("WORKBENCH_WAREHOUSE", str(workspace.settings.warehouse))
    monkeypatch.setenv("SENDGRID_API_KEY", KEY)
    monkeypatch.setenv("WORKBENCH_SYNC_POLL_S", "0.05")
    monkeypatch.chdir(tmp_path)
    workspace.store.save_segment(SEGMENT)
    valid = normalise_emails(members(workspace, SEGMENT), "email", "id").valid
    sandbox.admin.add_contacts([{"email": e} for e in valid["email"].to_list()])
    return workspace


def test_the_whole_flow_from_the_command_line(
    env: Workspace, sandbox: SandboxServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert cli.main(["destination", "create", "sg", "--host", sandbox.url]) == 0
    assert cli.main(["destination", "test", "sg"]) == 0
    assert "connected" in capsys.readouterr().out
    assert cli.main(["activation", "create", "se"]) == 0
    assert cli.main(["activation", "preview", "se"]) == 0
    preview = capsys.readouterr().out
    assert "will be on the list" in preview and "add " in preview
    assert cli.main(["activation", "run", "se"]) == 0
    assert "succeeded" in capsys.readouterr().out
    list_id = sandbox.admin.find_list("se")["id"]  # type: ignore[index]
    added = len(sandbox.admin.list_members(list_id))
    assert added > 0
    assert cli.main(["activation", "log", "1", "--out", str(tmp_path / "log.csv")]) == 0
    assert pl.read_csv(tmp_path / "log.csv").filter(pl.col("action") == "add").height == added
    assert cli.main(["activation", "reconcile", "se"]) == 0
    env.store.save_segment(NOBODY)
    assert cli.main(["activation", "run", "se"]) == 3  # empty segment: waits for approval
    assert "activation approve 2" in capsys.readouterr().out
    assert len(sandbox.admin.list_members(list_id)) == added
    assert cli.main(["activation", "approve", "2"]) == 0
    assert sandbox.admin.list_members(list_id) == set()
    assert cli.main(["activation", "runs", "se"]) == 0
    assert "succeeded" in capsys.readouterr().out


def test_failures_exit_non_zero_with_a_readable_message(
    env: Workspace, sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["destination", "create", "sg", "--host", sandbox.url]) == 0
    assert cli.main(["activation", "create", "se"]) == 0
    sandbox.admin.revoke_key(KEY)
    assert cli.main(["destination", "test", "sg"]) == 1
    assert cli.main(["activation", "run", "se"]) == 1
    out = capsys.readouterr()
    assert "rejected" in out.out and KEY not in out.out + out.err
    assert cli.main(["activation", "preview", "nope"]) == 1
    assert "no saved activation named 'nope'" in capsys.readouterr().err


def test_the_entity_email_column_overrides_a_destination_default_column(
    env: Workspace, sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    host = ["--host", sandbox.url]
    assert cli.main(["destination", "create", "sg", *host, "--email-column", "city"]) == 0
    assert cli.main(["activation", "create", "se", "--name", "by-city"]) == 0
    assert cli.main(["activation", "create", "se", "--entity-email-column"]) == 0
    assert activations.preview(env, "by-city").counts["to_add"] == 0  # cities are no emails
    assert cli.main(["activation", "run", "se"]) == 0
    list_id = activations.get_activation(env, "se").list_id
    assert list_id is not None and sandbox.admin.list_members(list_id) == set(
        normalise_emails(members(env, SEGMENT), "email", "id").valid["email"].to_list()
    )
    assert cli.main(["activation", "create", "se", "--name", "x", "--email-column", "mail"]) == 1
    assert "no column 'mail'" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # one or the other, not both
        cli.main(["activation", "create", "se", "--email-column", "city", "--entity-email-column"])


def test_discard_and_delete_from_the_command_line(
    env: Workspace, sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["destination", "create", "sg", "--host", sandbox.url]) == 0
    assert cli.main(["activation", "create", "se"]) == 0
    assert cli.main(["activation", "run", "se"]) == 0
    list_id = activations.get_activation(env, "se").list_id
    added = sandbox.admin.list_members(str(list_id))
    env.store.save_segment(NOBODY)
    assert cli.main(["activation", "run", "se"]) == 3  # would empty the list: waits
    assert cli.main(["activation", "discard", "2"]) == 0
    assert "run 2 of se discarded: nothing was sent" in capsys.readouterr().out
    assert cli.main(["activation", "approve", "2"]) == 1  # nothing left to approve
    assert "run 2 is discarded" in capsys.readouterr().err
    assert sandbox.admin.list_members(str(list_id)) == added
    assert cli.main(["activation", "delete", "se"]) == 0
    assert "activation se deleted" in capsys.readouterr().out
    assert cli.main(["activation", "list"]) == 0
    assert capsys.readouterr().out == ""  # no activation left
    assert [r.status for r in activations.list_runs(env, "se")] == ["discarded", "succeeded"]
    assert sandbox.admin.list_members(str(list_id)) == added  # the list is kept
