"""Definitions as code: apply YAML/JSON files into a real state store, export them back,
round trips between homes, idempotence, all-or-nothing validation and the CLI's exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from workbench import activations, cli
from workbench.config import Settings
from workbench.definitions import DefinitionsInvalid, apply_documents, as_documents
from workbench.definitions_io import export_definitions, read_documents
from workbench.workspace import Workspace

DEFINITIONS = """\
kind: segment
name: Swedes
entity: customers
description: customers in Sweden
filter: {column: country, op: eq, value: SE}
---
- kind: segment
  name: Swedes, again
  entity: customers
  filter: {in_segment: Swedes}
- kind: destination
  name: sendgrid
  host: http://127.0.0.1:9
  defaults: {schedule: daily 06:30, list_name: "wb {segment}"}
---
kind: activation
name: Swedes to SendGrid
segment: Swedes
destination: sendgrid
schedule: every 6h
guards: {max_remove_fraction: 0.5}
"""
KEY = "SG.abcdefghijklmnopqrstuv.fake-abcdefghij"


@pytest.fixture
def ws(workspace: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Workspace:
    """A workspace with no key in the environment, in an empty working folder."""
    monkeypatch.delenv("SENDGRID_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    return workspace


@pytest.fixture
def other_ws(settings: Settings, tmp_path: Path) -> Iterator[Workspace]:
    """A second, empty home over the same warehouse."""
    other = Workspace(Settings(home=tmp_path / "other-home", warehouse=settings.warehouse))
    yield other
    other.close()


def write(folder: Path, name: str, text: str) -> Path:
    """Write a definitions file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def apply_files(ws: Workspace, *paths: Path) -> list[tuple[str, str, str]]:
    """Apply files; (action, kind, name) per object."""
    docs, problems = read_documents(paths)
    assert problems == []
    return [(c.action, c.kind, c.name) for c in apply_documents(ws, docs).changes]


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` by relative path, with its text."""
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*.yaml"))}


def test_apply_creates_then_changes_nothing_the_second_time(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "defs", "all.yaml", DEFINITIONS)
    first = apply_files(ws, path)
    assert first == [
        ("created", "segment", "Swedes"), ("created", "segment", "Swedes, again"),
        ("created", "destination", "sendgrid"), ("created", "activation", "Swedes to SendGrid"),
    ]  # fmt: skip
    assert [a for a, _, _ in apply_files(ws, path)] == ["unchanged"] * 4
    assert [v.version for v in ws.store.segment_versions("Swedes")] == [1]
    made = activations.get_activation(ws, "Swedes to SendGrid")
    settings = made.settings(activations.get_destination(ws, "sendgrid"))
    assert (str(settings.schedule), settings.list_name) == ("every 6h", "wb {segment}")
    assert settings.guards.max_remove_fraction == 0.5


def test_an_update_makes_one_new_version_and_keeps_the_activations_list(
    ws: Workspace, tmp_path: Path
) -> None:
    apply_files(ws, write(tmp_path / "defs", "all.yaml", DEFINITIONS))
    config = ws.store.get_activation("Swedes to SendGrid")
    ws.store.save_activation(
        "Swedes to SendGrid", {**config, "list_id": "L1", "created_by_us": True}
    )
    changed = DEFINITIONS.replace("value: SE", "value: DK").replace("every 6h", "every 2h")
    result = apply_files(ws, write(tmp_path / "defs", "all.yaml", changed))
    assert [a for a, _, _ in result] == ["updated", "unchanged", "unchanged", "updated"]
    assert [v.version for v in ws.store.segment_versions("Swedes")] == [1, 2]
    kept = activations.get_activation(ws, "Swedes to SendGrid")
    assert (kept.list_id, kept.created_by_us, kept.overrides["schedule"]) == (
        "L1",
        True,
        "every 2h",
    )


def test_export_then_apply_elsewhere_then_export_gives_identical_files(
    ws: Workspace, other_ws: Workspace, tmp_path: Path
) -> None:
    apply_files(ws, write(tmp_path / "defs", "all.yaml", DEFINITIONS))
    activations.activate(ws, "Swedes", "sendgrid", name="made in the app", mode="mirror")
    first = export_definitions(ws, tmp_path / "out1")
    assert sorted(p.relative_to(tmp_path / "out1").as_posix() for p in first) == [
        "activations/made-in-the-app.yaml", "activations/swedes-to-sendgrid.yaml",
        "destinations/sendgrid.yaml", "segments/swedes-again.yaml", "segments/swedes.yaml",
    ]  # fmt: skip
    exported = tree(tmp_path / "out1")
    assert all(text.endswith("\n") for text in exported.values())
    assert exported["activations/swedes-to-sendgrid.yaml"] == (
        "destination: sendgrid\nguards:\n  max_remove_fraction: 0.5\nkind: activation\n"
        "name: Swedes to SendGrid\nschedule: every 6h\nsegment: Swedes\n"
    )
    assert "daily 06:30" in exported["destinations/sendgrid.yaml"]
    assert [a for a, _, _ in apply_files(other_ws, tmp_path / "out1")] == ["created"] * 5
    export_definitions(other_ws, tmp_path / "out2")
    assert tree(tmp_path / "out2") == exported
    assert [a for a, _, _ in apply_files(other_ws, tmp_path / "out2")] == ["unchanged"] * 5


def test_json_files_apply_like_yaml_and_deleted_objects_leave_the_export(
    ws: Workspace, other_ws: Workspace, tmp_path: Path
) -> None:
    docs, _ = read_documents([write(tmp_path / "defs", "all.yaml", DEFINITIONS)])
    as_json = write(tmp_path / "json", "all.json", json.dumps([d.body for d in docs], indent=2))
    apply_files(ws, tmp_path / "defs")
    apply_files(other_ws, as_json)
    export_definitions(ws, tmp_path / "a")
    export_definitions(other_ws, tmp_path / "b")
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    ws.store.delete_segment("Swedes, again")
    export_definitions(ws, tmp_path / "a")
    assert "segments/swedes-again.yaml" not in tree(tmp_path / "a")


BROKEN = [
    {"kind": "segment", "name": "ok", "entity": "customers",
     "filter": {"column": "country", "op": "eq", "value": "SE"}},
    {"kind": "segment", "name": "bad", "entity": "customers",
     "filter": {"and": [{"column": "nope", "op": "eq", "value": 1},
                        {"in_segment": "missing"}]}},
    {"kind": "destination", "name": "keyed", "host": "http://127.0.0.1:9", "api_key": KEY},
    {"kind": "activation", "name": "act", "segment": "ghost", "destination": "nowhere"},
    {"kind": "activation", "name": "act2", "segment": "ok", "destination": "keyed",
     "schedule": "sometimes"},
    {"kind": "widget", "name": "w"},
]  # fmt: skip


def test_a_broken_set_lists_every_problem_and_applies_nothing(ws: Workspace) -> None:
    with pytest.raises(DefinitionsInvalid) as caught:
        apply_documents(ws, as_documents(BROKEN, "defs.yaml"))
    text = str(caught.value)
    assert "nothing applied" in text and KEY not in text
    for expected in (
        "defs.yaml[1] (segment 'bad'): filter.and[0].column",
        "defs.yaml[1] (segment 'bad'): filter.and[1].in_segment",
        "defs.yaml[2]: refusing api_key", "SENDGRID_API_KEY",
        "(activation 'act'): segment: no segment 'ghost'",
        "(activation 'act'): destination: no destination 'nowhere'",
        "(activation 'act2')", "invalid schedule",
        "defs.yaml[5]: kind: required, one of segment, destination, activation",
    ):  # fmt: skip
        assert expected in text
    assert ws.store.list_segments() == [] and ws.store.list_activations() == []


@pytest.fixture
def main(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> Callable[[list[str]], int]:
    """``python -m workbench`` with the apply/export commands, against the test's home."""
    monkeypatch.setenv("WORKBENCH_HOME", str(ws.settings.home))
    monkeypatch.setenv("WORKBENCH_WAREHOUSE", str(ws.settings.warehouse))
    if "workbench.definitions_cli" not in cli.COMMAND_MODULES:
        monkeypatch.setattr(
            cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "workbench.definitions_cli")
        )
    return cli.main


def test_cli_exit_codes(
    main: Callable[[list[str]], int],
    ws: Workspace,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good = write(tmp_path / "defs", "all.yaml", DEFINITIONS)
    bad = write(tmp_path / "bad", "bad.json", json.dumps(BROKEN))
    assert main(["apply", str(good), str(bad)]) == 1
    assert "bad.json[3] (activation 'act')" in capsys.readouterr().err
    assert ws.store.list_segments() == []
    assert main(["apply", str(tmp_path / "missing.yaml")]) == 1
    assert "cannot read the file" in capsys.readouterr().err
    assert main(["apply", "--check", str(good)]) == 0 and ws.store.list_segments() == []
    assert main(["apply", str(good)]) == 0
    assert "created activation 'Swedes to SendGrid'" in capsys.readouterr().out
    assert main(["export", "--out", str(tmp_path / "out")]) == 0
    assert len(tree(tmp_path / "out")) == 4
