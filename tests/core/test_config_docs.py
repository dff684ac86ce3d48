"""docs/configuration.md has a row for every key of every configuration model, in that table's section:
the top level, each [table], each [[list of tables]], each [monitors.<name>], and the environment settings."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from core.config import CanaryConfig, Settings
from monitors.registry import MONITORS

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def sections(markdown: str) -> dict[str, str]:
    """Heading text (without '#' and backticks) -> the text under it, up to the next heading."""
    found: dict[str, str] = {}
    parts = re.split(r"^#{1,6} +(.+)$", markdown, flags=re.M)
    for title, body in zip(parts[1::2], parts[2::2]):
        found[title.replace("`", "").strip()] = body
    return found


def documented(body: str) -> set[str]:
    """The keys of a section: every `code` in the first cell of its table's rows."""
    keys: set[str] = set()
    for row in re.findall(r"^\|([^|\n]+)\|", body, flags=re.M):
        keys |= set(re.findall(r"`([^`]+)`", row))
    return keys


def _model_of(annotation: object) -> tuple[type[BaseModel] | None, bool]:
    """(the model a field holds, whether it is a list of them)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        if isinstance(item, type) and issubclass(item, BaseModel):
            return item, True
    return None, False


def key_of(name: str, field: typing.Any) -> str:
    return field.alias or name


def expected() -> dict[str, set[str]]:
    """Section title -> the keys it must document, walked from the models."""
    wanted: dict[str, set[str]] = {}

    def table(title: str, model: type[BaseModel], prefix: str = "") -> None:
        for name, field in model.model_fields.items():
            key = key_of(name, field)
            wanted.setdefault(title, set()).add(prefix + key)
            nested, is_list = _model_of(field.annotation)
            if nested is None:
                continue
            if is_list:
                table(f"[[{title.strip('[]')}.{key}]]", nested)
            elif title == "Top level":
                table(f"[{key}]", nested)
            else:
                table(title, nested, prefix=f"{prefix}{key}.")

    table("Top level", CanaryConfig)
    for name, spec in MONITORS.items():
        table(f"[monitors.{name}]", spec.config_model)
    wanted["Environment settings"] = {
        (field.validation_alias if isinstance(field.validation_alias, str) else f"CANARY_{name.upper()}")
        for name, field in Settings.model_fields.items()
    }
    return wanted


@pytest.mark.parametrize("title", sorted(expected()))
def test_every_key_has_its_row_in_its_section(title: str) -> None:
    found = sections(DOC.read_text(encoding="utf-8"))
    assert title in found, f"docs/configuration.md has no section '## {title}'"
    missing = expected()[title] - documented(found[title])
    assert not missing, f"docs/configuration.md, section {title}: no row for {sorted(missing)}"


def test_every_row_says_default_and_required() -> None:
    for title, body in sections(DOC.read_text(encoding="utf-8")).items():
        header = next((line for line in body.splitlines() if line.startswith("| key") or line.startswith("| variable")), None)
        if header:
            assert [c.strip() for c in header.strip("|").split("|")][1:] == ["meaning", "default", "required", "example"], title
            for row in re.findall(r"^\|(?! ?-)(?! key)(?! variable).*\|$", body, flags=re.M):
                assert row.count("|") - row.count("\\|") >= 6, (title, row)


def test_a_key_the_models_do_not_have_fails_the_walk() -> None:
    assert "member" in expected()["[monitors.orchestrator_iam]"]
    assert {"from", "to", "max_delay"} <= expected()["[[pipeline.transitions]]"]
    assert "repeat_after.critical" in expected()["[alerts]"]
    assert "FIRESTORE_EMULATOR_HOST" in expected()["Environment settings"]
