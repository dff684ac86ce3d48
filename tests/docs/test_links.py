"""Every link between the docs lands: the file exists and, with a '#', one of its headings has that anchor."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs.test_runbook import github_anchors

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def links() -> list[tuple[str, str]]:
    return [
        (doc.relative_to(ROOT).as_posix(), target)
        for doc in DOCS
        for target in LINK.findall(doc.read_text(encoding="utf-8"))
        if not target.startswith(("http://", "https://", "mailto:"))
    ]


def test_the_docs_link_each_other() -> None:
    assert len(links()) > 20


@pytest.mark.parametrize("doc, target", links())
def test_a_link_lands_on_a_file_and_heading(doc: str, target: str) -> None:
    path, _, anchor = target.partition("#")
    file = (ROOT / doc).parent / path if path else ROOT / doc
    assert file.exists(), f"{doc}: link to {target}: no file {file.relative_to(ROOT)}"
    if anchor:
        assert anchor in github_anchors(file.read_text(encoding="utf-8")), f"{doc}: link to {target}: no such heading"
