"""Deliver each due notice: claim (compare-and-set) -> send -> record; a failure leaves it due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from alerts.decide import next_state
from alerts.message import AlertMessage, build_message
from alerts.notifier import DeliveryError, Notifier, ThreadRef
from alerts.state import StateError, StateStore
from canary.config import AlertsConfig
from canary.model import Decision, NotificationReport, Reason, Severity

ANOTHER_RUN = "another run claimed it first"


@dataclass(frozen=True)
class DeliveryPlan:
    decision: Decision
    message: AlertMessage


def plan(decisions: list[Decision], *, now: datetime) -> list[DeliveryPlan]:
    return [DeliveryPlan(decision=d, message=build_message(d, now=now)) for d in decisions]


def _thread_of(decision: Decision) -> ThreadRef | None:
    previous = decision.previous
    if decision.reason is Reason.FIRST or previous is None or not previous.thread_ts or not previous.channel:
        return None
    return ThreadRef(channel=previous.channel, ts=previous.thread_ts)


def deliver(
    plans: list[DeliveryPlan],
    *,
    store: StateStore,
    notifier: Notifier,
    owner: str,
    now: datetime,
    alerts: AlertsConfig,
    channel_for: Callable[[Severity], str | None],
) -> list[NotificationReport]:
    reports = []
    for item in plans:
        decision, message = item.decision, item.message
        expected = decision.previous.version if decision.previous else 0
        try:
            claimed = store.claim(
                fingerprint=decision.fingerprint, expected_version=expected, owner=owner, now=now, lease=alerts.claim_lease
            )
        except StateError as error:
            reports.append(_report(decision, delivered=False, error=f"state store: {error}"))
            continue
        if not claimed:
            reports.append(_report(decision, delivered=False, skipped=ANOTHER_RUN))
            continue
        thread = _thread_of(decision)
        try:
            receipt = notifier.send(message, thread=thread)
        except DeliveryError as error:
            _release_quietly(store, decision.fingerprint, owner)
            reports.append(_report(decision, delivered=False, error=str(error)))
            continue
        if decision.reason is Reason.RESOLVED and thread is not None:
            try:
                notifier.mark_resolved(message, thread=thread)
            except DeliveryError:
                pass  # the resolved reply is in the thread; the parent's edit is cosmetic
        state = next_state(
            decision,
            now=now,
            retention=alerts.resolved_retention,
            channel=receipt.channel or channel_for(message.severity),
            thread_ts=receipt.ts,
        )
        try:
            store.record(state=state, owner=owner)
        except StateError as error:
            # Sent but not recorded: the next run sends it again (a duplicate, never a lost alert).
            reports.append(_report(decision, delivered=True, error=f"sent, but not recorded: {error}"))
            continue
        reports.append(_report(decision, delivered=True))
    return reports


def _release_quietly(store: StateStore, fingerprint: str, owner: str) -> None:
    try:
        store.release(fingerprint=fingerprint, owner=owner)
    except StateError:
        pass  # the claim's lease expires on its own


def _report(decision: Decision, *, delivered: bool, error: str | None = None, skipped: str | None = None) -> NotificationReport:
    return NotificationReport(
        fingerprint=decision.fingerprint, reason=decision.reason, delivered=delivered, error=error, skipped=skipped
    )
