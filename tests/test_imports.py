"""The import graph points one way: entry points -> run -> monitors | alerts -> sources -> core.

Every import of a project package, at module level or inside a function, is read from the source with
ast; a wrong-way edge (a cycle in the making) fails here with the file and the line.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import PROJECT_ROOT

ALLOWED: dict[str, set[str]] = {
    "main": {"entry", "run", "monitors", "alerts", "sources", "core"},
    "entry": {"run", "monitors", "alerts", "sources", "core", "demo"},
    "run": {"monitors", "alerts", "sources", "core"},
    "demo": {"sources", "core"},
    "monitors": {"sources", "core"},
    "alerts": {"core"},
    "sources": {"core"},
    "core": set(),
}
PACKAGES = set(ALLOWED) - {"main"}


def project_imports(path: Path) -> list[tuple[int, str]]:
    """(line, top-level project package) for every import in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, name.split(".")[0]) for name in names if name.split(".")[0] in PACKAGES]
    return found


def layer_of(path: Path) -> str:
    relative = path.relative_to(PROJECT_ROOT)
    return "main" if relative.parts == ("main.py",) else relative.parts[0]


def test_every_import_points_down_the_layers():
    files = [PROJECT_ROOT / "main.py"] + [p for package in PACKAGES for p in (PROJECT_ROOT / package).rglob("*.py")]
    assert len(files) > 30
    wrong = [
        f"{path.relative_to(PROJECT_ROOT)}:{line}: {layer_of(path)} imports {target}"
        for path in files
        for line, target in project_imports(path)
        if target != layer_of(path) and target not in ALLOWED[layer_of(path)]
    ]
    assert wrong == []


def test_the_checker_sees_a_wrong_way_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import json\nfrom alerts.decide import decide\n\ndef f():\n    import run.steps\n", encoding="utf-8")
    assert project_imports(sample) == [(2, "alerts"), (5, "run")]
