"""The notice pipeline (alerts/pipeline.py): every notice it sends is shown one way."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from alerts.message import AlertMessage
from alerts.notifier import Receipt, ThreadRef
from alerts.pipeline import Judgement, NoticeRun, notify
from alerts.sqlite_state import SqliteStateStore
from core.model import Decision, Finding, Reason, Severity
from run.steps import presentation
from tests.production import CONFIG, PIPELINE
from tests.scenario import utc

NOW = utc("2026-11-21T23:30")
FINDING = Finding(
    monitor="orchestrator_iam", severity=Severity.CRITICAL,
    key={"service": next(t.service for t in PIPELINE.transitions if t.service), "problem": "missing_invoker"}, summary="invoker missing",
    since=NOW - timedelta(hours=1),
)


class Recorder:
    def __init__(self) -> None:
        self.sent: list[AlertMessage] = []

    def send(self, message: AlertMessage, *, thread: ThreadRef | None) -> Receipt:
        self.sent.append(message)
        return Receipt(channel="C1", ts=f"1700000000.{len(self.sent):06d}")

    def mark_resolved(self, message: AlertMessage, *, thread: ThreadRef) -> None:
        return None


def run_at(store: SqliteStateStore, notifier: Recorder, at) -> list:  # type: ignore[no-untyped-def]
    run = NoticeRun(
        store=store, notifier=notifier, owner=f"run-{at:%H%M}", now=at, alerts=CONFIG.alerts, pipeline=PIPELINE,
        channel_for=CONFIG.slack.channel_for, presentation=presentation(CONFIG),
    )
    return notify(run, findings=[FINDING], judgement=Judgement(succeeded=frozenset({"orchestrator_iam"}))).notifications


def test_a_corrupt_records_resend_is_shown_like_any_other_notice(tmp_path: Path) -> None:
    """Issue 18: the re-send of a corrupt record had no league time zone and no links."""
    store, notifier = SqliteStateStore(path=tmp_path / "state.sqlite3"), Recorder()
    assert [r.delivered for r in run_at(store, notifier, NOW)] == [True]
    with sqlite3.connect(tmp_path / "state.sqlite3") as db:
        db.execute("UPDATE alerts SET version = ? WHERE fingerprint = ?", ("seven", FINDING.fingerprint))
    later = NOW + timedelta(days=1)
    reports = run_at(store, notifier, later)
    resent = next(m for m in notifier.sent[1:] if m.fingerprint == FINDING.fingerprint)
    assert any(r.fingerprint == FINDING.fingerprint and r.delivered and "corrupt record replaced" in (r.error or "")
               for r in reports)
    first = Decision(fingerprint=FINDING.fingerprint, reason=Reason.FIRST, finding=FINDING)
    assert resent == presentation(CONFIG).message(first, now=later)  # what plan() builds for any first notice
    assert resent.zone == CONFIG.zone and resent.links  # league time and links


# --- an acknowledged cause covers its effects, but not a rise in an effect's own severity (issue 22) ------------


def test_on_the_local_backend_an_effect_whose_severity_rises_under_an_acknowledged_cause_is_sent_in_its_thread(
    tmp_path: Path,
) -> None:
    """Run after run on the local backend (SQLite, notifications.jsonl). No monitor of today raises an effect's
    severity under one key, so the findings are made here, shaped like push_delivery's backlog of the service
    whose invoker binding is missing (which explains it: alerts/causes.py)."""
    import json

    from alerts.acks import new_ack
    from tests.servers.stacks import local_stack

    stack = local_stack(tmp_path / "local", CONFIG)
    store, notifier = stack.canary.store, stack.canary.notifier
    backlog = Finding(monitor="push_delivery", severity=Severity.WARNING, key={"service": FINDING.key["service"], "problem": "backlog"},
                      summary="the oldest unacked message is 90 min old")
    worse = backlog.model_copy(update={"severity": Severity.CRITICAL, "summary": "the oldest unacked message is 9 h old"})

    def run(at, findings):  # type: ignore[no-untyped-def]
        noticed = notify(
            NoticeRun(store=store, notifier=notifier, owner=f"run-{at:%H%M}", now=at, alerts=CONFIG.alerts,
                      pipeline=PIPELINE, channel_for=CONFIG.slack.channel_for, presentation=presentation(CONFIG)),
            findings=findings, judgement=Judgement(succeeded=frozenset({"orchestrator_iam", "push_delivery"})),
        )
        return [(n.fingerprint, n.reason.value) for n in noticed.notifications if n.delivered], noticed

    def lines() -> list[dict]:
        return [json.loads(line) for line in stack.notifications_file.read_text().splitlines()]

    sent, _ = run(NOW, [FINDING, backlog])
    assert sent == [(FINDING.fingerprint, "first"), (backlog.fingerprint, "first")]
    cause = store.load(fingerprints=[FINDING.fingerprint])[FINDING.fingerprint]
    assert store.load(fingerprints=[backlog.fingerprint])[backlog.fingerprint].caused_by == FINDING.fingerprint
    store.acknowledge(new_ack(state=cause, by="ana", now=NOW + timedelta(minutes=5)), state=cause)

    sent, noticed = run(NOW + timedelta(hours=12), [FINDING, backlog])  # both repeats due: the ack holds them back
    assert sent == [] and noticed.acknowledged == {FINDING.fingerprint: "ana", backlog.fingerprint: "ana"}
    before = len(lines())

    sent, noticed = run(NOW + timedelta(hours=12, minutes=30), [FINDING, worse])
    assert sent == [(backlog.fingerprint, "repeat")]  # the rise, and nothing else of the acknowledged chain
    [line] = lines()[before:]
    assert (line["fingerprint"], line["severity"], line["thread"]) == (backlog.fingerprint, "critical", cause.thread_ts)
    assert "escalated from warning to critical" in line["text"] and "its cause is acknowledged by ana" in line["text"]
    assert noticed.acknowledged == {FINDING.fingerprint: "ana"}

    sent, noticed = run(NOW + timedelta(hours=13), [FINDING, worse])  # at its new severity: covered again
    assert sent == [] and noticed.acknowledged == {FINDING.fingerprint: "ana", backlog.fingerprint: "ana"}
