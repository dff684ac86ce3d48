"""Every runbook link an alert can carry lands on a heading of docs/runbook.md, anchored as GitHub renders it.

The (monitor, problem) pairs come from the code: each registered monitor's declared `problems`, the canary's
own `CANARY_PROBLEMS` and the test alert; a scan of the source holds those declarations to what the code emits.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from alerts.links import LinkContext, runbook_url
from core.model import CANARY_MONITOR, CANARY_PROBLEMS
from monitors.registry import MONITORS
from run.synthetic import TEST_MONITOR, synthetic_finding
from tests.production import CONFIG

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "runbook.md"
FENCE = re.compile(r"^\s*(```|~~~)")


def github_anchors(markdown: str) -> list[str]:
    """The anchors GitHub gives a file's headings: lowercase; punctuation other than '-' and '_' dropped;
    spaces to '-'; a repeated anchor gets -1, -2, ... (headings inside fenced code are not headings)."""
    anchors: list[str] = []
    seen: dict[str, int] = {}
    in_fence = False
    for line in markdown.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        match = re.match(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if in_fence or not match:
            continue
        text = re.sub(r"<[^>]+>", "", match.group(1)).strip().lower()
        slug = "".join(ch for ch in text if ch.isalnum() or ch in "-_ ").replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.append(slug if count == 0 else f"{slug}-{count}")
    return anchors


def test_anchors_are_computed_as_github_renders_them() -> None:
    text = "# A Title\n## orchestrator_iam: missing_invoker\n## A Title\n```\n# not a heading\n```\n### What's `new`? (v2)\n## A Title\n"
    assert github_anchors(text) == ["a-title", "orchestrator_iam-missing_invoker", "a-title-1", "whats-new-v2", "a-title-2"]


def linkable() -> list[tuple[str, str]]:
    """Every (monitor, problem) an alert can carry, from the code."""
    pairs = [(name, problem) for name, spec in MONITORS.items() for problem in spec.problems]
    pairs += [(CANARY_MONITOR, problem) for problem in CANARY_PROBLEMS]
    test = synthetic_finding(run_id="r", now=__import__("datetime").datetime(2026, 11, 21))
    pairs.append((TEST_MONITOR, test.key["problem"]))
    return pairs


@pytest.mark.parametrize("monitor, problem", linkable())
def test_every_runbook_link_an_alert_can_carry_exists_in_docs_runbook(monitor: str, problem: str) -> None:
    url = runbook_url(LinkContext(pipeline=CONFIG.pipeline, links=CONFIG.links), monitor, problem)
    base, anchor = url.split("#", 1)
    assert base == CONFIG.links.runbook and base.endswith("/docs/runbook.md")
    anchors = github_anchors(RUNBOOK.read_text(encoding="utf-8"))
    assert anchor in anchors, f"docs/runbook.md has no heading '{monitor}: {problem}' (anchor #{anchor})"
    assert anchors.count(anchor) == 1


def test_every_monitor_has_its_section_and_declares_problems() -> None:
    anchors = github_anchors(RUNBOOK.read_text(encoding="utf-8"))
    for name, spec in MONITORS.items():
        assert spec.problems, f"{name}: declare its problems in its SPEC"
        assert name in anchors, f"docs/runbook.md has no section '## {name}'"


@pytest.mark.parametrize("monitor, problem", linkable())
def test_every_problem_entry_says_what_it_means_what_to_run_and_what_not_to(monitor: str, problem: str) -> None:
    text = RUNBOOK.read_text(encoding="utf-8")
    entry = text.split(f"\n### {monitor}: {problem}\n", 1)[1].split("\n#", 1)[0]
    for part in ("**Means**", "**Run**", "**Do not**"):
        assert part in entry, f"docs/runbook.md, {monitor}: {problem}: no {part}"


def _problem_literals(tree: ast.AST) -> set[str]:
    """Problems a module writes as literals: {"problem": "x"}, problem = "x", problem, severity = "x", ...,
    and the first argument of a local helper whose first parameter is `problem`."""
    helpers = {
        node.name for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.args.args and node.args.args[0].arg == "problem"
    }
    found: set[str] = set()

    def constant(node: ast.AST) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)

    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "problem":
                    constant(value)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id == "problem":
                    constant(node.value)
                elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    for element, value in zip(target.elts, node.value.elts):
                        if isinstance(element, ast.Name) and element.id == "problem":
                            constant(value)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in helpers:
            if node.args:
                constant(node.args[0])
            for keyword in node.keywords:
                if keyword.arg == "problem":
                    constant(keyword.value)
    return found


@pytest.mark.parametrize("name", sorted(MONITORS))
def test_a_monitor_declares_exactly_the_problems_its_module_emits(name: str) -> None:
    spec = MONITORS[name]
    module = importlib.import_module(spec.check.__module__)
    emitted = _problem_literals(ast.parse(Path(module.__file__).read_text(encoding="utf-8")))
    assert emitted == set(spec.problems), f"{name}: emits {sorted(emitted)}, declares {sorted(spec.problems)}"


def test_the_canary_declares_every_problem_its_degraded_findings_carry() -> None:
    """Outside monitors/, a literal problem is a "canary degraded" finding's (or the test alert's)."""
    emitted: set[str] = set()
    packages = [p for p in ROOT.iterdir() if (p / "__init__.py").exists() and p.name not in ("monitors", "tests", "demo", "bench")]
    assert packages
    for path in (path for package in packages for path in package.rglob("*.py")):
        emitted |= _problem_literals(ast.parse(path.read_text(encoding="utf-8")))
    assert emitted - {"synthetic"} == set(CANARY_PROBLEMS)
