"""The test alert: a marked synthetic finding sent through the notice pipeline (alerts/pipeline.py), then resolved."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from alerts.pipeline import Judgement, NoticeRun, notify
from alerts.render_text import render_text
from alerts.state import StateError
from core.model import Finding, Severity
from run.steps import Canary, presentation

TEST_MONITOR = "test_alert"


def synthetic_finding(*, run_id: str, now: datetime) -> Finding:
    """The test alert: its own incident per run, marked synthetic so every rendering says [TEST]."""
    return Finding(
        monitor=TEST_MONITOR,
        severity=Severity.INFO,
        key={"run_id": run_id, "problem": "synthetic"},
        summary="pipeline-canary test alert: alerts reach this channel",
        details={
            "synthetic": True,
            "evidence": f"sent on request by run {run_id} at {now:%Y-%m-%d %H:%M} UTC; nothing is wrong",
        },
        since=now,
        fix="Nothing to fix. A resolved reply follows in this thread when delivery works end to end.",
    )


def send_test_alert(canary: Canary, *, run_id: str, now: datetime) -> dict[str, Any]:
    """Send the test alert and its resolution through the canary's store and notifier; say what happened."""
    finding = synthetic_finding(run_id=run_id, now=now)
    config = canary.config
    result: dict[str, Any] = {
        "run_id": run_id,
        "now": now.isoformat(),
        "fingerprint": finding.fingerprint,
        "monitor": TEST_MONITOR,
        "notifications": [],
        "sent": [],
        "channel": None,
        "thread_ts": None,
        "error": None,
    }
    # Only test incidents take part (a leftover of an earlier failed test resolves here too), every message
    # says [TEST] (a resolved notice is built from the stored record, which does not say "synthetic"), and
    # no silence hides it: it proves delivery.
    run = NoticeRun(
        store=canary.store, notifier=canary.notifier, owner=run_id, now=now, alerts=config.alerts,
        pipeline=config.pipeline, channel_for=config.slack.channel_for,
        presentation=replace(presentation(config), links=None, synthetic=True),
        monitors=frozenset({TEST_MONITOR}), silences=False,
    )
    for findings in ([finding], []):
        try:
            noticed = notify(run, findings=findings, judgement=Judgement(succeeded=frozenset({TEST_MONITOR})))
        except StateError as error:
            result["error"] = f"alert state unavailable: {error}"
            break
        reports = noticed.notifications
        result["notifications"] += [r.model_dump(mode="json") for r in reports]
        result["sent"] += [
            {"reason": p.decision.reason.value, "text": render_text(p.message)}
            for p, r in zip(noticed.plans, reports) if r.delivered
        ]
        failed = next((r for r in reports if not r.delivered or r.error), None)
        if failed is not None:
            result["error"] = failed.error or failed.skipped or "not delivered"
            break
    if result["error"] is None:
        try:
            state = canary.store.load(fingerprints=[finding.fingerprint]).get(finding.fingerprint)
        except StateError:
            state = None  # delivered and recorded; only the echo of where it went is missing
        if state is not None:
            result["channel"], result["thread_ts"] = state.channel, state.thread_ts
    own = {n["reason"] for n in result["notifications"] if n["fingerprint"] == finding.fingerprint and n["delivered"]}
    result["delivered"] = result["error"] is None and own == {"first", "resolved"}
    return result
