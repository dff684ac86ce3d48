"""The gate for scripts: `main.py run --fail-on critical|warning` exits 3 (HTTP: the report's `gate`) when a
finding at or above that severity fires in this run and is not silenced, after delivering what is due."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import functions_framework
import pytest

from demo.pipeline import invoker_policy
from tests.conftest import PROJECT_ROOT, run_cli
from tests.production import PUSH_MEMBER
from tests.scenario import Scenario

T0 = "2026-11-21T23:30:00Z"
BROKEN = "phase4-to-phase5-orchestrator"


def missing_invoker() -> Scenario:
    return Scenario().policy(BROKEN, {"bindings": []})


def public_invoker() -> Scenario:
    """Only a warning: the service is also open to allUsers."""
    return Scenario().policy(BROKEN, invoker_policy(PUSH_MEMBER, "allUsers"))


def run(*args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli("run", "--now", T0, "--monitors", "orchestrator_iam", "--json", *args)
    return result.code, json.loads(result.stdout)


def test_a_critical_fails_the_gate_after_its_notice_is_delivered(local_dir: Path) -> None:
    missing_invoker().write_local(local_dir)
    code, report = run("--fail-on", "critical")
    assert code == 3
    (finding,) = report["findings"]
    assert report["gate"] == {"fail_on": "critical", "failed": True, "fingerprints": [finding["fingerprint"]]}
    assert [(n["reason"], n["delivered"]) for n in report["notifications"]] == [("first", True)]


def test_the_gate_counts_only_what_it_was_asked_for_and_without_it_nothing_changes(local_dir: Path) -> None:
    public_invoker().write_local(local_dir)
    code, report = run("--fail-on", "critical")
    assert (code, report["gate"]["failed"], report["gate"]["fingerprints"]) == (0, False, [])
    code, report = run("--fail-on", "warning")
    assert code == 3 and report["gate"]["failed"] and len(report["gate"]["fingerprints"]) == 1
    code, report = run()
    assert code == 0 and report["gate"] is None


def test_a_silenced_finding_does_not_fail_the_gate(local_dir: Path) -> None:
    missing_invoker().write_local(local_dir)
    assert run("--fail-on", "critical")[0] == 3
    silenced = run_cli("silence", "--match", "monitor=orchestrator_iam", "--for", "2h", "--reason", "deploying",
                       "--author", "ci")
    assert silenced.code == 0, silenced.stderr
    code, report = run("--fail-on", "critical")
    assert code == 0 and report["gate"] == {"fail_on": "critical", "failed": False, "fingerprints": []}
    assert report["findings"][0]["silenced_by"]  # still firing, reported, silenced


def test_the_text_summary_says_why_the_gate_failed(local_dir: Path) -> None:
    missing_invoker().write_local(local_dir)
    result = run_cli("run", "--now", T0, "--monitors", "orchestrator_iam", "--fail-on", "critical")
    assert result.code == 3
    assert "gate (--fail-on critical) FAILED: 1 unsilenced finding(s) at or above critical: " in result.stdout


def test_a_bad_fail_on_is_bad_input(local_dir: Path) -> None:
    missing_invoker().write_local(local_dir)
    result = run_cli("run", "--fail-on", "info")
    assert result.code == 2 and "--fail-on: invalid choice: 'info'" in result.stderr


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, local_dir: Path) -> Any:
    monkeypatch.setitem(sys.modules, "main", sys.modules["main"])
    missing_invoker().write_local(local_dir)
    return functions_framework.create_app(target="run_canary", source=str(PROJECT_ROOT / "main.py")).test_client()


def test_http_answers_the_gate_in_the_report(client: Any) -> None:
    response = client.post("/", json={"now": T0, "monitors": "orchestrator_iam", "fail_on": "critical"})
    assert response.status_code == 200
    report = response.get_json()
    assert report["gate"] == {"fail_on": "critical", "failed": True, "fingerprints": [report["findings"][0]["fingerprint"]]}
    passed = client.get(f"/?now={T0}&monitors=orchestrator_iam&fail_on=warning&dry_run=true").get_json()["gate"]
    assert passed["failed"] is True and passed["fail_on"] == "warning"
    assert client.post("/", json={"now": T0, "monitors": "orchestrator_iam"}).get_json()["gate"] is None


def test_http_refuses_a_bad_fail_on(client: Any) -> None:
    response = client.post("/", json={"now": T0, "fail_on": "info"})
    assert response.status_code == 400
    assert "fail_on: expected 'critical' or 'warning'" in response.get_json()["error"]
    test_alert = client.post("/", json={"action": "test_alert", "fail_on": "critical"})
    assert test_alert.status_code == 400 and "fail_on: does not apply" in test_alert.get_json()["error"]
