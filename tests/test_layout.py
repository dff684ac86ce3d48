"""Tests mirror the code: tests/<package>/test_<module>[_<aspect>].py, plus the named cross-cutting suites."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import PROJECT_ROOT

TESTS = PROJECT_ROOT / "tests"
PACKAGES = ("alerts", "core", "demo", "entry", "monitors", "run", "sources")
CROSS_CUTTING = {
    "test_cold_start.py": "what importing main.py costs",
    "test_deploy.py": "deploy.sh",
    "test_docs.py": "README.md and docs/: links between them, and every demo figure they quote",
    "test_fault_matrix.py": "each external source x each fault",
    "test_hostile_input.py": "hostile data and requests, end to end",
    "test_imports.py": "the import graph",
    "test_layout.py": "this file",
    "test_operator_mistakes.py": "an operator's mistakes, end to end",
    "test_properties.py": "property tests and the HTTP fuzz",
    "test_scenarios_both_backends.py": "scenarios on the local and the gcp backend",
    "test_scenarios_concurrent_runs.py": "runs at once, and runs killed mid-delivery",
}
"""Suites about the whole product rather than one module: the only test files at the top of tests/."""
ABOUT_SEVERAL_MODULES = {"monitors/test_partition_filters.py", "monitors/test_rules_local.py"}
"""Files about a whole package (every monitor's queries, every monitor's rules through the CLI)."""


def misplaced(tests: Path) -> list[str]:
    problems = []
    for path in sorted(tests.rglob("test_*.py")):
        relative = path.relative_to(tests)
        if relative.parts[0] == "servers":
            problems.append(f"{relative}: tests/servers/ holds local servers, not tests")
        elif len(relative.parts) == 1:
            if relative.name not in CROSS_CUTTING:
                problems.append(f"{relative}: a top-level test file must be a named cross-cutting suite")
        elif len(relative.parts) != 2 or relative.parts[0] not in PACKAGES:
            problems.append(f"{relative}: not tests/<package>/test_<module>.py for a package of {PACKAGES}")
        elif relative.as_posix() not in ABOUT_SEVERAL_MODULES:
            stem = relative.stem.removeprefix("test_")
            package = PROJECT_ROOT / relative.parts[0]
            modules = {p.stem for p in package.glob("*.py")} - {"__init__"}
            if not any(stem == m or stem.startswith(m + "_") for m in modules):
                problems.append(f"{relative}: names no module of {relative.parts[0]}/")
    return problems


def test_every_test_file_is_beside_the_name_of_what_it_tests() -> None:
    assert misplaced(TESTS) == []


def test_the_layout_check_catches_a_misplaced_file(tmp_path: Path) -> None:
    (tmp_path / "alerts").mkdir()
    (tmp_path / "alerts" / "test_nothing_here.py").write_text("")
    (tmp_path / "test_loose.py").write_text("")
    assert [p.split(":")[0] for p in misplaced(tmp_path)] == ["alerts/test_nothing_here.py", "test_loose.py"]
