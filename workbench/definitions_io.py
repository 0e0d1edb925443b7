"""Definition files: reading YAML/JSON documents, and exporting the store as stable files.

``export_definitions(ws, out_dir)`` writes one file per object, ``segments/<slug>.yaml``,
``destinations/<slug>.yaml`` and ``activations/<slug>.yaml``: sorted keys, a trailing newline,
schedules in their short text form, and nothing that changes by itself (no timestamps, run
ids, list ids or segment versions), so the folder diffs cleanly in git and applying it to
another home recreates the same objects. Files of those folders that no longer match a saved
object are removed, so a deleted object does not come back on the next apply.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from workbench.definitions import Document, normal_overrides, normal_segment
from workbench.errors import Problem
from workbench.workspace import Workspace

FOLDERS = {"segment": "segments", "destination": "destinations", "activation": "activations"}
SUFFIXES = (".yaml", ".yml", ".json")


def read_documents(paths: Iterable[Path]) -> tuple[list[Document], list[Problem]]:
    """The documents of every file (a folder means its files), and every reading problem."""
    docs: list[Document] = []
    problems: list[Problem] = []
    for path in _expand(Path(p) for p in paths):
        try:
            items = _parse(path)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            problems.append(Problem(str(path), _reading_problem(exc)))
            continue
        docs += [
            Document(f"{path}[{i}]" if len(items) > 1 else str(path), item)
            for i, item in enumerate(items)
        ]
    return docs, problems


def _expand(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES)
        else:
            files.append(path)
    return files


def _parse(path: Path) -> list[Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        loaded: list[Any] = [json.loads(text)]
    else:
        loaded = [d for d in yaml.safe_load_all(text) if d is not None]
    items: list[Any] = []
    for item in loaded:
        items += item if isinstance(item, list) else [item]
    return items


def _reading_problem(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return f"cannot read the file: {exc.strerror or exc}"
    where = getattr(exc, "problem_mark", None)
    line = getattr(exc, "lineno", None) or (where.line + 1 if where is not None else None)
    kind = "JSON" if isinstance(exc, json.JSONDecodeError) else "YAML"
    return f"not valid {kind}" + (f" (line {line})" if line else "")


def slug(name: str) -> str:
    """A file name for an object name: lower case, runs of other characters become ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unnamed"


def file_names(names: Sequence[str]) -> dict[str, str]:
    """A distinct, stable file stem per name (a short hash tells colliding slugs apart)."""
    counts: dict[str, int] = {}
    for name in names:
        counts[slug(name)] = counts.get(slug(name), 0) + 1
    return {
        n: slug(n)
        if counts[slug(n)] == 1
        else f"{slug(n)}-{hashlib.sha1(n.encode()).hexdigest()[:6]}"
        for n in names
    }


def dump(doc: dict[str, Any]) -> str:
    """A document as YAML: sorted keys, block style, unicode kept, a trailing newline."""
    return yaml.safe_dump(doc, sort_keys=True, allow_unicode=True, default_flow_style=False)


def segment_documents(ws: Workspace) -> list[dict[str, Any]]:
    """Every saved segment as a definition document."""
    return [
        {"kind": "segment", **normal_segment(ws.store.get_segment(info.name))}
        for info in ws.store.list_segments()
    ]


def destination_documents(ws: Workspace) -> list[dict[str, Any]]:
    """Every saved destination as a definition document (never a key: none is stored)."""
    docs = []
    for saved in ws.store.list_destinations():
        defaults = dict(saved.config.get("defaults") or {})
        if defaults.get("schedule") is not None:
            defaults["schedule"] = normal_overrides({"schedule": defaults["schedule"]})["schedule"]
        docs.append(
            {
                "kind": "destination",
                "name": saved.name,
                "host": saved.config["host"],
                "region": saved.config.get("region") or "global",
                "defaults": defaults,
            }
        )
    return docs


def activation_documents(ws: Workspace) -> list[dict[str, Any]]:
    """Every saved activation as a definition document (without its list id)."""
    docs = []
    for saved in ws.store.list_activations():
        config = saved.config
        doc = {
            "kind": "activation",
            "name": saved.name,
            "segment": config["segment"],
            "destination": config["destination"],
        }
        if config.get("adopt_existing_list"):
            doc["adopt_existing_list"] = True
        docs.append({**doc, **normal_overrides(config.get("overrides") or {})})
    return docs


def export_definitions(ws: Workspace, out_dir: Path) -> list[Path]:
    """Write every segment, destination and activation to ``out_dir``; the files written."""
    written: list[Path] = []
    for kind, docs in (
        ("segment", segment_documents(ws)),
        ("destination", destination_documents(ws)),
        ("activation", activation_documents(ws)),
    ):
        folder = Path(out_dir) / FOLDERS[kind]
        folder.mkdir(parents=True, exist_ok=True)
        stems = file_names([d["name"] for d in docs])
        paths = [folder / f"{stems[d['name']]}.yaml" for d in docs]
        for path, doc in zip(paths, docs, strict=True):
            if not path.exists() or path.read_text(encoding="utf-8") != dump(doc):
                path.write_text(dump(doc), encoding="utf-8")
        for stale in set(folder.glob("*.yaml")) - set(paths):
            stale.unlink()
        written += paths
    return written
