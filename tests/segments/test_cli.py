"""``python -m workbench segment ...`` through ``workbench.cli.main`` on the fixture warehouse."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from tests.segments.conftest import people_segment
from tests.segments.fixture_data import evaluate
from workbench.cli import main

SCORED = {"and": [{"column": "score", "op": "gte", "value": 10},
                  {"column": "seen_at", "op": "within_last_days", "value": 60}]}  # fmt: skip


@pytest.fixture
def segment_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fixture_warehouse) -> Path:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WORKBENCH_WAREHOUSE", str(fixture_warehouse[0]))
    path = tmp_path / "scored.json"
    path.write_text(json.dumps(people_segment(SCORED, name="Scored")))
    return path


def _expected(persons) -> list[int]:
    # the as-of below is noon, like the fixture's reference moment
    return [p["id"] for p in persons if evaluate(SCORED, p)]


def test_count_prints_the_count_last(segment_file, persons, capsys) -> None:
    assert main(["segment", "count", str(segment_file), "--as-of", "2026-06-30T12:00:00"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == str(len(_expected(persons)))
    assert lines[0].startswith("people where score is at least 10")


def test_sql_in_another_dialect(segment_file, capsys) -> None:
    assert main(["segment", "sql", str(segment_file), "--dialect", "postgres"]) == 0
    out = capsys.readouterr().out
    assert 'FROM "people" AS "t0" WHERE' in out and "%(p1)s" in out and '"p1": 10' in out


def test_export_writes_the_file(segment_file, persons, tmp_path, capsys) -> None:
    out = tmp_path / "members.csv"
    code = main(["segment", "export", str(segment_file), "--out", str(out),
                 "--as-of", "2026-06-30T12:00:00"])  # fmt: skip
    assert code == 0
    assert pl.read_csv(out)["id"].to_list() == _expected(persons)
    assert f"wrote {len(_expected(persons))} members" in capsys.readouterr().out


def test_invalid_document_lists_every_problem(segment_file, tmp_path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nentity: people\nfilter:\n  or:\n"
        "    - {column: shoe_size, op: eq, value: 42}\n"
        "    - {column: score, op: between, value: [5]}\n"
    )
    assert main(["segment", "validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "2 problem(s)" in err
    assert "  - filter.or[0].column: unknown column 'shoe_size'" in err
    assert "  - filter.or[1].value: expected a list of two values [low, high]" in err
    assert main(["segment", "validate", str(segment_file)]) == 0
    assert capsys.readouterr().out.startswith("valid: people where")


def test_save_list_and_use_by_name(segment_file, capsys) -> None:
    assert main(["segment", "list"]) == 0
    assert "no saved segments" in capsys.readouterr().out
    assert main(["segment", "save", str(segment_file)]) == 0
    assert "saved segment 'Scored' (version 1)" in capsys.readouterr().out
    assert main(["segment", "list"]) == 0
    assert capsys.readouterr().out.startswith("Scored  v1")
    assert main(["segment", "describe", "Scored"]) == 0
    assert "score is at least 10" in capsys.readouterr().out
    assert main(["segment", "count", "Nobody"]) == 1
    assert "neither a segment file nor a saved segment" in capsys.readouterr().err


def test_bad_as_of_is_refused(segment_file, capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["segment", "count", str(segment_file), "--as-of", "yesterday"])
    assert stopped.value.code == 2
    assert "--as-of" in capsys.readouterr().err
