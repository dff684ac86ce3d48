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
