"""An escalated incident acknowledged in the CLI or by a signed Slack click: the next run sends PagerDuty's
`acknowledge` for its dedup_key, once; an acknowledged incident is never paged; `incidents` shows the escalation."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import functions_framework
import pytest

from tests.conftest import PROJECT_ROOT, run_cli
from tests.entry.test_cli_escalation import uncommented_escalation
from tests.servers.fake_pagerduty import ROUTING_KEY, FakePagerDuty, fake_pagerduty  # noqa: F401  (fixture)
from tests.servers.fake_slack import SIGNING_SECRET, signed_click


@pytest.fixture
def paged(local_dir: Path, tmp_path: Path, fake_pagerduty: FakePagerDuty, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The demo with [escalation] after = "0m": its run pages the cause (the missing invoker) at once."""
    config = uncommented_escalation(tmp_path / "escalating.toml")
    config.write_text(config.read_text().replace('after = "30m"', 'after = "0m"'))
    for name, value in {"CANARY_CONFIG": str(config), "CANARY_PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
                        "CANARY_PAGERDUTY_URL": fake_pagerduty.endpoint, "CANARY_ALLOW_TEST_ENDPOINTS": "1",
                        "CANARY_SLACK_SIGNING_SECRET": SIGNING_SECRET}.items():
        monkeypatch.setenv(name, value)
    demo = run_cli("demo", "--history-days", "0", "--json")
    assert demo.code == 0, demo.stderr
    report = json.loads(demo.stdout)
    cause = next(f["fingerprint"] for f in report["findings"] if f["monitor"] == "orchestrator_iam")
    # The cause pages (so may the demo's other incident, its paused backup job: not this test's concern).
    assert fake_pagerduty.actions(cause) == ["trigger"]
    return {"now": report["now"], "cause": cause}


def run_at(now: str) -> dict[str, Any]:
    result = run_cli("run", "--now", now, "--json")
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def escalations(report: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return [(n["fingerprint"], n["event"], n["delivered"]) for n in report["notifications"] if n["reason"] == "escalation"]


def test_the_incidents_listing_shows_when_and_to_whom_it_escalated(paged: dict[str, Any]) -> None:
    listed = json.loads(run_cli("incidents", "--json").stdout)["incidents"]
    (cause,) = [i for i in listed if i["fingerprint"] == paged["cause"]]
    assert cause["escalated_to"] == ["<!subteam^S123>", "pagerduty"] and cause["escalated_at"]
    assert all(i["monitor"] != "escalation" for i in listed)  # the escalation records are not incidents
    effects = [i for i in listed if i["caused_by"] == paged["cause"]]
    assert effects and all(i["escalated_at"] is None for i in effects)  # its effects never page
    text = run_cli("incidents").stdout
    assert "    escalated at " in text and " to <!subteam^S123>, pagerduty" in text


def test_a_cli_ack_acknowledges_the_page_at_the_next_run(paged: dict[str, Any], fake_pagerduty: FakePagerDuty) -> None:
    acked = run_cli("ack", paged["cause"][:8], "--by", "ana")
    assert acked.code == 0, acked.stderr
    report = run_at(paged["now"])
    assert (paged["cause"], "acknowledge", True) in escalations(report)
    assert fake_pagerduty.actions(paged["cause"]) == ["trigger", "acknowledge"]
    assert [e for e in escalations(run_at(paged["now"])) if e[0] == paged["cause"]] == []  # once


def test_a_signed_slack_click_acknowledges_the_page_at_the_next_run(
    paged: dict[str, Any], fake_pagerduty: FakePagerDuty, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "main", sys.modules["main"])  # create_app loads main.py afresh
    app = functions_framework.create_app(target="slack_actions", source=str(PROJECT_ROOT / "main.py")).test_client()
    body, headers = signed_click(action_id="ack", value=paged["cause"], timestamp=int(time.time()))
    answer = app.post("/", data=body, headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    report = run_at(paged["now"])
    assert (paged["cause"], "acknowledge", True) in escalations(report)
    assert fake_pagerduty.actions(paged["cause"]) == ["trigger", "acknowledge"]


def test_an_acknowledged_incident_is_never_paged(local_dir: Path, tmp_path: Path, fake_pagerduty: FakePagerDuty,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    config = uncommented_escalation(tmp_path / "escalating.toml")  # after = "30m"
    for name, value in {"CANARY_CONFIG": str(config), "CANARY_PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
                        "CANARY_PAGERDUTY_URL": fake_pagerduty.endpoint, "CANARY_ALLOW_TEST_ENDPOINTS": "1"}.items():
        monkeypatch.setenv(name, value)
    demo = json.loads(run_cli("demo", "--history-days", "0", "--json").stdout)
    cause = next(f["fingerprint"] for f in demo["findings"] if f["monitor"] == "orchestrator_iam")
    assert run_cli("ack", cause, "--by", "ana").code == 0
    later = (datetime.fromisoformat(demo["now"].replace("Z", "+00:00")) + timedelta(minutes=45)).isoformat()
    report = run_at(later)
    assert fake_pagerduty.actions(cause) == []  # 45 minutes on: acknowledged, so not paged
    assert run_cli("unack", cause, "--by", "ana").code == 0
    assert (cause, "trigger", True) in escalations(run_at(later))  # the same moment, unacknowledged: paged
    assert fake_pagerduty.actions(cause) == ["trigger"]
