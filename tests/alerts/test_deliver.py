"""The delivery stage on its own: a notifier that breaks in an unexpected way fails only its notices."""

from __future__ import annotations

from datetime import timedelta

from alerts.decide import decide
from alerts.deliver import deliver, plan
from alerts.local_notifier import LocalNotifier
from alerts.sqlite_state import SqliteStateStore
from alerts.state import records_for_decide
from core.config import AlertsConfig, SlackConfig
from core.model import Finding, Severity
from tests.scenario import utc

NOW = utc("2026-11-21T23:30")
FINDING = Finding(monitor="orchestrator_iam", severity=Severity.CRITICAL, key={"service": "s", "problem": "missing_invoker"}, summary="s")


class Explodes:
    def send(self, message, *, thread):  # type: ignore[no-untyped-def]
        raise RuntimeError("bug in a notifier")

    def mark_resolved(self, message, *, thread):  # type: ignore[no-untyped-def]
        return None


def run(store: SqliteStateStore, notifier, now):  # type: ignore[no-untyped-def]
    decisions = decide(previous=records_for_decide(store, fingerprints=[FINDING.fingerprint]), findings=[FINDING], succeeded={"orchestrator_iam"},
                       repeat_after=AlertsConfig().repeat_after, now=now)
    return deliver(plan(decisions.notify, now=now), store=store, notifier=notifier, owner=f"run-{now:%H%M}", now=now,
                   alerts=AlertsConfig(), channel_for=SlackConfig().channel_for)


def test_an_unexpected_notifier_exception_releases_the_claim_so_the_next_run_sends_it(tmp_path):
    store = SqliteStateStore(path=tmp_path / "state.sqlite3")
    [failed] = run(store, Explodes(), NOW)
    assert not failed.delivered and failed.error == "notifier failed unexpectedly: RuntimeError: bug in a notifier"
    # One minute later, well inside the 5-minute claim lease: the claim was released, not left to expire.
    [sent] = run(store, LocalNotifier(path=tmp_path / "n.jsonl", console=None), NOW + timedelta(minutes=1))
    assert sent.delivered and sent.reason.value == "first"
