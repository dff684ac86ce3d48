"""Alerts that pass the ten-second test (issue 13, part 2): league time with UTC beside it, a command or a
link for every fix, critical repeats broadcast, "No longer checked" never looks resolved, and summaries
split before Slack's limits, sent through the fake Slack that refuses what Slack refuses."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from alerts.group import AlertGroup
from alerts.links import thread_url
from alerts.render_slack import (
    MAX_BLOCKS, Controls, render_alert, render_group, render_group_parent_parts, render_group_parts, render_resolved_parent,
)
from alerts.render_text import render_text
from alerts.sqlite_state import SqliteStateStore
from core.model import MonitorResult, Outcome, Reason
from run.runner import degraded_finding, retry_command
from tests.conftest import PROJECT_ROOT
from tests.production import CONFIG, PIPELINE
from tests.servers.fake_slack import MAX_BLOCKS_TEXT, FakeSlack, fake_slack, refusal  # noqa: F401  (fixture)
from tests.slack_cases import NOW, all_findings, message, stall_finding
from tests.alerts.test_render_slack import check_golden
from tests.alerts.test_slack import Pipeline, notifier_for
from tests.alerts.test_links_runbook import github_anchors

RUNBOOK = (PROJECT_ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")
NOTE = "game date 2026-11-21 is no longer checked by missing_predictions (outside its window)"


def test_times_are_in_the_league_zone_with_utc_beside_them() -> None:
    text = render_text(message(stall_finding(), Reason.REPEAT))
    assert "since: Sat 2026-11-21 17:30 EST (22:30 UTC)" in text
    assert "first sent Sat 2026-11-21 15:10 EST (20:10 UTC)" in text
    assert "complete at 2026-11-21 16:30 EST (21:30 UTC)" in text
    utc_times = re.findall(r"(\S*\d\d:\d\d) UTC", text)
    assert utc_times and all(t.startswith("(") for t in utc_times), "every UTC time stands beside the league's"


@pytest.mark.parametrize("kind", sorted(all_findings()))
def test_every_fix_is_a_command_and_every_alert_links_its_runbook_entry(kind: str) -> None:
    finding = all_findings()[kind]
    alert = message(finding, Reason.FIRST)
    assert alert.fix and alert.fix.split()[0] in ("gcloud", "curl", "bq", "python"), alert.fix
    runbook = dict(alert.links)["Runbook"]
    anchor = runbook.split("#", 1)[1]
    assert anchor in github_anchors(RUNBOOK), f"docs/runbook.md has no heading for #{anchor}"


def test_a_stall_links_its_service_its_logs_for_the_right_range_and_the_table() -> None:
    links = dict(message(stall_finding(), Reason.FIRST).links)
    assert links["Cloud Run: phase4-to-phase5-orchestrator"].endswith(
        "/run/detail/us-west2/phase4-to-phase5-orchestrator?project=nba-props-platform"
    )
    logs = links["Logs: phase4-to-phase5-orchestrator"]
    assert "service_name%3D%22phase4-to-phase5-orchestrator%22" in logs
    # From an hour before the deadline passed (22:30 UTC) to the run's moment.
    assert "startTime=2026-11-21T21:30:00Z;endTime=2026-11-21T23:30:00Z" in logs
    assert links["BigQuery: nba_orchestration.phase_completions"].endswith("!2snba_orchestration!3sphase_completions")


def test_missing_predictions_links_the_logs_of_the_service_that_starts_the_predictions_phase() -> None:
    finding = all_findings()["missing_predictions-none"]
    labels = [label for label, _ in message(finding, Reason.FIRST).links]
    assert labels == [
        "Cloud Run: phase4-to-phase5-orchestrator", "Logs: phase4-to-phase5-orchestrator",
        "BigQuery: nba_predictions.player_prop_predictions", "Runbook",
    ]


def test_the_4_to_5_stall_and_missing_predictions_fix_with_the_configured_commands() -> None:
    # Built from backup_job / rerun_job (the seeds' job names; same-day-predictions is assumed).
    assert stall_finding().fix == "gcloud scheduler jobs run same-day-predictions --location=us-west2 --project=nba-props-platform"
    assert PIPELINE.transitions[2].backup_job == PIPELINE.rerun_job == "same-day-predictions"
    config = CONFIG.monitors["missing_predictions"]
    assert all_findings()["missing_predictions-none"].fix == stall_finding().fix
    templated = config.model_copy(update={"rerun_command": "run-predictions --date={game_date}"})
    assert templated.rerun(date(2026, 11, 21)) == "run-predictions --date=2026-11-21"


def test_canary_degraded_gives_the_command_of_the_backend_it_runs_on() -> None:
    result = MonitorResult(name="phase_stalls", outcome=Outcome.ERROR, duration_ms=1.0, error="boom", source="bigquery")
    gcp = degraded_finding(result, retry=retry_command("phase_stalls", backend="gcp", pipeline=PIPELINE, links=CONFIG.links))
    assert gcp.fix is not None and gcp.fix.startswith('curl -sS -X POST -H "Authorization: Bearer $(gcloud auth print-identity-token)"')
    assert gcp.fix.endswith("'{\"monitors\": [\"phase_stalls\"], \"dry_run\": true}' https://us-west2-nba-props-platform.cloudfunctions.net/pipeline-canary")
    local = degraded_finding(result, retry=retry_command("phase_stalls", backend="local", pipeline=PIPELINE, links=CONFIG.links))
    assert local.fix == "python main.py run --monitors=phase_stalls --dry-run"


def test_no_longer_checked_has_its_own_mark_and_says_it_may_still_be_real() -> None:
    finding = all_findings()["missing_predictions-none"]
    alert = message(finding, Reason.RESOLVED, note=NOTE)
    payload = render_alert(alert).to_dict()
    check_golden("missing_predictions-none-unverified", payload)
    header = payload["blocks"][0]["text"]["text"]
    assert header.startswith(":grey_question: NO LONGER CHECKED [CRITICAL]") and "RESOLVED" not in header
    assert ":white_check_mark:" not in json.dumps(payload)
    assert "may still be real" in payload["text"] and '"date": "2026-11-21"' in payload["text"]
    parent = render_resolved_parent(alert).to_dict()
    assert parent["blocks"][0]["text"]["text"].startswith(":grey_question: NO LONGER CHECKED")
    assert "may still be real" in json.dumps(parent)


def test_a_summary_with_no_longer_checked_members_never_looks_resolved() -> None:
    finding = all_findings()["missing_predictions-none"]
    closed = [message(stall_finding(date(2026, 11, day)), Reason.RESOLVED) for day in range(14, 19)]
    closed.append(message(finding, Reason.RESOLVED, note=NOTE))
    group = AlertGroup(reason=Reason.RESOLVED, members=tuple(closed), limit=5)
    for payload in (render_group(group).to_dict(), render_group(group, parent_edit=True).to_dict()):
        assert payload["blocks"][0]["text"]["text"].startswith(":grey_question: NO LONGER CHECKED")
        assert "1 of them are no longer checked" in json.dumps(payload)
        assert "NO LONGER CHECKED (may still be real) [CRITICAL] missing_predictions" in json.dumps(payload)


def test_a_critical_repeat_is_broadcast_to_the_channel_once_per_repeat(fake_slack: FakeSlack, tmp_path: Path) -> None:
    run = Pipeline(fake=fake_slack, store=SqliteStateStore(path=tmp_path / "state.sqlite3"))
    critical, warning = stall_finding(), all_findings()["missing_predictions-partial"]
    run.run([critical, warning], at=NOW)
    run.run([critical, warning], at=NOW + timedelta(hours=2))  # critical repeats (2 h); the warning waits 12 h
    run.run([critical, warning], at=NOW + timedelta(hours=4))
    replies = [m for m in fake_slack.posted() if m.thread_ts is not None]
    assert [m.broadcast for m in replies] == [True, True]
    assert all(m.text.startswith("STILL FIRING [CRITICAL] phase_stalls") for m in replies)
    calls = [c.body for c in fake_slack.calls("chat.postMessage")]
    assert [c.get("reply_broadcast") for c in calls] == [None, None, True, True]


def test_the_fake_slack_refuses_what_slack_refuses() -> None:
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
    assert refusal("t", [section] * MAX_BLOCKS) is None
    assert refusal("t", [section] * (MAX_BLOCKS + 1)) == "invalid_blocks"
    big = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2900}}
    assert refusal("t", [big] * 5) == "msg_blocks_too_long"
    assert refusal("t", [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]) == "invalid_blocks"


def test_200_grouped_alerts_go_through_the_fake_slack_in_several_messages_listing_every_one(fake_slack: FakeSlack) -> None:
    members = tuple(
        message(stall_finding(date(2026, 11, 21)).model_copy(update={"summary": f"stall {i:03d} " + "p" * 120, "key": {"n": f"{i:03d}"}}), Reason.FIRST)
        for i in range(200)
    )
    group = AlertGroup(reason=Reason.FIRST, members=members, limit=5)
    one = render_group(group).to_dict()
    assert refusal(one["text"], one["blocks"]) is None  # the single message would only fit by leaving alerts out
    assert len(render_group_parts(group)) > 1
    # The summary is its incidents' parent: as many as fit carry buttons, the next ones their commands, and
    # the rest follow in its thread (alerts/render_slack.py render_group_parent_parts).
    parts = render_group_parent_parts(group, controls={m.fingerprint: Controls() for m in members})
    assert len(parts) > 1
    receipt = notifier_for(fake_slack).send_group(group, thread=None)
    posted = fake_slack.posted()
    assert [c.answered for c in fake_slack.calls("chat.postMessage")] == ["ok"] * len(parts)
    assert posted[0].ts == receipt.ts and posted[0].thread_ts is None
    assert all(m.thread_ts == receipt.ts for m in posted[1:]), "the later parts follow in the summary's thread"
    listed = "\n".join(b["text"]["text"] for m in posted for b in m.blocks if b["type"] == "section")
    assert sorted(re.findall(r"stall (\d{3}) ", listed)) == [f"{i:03d}" for i in range(200)]
    for m in posted:
        total = sum(len(b.get("text", {}).get("text", "")) for b in m.blocks if isinstance(b.get("text"), dict))
        assert len(m.blocks) <= MAX_BLOCKS and total <= MAX_BLOCKS_TEXT
    assert posted[1].blocks[0]["text"]["text"].endswith(f"(part 2 of {len(parts)})")
    assert len([b for b in posted[0].blocks if b["type"] == "actions"]) == 22


def test_a_thread_link_is_built_only_for_a_slack_thread() -> None:
    assert thread_url(CONFIG.links, "C0ALERTS", "1700000000.000200") == "https://slack.com/archives/C0ALERTS/p1700000000000200"
    assert thread_url(CONFIG.links, "local", "120") is None


def test_the_demos_repeat_two_hours_later_is_broadcast_in_notifications_jsonl(local_dir: Path) -> None:
    from tests.conftest import run_cli

    demo = run_cli("demo", "--json")
    assert demo.code == 0, demo.stderr
    later = (datetime.fromisoformat(demo.report["now"].replace("Z", "+00:00")) + timedelta(hours=2)).isoformat()
    assert run_cli("run", "--json", "--now", later).code == 0
    lines = [json.loads(line) for line in (local_dir / "notifications.jsonl").read_text().splitlines()]
    repeats = [line for line in lines if line["reason"] == "repeat"]
    # One cause, one incident: the IAM alert's repeat names the stall and the missing predictions. The paused
    # backup job is an incident of its own and repeats in its own thread. (The canary's own job is newly late:
    # in the demo's world nothing ran the canary between the two runs, so that is true, and a first notice.)
    assert sorted(line["monitor"] for line in repeats) == ["orchestrator_iam", "scheduler_jobs"]
    [repeat] = [line for line in repeats if line["monitor"] == "orchestrator_iam"]
    [paused] = [line for line in repeats if line["monitor"] == "scheduler_jobs"]
    assert paused["where"] == {"job": "same-day-phase3", "problem": "paused"} and paused.get("broadcast") is True
    assert paused["thread"] not in (None, repeat["thread"])
    assert [line["where"] for line in lines[-3:] if line["reason"] == "first"] == [{"job": "pipeline-canary", "problem": "late"}]
    assert repeat["monitor"] == "orchestrator_iam" and repeat.get("broadcast") is True and repeat["thread"] is not None
    assert "phase_stalls" in repeat["text"] and "missing_predictions" in repeat["text"]
    assert all("broadcast" not in line for line in lines if line["reason"] == "first")
    first_sent = re.compile(r"first sent \w{3} \d{4}-\d\d-\d\d 18:30 E[SD]T \(\d\d:30 UTC\)")
    assert all(first_sent.search(line["text"]) for line in repeats), "the league's 18:30 with UTC beside it"


@pytest.mark.parametrize(
    ("since", "first_seen", "now", "expected"),
    [
        # The pushes failed from 08:30; the first notice went out at 18:00; fixed at 18:30.
        ("2026-11-21T13:30", "2026-11-21T23:00", "2026-11-21T23:30",
         "it lasted 10 h from when it began (Sat 2026-11-21 08:30 EST (13:30 UTC)), "
         "30 min from its first notice (Sat 2026-11-21 18:00 EST (23:00 UTC))"),
        # No `since` on record (an older record): from the first notice only.
        (None, "2026-11-21T23:00", "2026-11-21T23:30", "it lasted 30 min from its first notice (Sat 2026-11-21 18:00 EST (23:00 UTC))"),
        # A `since` after the first notice (a later record's) never makes it shorter than the notices.
        ("2026-11-21T23:10", "2026-11-21T23:00", "2026-11-21T23:30", "it lasted 30 min from its first notice"),
    ],
)
def test_a_resolution_says_how_long_from_when_it_began_and_from_its_first_notice(
    since: str | None, first_seen: str, now: str, expected: str
) -> None:
    """Issue 19 item 5: the pushes failed for ten hours, the notice said "it lasted 30 min"."""
    from zoneinfo import ZoneInfo

    from alerts.message import build_message
    from core.model import AlertState, Decision, Severity
    from tests.scenario import utc

    state = AlertState(
        fingerprint="f1", monitor="push_delivery", key={"service": "s", "problem": "pushes_failing"}, severity=Severity.CRITICAL,
        summary="s: pushes fail", first_seen=utc(first_seen), last_seen=utc(first_seen), last_notified=utc(first_seen),
        since=utc(since) if since else None,
    )
    built = build_message(Decision(fingerprint="f1", reason=Reason.RESOLVED, previous=state), now=utc(now),
                          zone=ZoneInfo("America/New_York"))
    assert expected in built.why_now


def test_the_record_keeps_when_the_condition_began_across_repeats(tmp_path: Path) -> None:
    from core.model import AlertState, Decision

    finding = stall_finding()
    assert finding.since is not None
    opened = Decision(fingerprint=finding.fingerprint, reason=Reason.FIRST, finding=finding).next_record(
        now=NOW, retention=timedelta(days=1), channel="C", thread_ts="1.0")
    later = finding.model_copy(update={"since": finding.since + timedelta(hours=1)})
    repeated = opened.repeated(later, now=NOW + timedelta(hours=2))
    assert opened.since == repeated.since == finding.since
    store = SqliteStateStore(path=tmp_path / "s.sqlite3")
    assert store.claim(fingerprint=finding.fingerprint, expected_version=0, owner="o", now=NOW, lease=timedelta(minutes=5))
    store.record(state=opened, owner="o")
    assert store.load(fingerprints=[finding.fingerprint])[finding.fingerprint].since == finding.since
    assert isinstance(opened, AlertState)
