"""`main.py test-alert`: a marked synthetic alert through the real delivery path, then its resolution."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from alerts.slack import SlackNotifier
from alerts.sqlite_state import SqliteStateStore
from entry.cli import cli_test_alert
from run.synthetic import TEST_MONITOR, send_test_alert
from tests.production import CONFIG
from run.steps import Canary
from monitors.base import Sources
from tests.conftest import run_cli
from tests.servers.fake_slack import TOKEN, FakeSlack, Fault, fake_slack  # noqa: F401  (fixture)
from tests.slack_cases import NOW


def slack_canary(fake: FakeSlack, tmp_path: Path, *, token: str = TOKEN) -> Canary:
    config = CONFIG
    return Canary(
        config=config,
        sources=Sources(warehouse=None, iam=None, push=None),  # type: ignore[arg-type]  (a test alert reads no source)
        store=SqliteStateStore(path=tmp_path / "state.sqlite3"),
        notifier=SlackNotifier(
            token=SecretStr(token), base_url=fake.base_url, channel_for=config.slack.channel_for, sleep=lambda _: None
        ),
    )


def test_the_test_alert_is_posted_marked_then_resolved_in_its_thread(fake_slack: FakeSlack, tmp_path: Path) -> None:
    canary = slack_canary(fake_slack, tmp_path)
    result = send_test_alert(canary, run_id="abc123", now=NOW)
    [parent] = fake_slack.parents()
    [reply] = fake_slack.replies(parent.ts)
    assert [r.method for r in fake_slack.requests] == ["chat.postMessage", "chat.postMessage", "chat.update"]
    assert fake_slack.requests[0].body["channel"] == "#nba-pipeline-alerts"
    assert reply.text.startswith("[TEST] RESOLVED [INFO] test_alert")
    assert parent.text.startswith("[TEST] RESOLVED") and parent.edits == 1, "the parent now shows it resolved"
    first_blocks = json.dumps(fake_slack.requests[0].body["blocks"])
    assert "[TEST] FIRING [INFO] test_alert" in first_blocks and "nothing is wrong" in first_blocks
    assert result["delivered"] is True and result["error"] is None
    assert (result["channel"], result["thread_ts"]) == ("C0ALERTS", parent.ts)
    assert [(n["reason"], n["delivered"]) for n in result["notifications"]] == [("first", True), ("resolved", True)]
    assert [s["reason"] for s in result["sent"]] == ["first", "resolved"]
    state = canary.store.load(fingerprints=[result["fingerprint"]])[result["fingerprint"]]
    assert state.status == "resolved" and state.monitor == TEST_MONITOR


def test_the_cli_prints_one_json_object_and_exits_0(fake_slack: FakeSlack, tmp_path: Path) -> None:
    out = io.StringIO()
    code = cli_test_alert(canary=slack_canary(fake_slack, tmp_path), run_id="r1", now=NOW, as_json=True, stdout=out)
    assert code == 0 and json.loads(out.getvalue())["delivered"] is True


def test_a_refused_test_alert_exits_1_with_the_reason_and_no_token(fake_slack: FakeSlack, tmp_path: Path) -> None:
    out = io.StringIO()
    canary = slack_canary(fake_slack, tmp_path, token="xoxb-not-the-right-SECRET")
    code = cli_test_alert(canary=canary, run_id="r1", now=NOW, as_json=False, stdout=out)
    assert code == 1
    assert "test alert FAILED" in out.getvalue() and "invalid_auth" in out.getvalue()
    assert "SECRET" not in out.getvalue() and len(fake_slack.requests) == 1


def test_a_test_alert_whose_resolution_failed_is_resolved_by_the_next_one(fake_slack: FakeSlack, tmp_path: Path) -> None:
    canary = slack_canary(fake_slack, tmp_path)
    fake_slack.fail_next("chat.postMessage", Fault(), Fault.slack_error("is_archived"))
    first = send_test_alert(canary, run_id="run1", now=NOW)
    assert first["delivered"] is False and "is_archived" in first["error"]
    [leftover] = fake_slack.parents()
    second = send_test_alert(canary, run_id="run2", now=NOW)
    assert second["delivered"] is True
    assert [m.text.split(":")[0] for m in fake_slack.replies(leftover.ts)] == ["[TEST] RESOLVED [INFO] test_alert"]
    assert len(fake_slack.parents()) == 2


def test_main_test_alert_on_the_local_backend(local_dir: Path) -> None:
    result = run_cli("test-alert", "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["delivered"] is True and report["channel"] == "local"
    lines = [json.loads(line) for line in (local_dir / "notifications.jsonl").read_text().splitlines()]
    assert [(e["reason"], e["text"].split(" ")[0]) for e in lines] == [("first", "[TEST]"), ("resolved", "[TEST]")]
    assert lines[1]["thread"] == report["thread_ts"]


@pytest.mark.parametrize("run_id", ["a", "b"])
def test_each_test_alert_is_its_own_incident(run_id: str, fake_slack: FakeSlack, tmp_path: Path) -> None:
    result = send_test_alert(slack_canary(fake_slack, tmp_path), run_id=run_id, now=NOW)
    assert f"run_id=`{run_id}`" in json.dumps(fake_slack.requests[0].body["blocks"])
    assert result["fingerprint"] != send_test_alert(slack_canary(fake_slack, tmp_path), run_id=run_id + "x", now=NOW)["fingerprint"]
