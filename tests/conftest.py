"""Shared fixtures: an isolated environment and a local canary folder per test."""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import main

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No CANARY_* or emulator variable leaks in from the machine; every test gets its own local folder."""
    for name in list(os.environ):
        if name.startswith("CANARY_") or name in ("FIRESTORE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS"):
            monkeypatch.delenv(name, raising=False)
    local_dir = tmp_path / "canary"
    monkeypatch.setenv("CANARY_LOCAL_DIR", str(local_dir))
    monkeypatch.setenv("CANARY_CONFIG", str(write_config_without_digest(tmp_path)))
    return local_dir


def write_config_without_digest(folder: Path) -> Path:
    """canary.toml with the daily digest off: the alert tests count alerts; tests/run/test_digest.py turns it on."""
    text = (PROJECT_ROOT / "canary.toml").read_text(encoding="utf-8")
    assert text.count("\nenabled = true\nat = ") == 1, "canary.toml's [digest] table changed: update this fixture"
    path = folder / "canary-no-digest.toml"
    path.write_text(text.replace("\nenabled = true\nat = ", "\nenabled = false\nat = "), encoding="utf-8")
    return path


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def report(self) -> dict[str, Any]:
        return json.loads(self.stdout)


def run_cli(*args: str) -> CliResult:
    out, err = io.StringIO(), io.StringIO()
    code = main.cli(list(args), stdout=out, stderr=err)
    return CliResult(code=code, stdout=out.getvalue(), stderr=err.getvalue())


@pytest.fixture
def local_dir(isolated_env: Path) -> Path:
    return isolated_env
