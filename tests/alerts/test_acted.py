"""Every edit of an open parent shows each incident as it stands (alerts/acted.py parent_view): who acknowledged
or silenced it and the buttons that apply, read from the stored acknowledgements and silences; a summary stays a
summary. Through the real Slack client and the fake Slack, on SQLite and on the Firestore emulator."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from alerts import acted as acting
from alerts.firestore_state import FirestoreStateStore
from alerts.slack import SlackNotifier
from alerts.sqlite_state import SqliteStateStore
from core.config import FirestoreConfig
from tests.alerts.test_causes import DEMO, IAM, SLACK, STALL, Canary, stall
from tests.servers.fake_slack import TOKEN, FakeSlack, fake_slack  # noqa: F401  (fixture)
from tests.servers.firestore_emulator import firestore_emulator, firestore_env  # noqa: F401  (fixtures)
from tests.slack_cases import NEW_YORK, NOW


def slack_canary(fake: FakeSlack, store: Any) -> Canary:
    notifier = SlackNotifier(token=SecretStr(TOKEN), base_url=fake.base_url, channel_for=SLACK.channel_for, sleep=lambda _: None)
    return Canary(store=store, notifier=notifier)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "firestore"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        return SqliteStateStore(path=tmp_path / "state.sqlite3")
    emulator = request.getfixturevalue("firestore_env")
    return FirestoreStateStore(project=emulator.project, config=FirestoreConfig())


def buttons(blocks: list[dict[str, Any]]) -> dict[str, list[str]]:
    """fingerprint -> the action_ids of its buttons (the runbook link left out)."""
    found: dict[str, list[str]] = {}
    for block in blocks:
        if block["type"] == "actions":
            for element in block["elements"]:
                if "value" in element:
                    found.setdefault(element["value"], []).append(element["action_id"])
    return found


def test_an_effect_joining_an_acknowledged_silenced_cause_keeps_its_state_on_the_edited_parent(
    fake_slack: FakeSlack, store: Any
) -> None:
    canary = slack_canary(fake_slack, store)
    canary.run([IAM, STALL], at=NOW)
    [parent] = fake_slack.parents()
    cause = store.load(fingerprints=[IAM.fingerprint])[IAM.fingerprint]
    at = NOW + timedelta(minutes=10)
    assert acting.acknowledge(store, state=cause, by="slack:U0ALICE01", now=at, duration=None, zone=NEW_YORK).acted
    assert acting.silence(store, state=cause, by="ana", now=at, duration="8h").acted

    canary.run(DEMO, at=NOW + timedelta(minutes=30))  # the predictions go missing: they join the cause's thread
    [update] = fake_slack.calls("chat.update")
    assert update.body["ts"] == parent.ts and "missing_predictions" in update.body["text"]  # the full message
    assert buttons(update.body["blocks"]) == {IAM.fingerprint: ["unack", "unsilence"]}
    said = json.dumps(update.body["blocks"], ensure_ascii=False)
    # (this run's presentation shows UTC: no league zone configured here)
    assert "Acknowledged by <@U0ALICE01> at Sat 2026-11-21 23:40 UTC, until it resolves" in said
    assert "Silenced by ana until Sun 2026-11-22 07:40 UTC" in said


def test_a_summary_edited_when_a_member_resolves_keeps_the_others_standing(fake_slack: FakeSlack, store: Any) -> None:
    """Six new incidents in one run are one summary (group_after 5), each with its buttons; one is acknowledged,
    another resolves: the summary is re-rendered as the whole group, the acknowledged one with Unacknowledge and
    who has it, the resolved one without buttons, the rest as they were."""
    canary = slack_canary(fake_slack, store)
    # Stalls of the first hop: nothing explains another, so each is its own incident.
    six = [stall("phase_2_raw->phase_3_analytics", date(2026, 11, day)) for day in range(10, 16)]
    canary.run(six, at=NOW)
    [summary] = fake_slack.parents()
    assert set(buttons(summary.blocks)) == {f.fingerprint for f in six}
    held, gone = six[2], six[4]
    state = store.load(fingerprints=[held.fingerprint])[held.fingerprint]
    acting.acknowledge(store, state=state, by="slack:U0BOB0001", now=NOW + timedelta(minutes=5), duration=None, zone=NEW_YORK)

    canary.run([f for f in six if f is not gone], at=NOW + timedelta(minutes=30))
    [update] = fake_slack.calls("chat.update")
    assert update.body["ts"] == summary.ts and update.body["text"].startswith("FIRING [CRITICAL] 6 alerts newly firing")
    shown = buttons(update.body["blocks"])
    assert set(shown) == {f.fingerprint for f in six} - {gone.fingerprint}
    assert shown[held.fingerprint] == ["unack", "silence_2h", "silence_8h"]
    assert all(ids == ["ack", "silence_2h", "silence_8h"] for fp, ids in shown.items() if fp != held.fingerprint)
    said = json.dumps(update.body["blocks"], ensure_ascii=False)
    assert said.count("Acknowledged by <@U0BOB0001>") == 1 and f"fingerprint `{gone.fingerprint}` · resolved" in said
