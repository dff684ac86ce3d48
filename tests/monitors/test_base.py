"""A [pipeline] whose transitions name no service: a configuration error check-config lists, never a crash."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT, run_cli


def without_services(tmp_path: Path) -> Path:
    text = (PROJECT_ROOT / "canary.toml").read_text(encoding="utf-8")
    stripped = re.sub(r'(?m)^services? = .*\n', "", text)  # one service, or every hop of a push path
    assert stripped != text  # the shipped file does name services: the test removes them
    path = tmp_path / "canary.toml"
    path.write_text(stripped, encoding="utf-8")
    return path


def test_check_config_names_the_service_monitor_when_no_transition_names_a_service(tmp_path: Path) -> None:
    result = run_cli("check-config", str(without_services(tmp_path)))
    assert result.code == 2, result.stdout + result.stderr
    assert re.search(r"monitors\.(orchestrator_iam|push_delivery)\.services: no service to check", result.stderr), result.stderr
    assert "StopIteration" not in result.stderr


@pytest.mark.usefixtures("local_dir")
def test_a_run_on_such_a_configuration_is_bad_input_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANARY_CONFIG", str(without_services(tmp_path)))
    result = run_cli("run", "--dry-run")
    assert result.code == 2 and "no service to check" in result.stderr, result.stdout + result.stderr
    assert "StopIteration" not in result.stderr and "internal" not in result.stderr
