"""Escalation: an unacknowledged critical incident gets a person (pure decision; the sending is at the edge).

decide     `escalations(...)`: a pure function of (records, findings, acknowledgements, silences, policy, now)
           -> the PagerDuty events due now, each with its reason:
           trigger      an incident of a paging severity, still firing, unacknowledged and unsilenced, `after`
                        its first notice (at once when tonight's predictions are due within the configured
                        window); once per incident. Effects never page: the incident that explains them does.
                        An effect that outlived its cause counts from its own new parent.
           acknowledge  an escalated incident someone acknowledged (in Slack or the CLI)
           resolve      an escalated incident that resolved (or was replaced by a new incident)
deliver    `deliver_escalations(...)`: each event claimed like a notice (the state store's claim/record on
           the incident's escalation record), the mention posted in the incident's thread, the event sent to
           PagerDuty when a routing key is set, then recorded; a failed send releases the claim, so the next
           run sends it again (never lost). Without a routing key the escalation is still recorded and shown.

The escalation record (monitor "escalation", one per incident fingerprint) is firing while its page is open;
its key holds the incident, the incident's first notice (`since`: which incident it is), the last event and
to whom it went.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

from alerts.notifier import Receipt, ThreadRef
from alerts.render_text import inert_text
from alerts.silences import silence_for
from core.config import EscalationConfig
from core.fingerprint import fingerprint_of
from core.model import (
    ESCALATION_MONITOR, AlertState, AlertStatus, Finding, NotificationReport, Reason, Severity, Silence,
)

PAGERDUTY = "pagerduty"


class Action(str, enum.Enum):
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


def escalation_fingerprint(incident: str) -> str:
    """The escalation record of one incident fingerprint."""
    return fingerprint_of(ESCALATION_MONITOR, {"incident": incident})


@dataclass(frozen=True)
class Escalation:
    """One PagerDuty event due now, and why."""

    incident: str
    """The incident's fingerprint: PagerDuty's dedup_key."""
    action: Action
    reason: str
    state: AlertState | None
    """The incident's record (None: it is gone, for a resolve)."""
    record: AlertState | None
    """The escalation record on file (None: never escalated)."""
    finding: Finding | None = None

    @property
    def fingerprint(self) -> str:
        return escalation_fingerprint(self.incident)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _minutes(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def escalations(
    *,
    records: Mapping[str, AlertState],
    escalated: Mapping[str, AlertState],
    findings: Sequence[Finding],
    acknowledged: Mapping[str, str],
    silences: Sequence[Silence],
    policy: EscalationConfig,
    now: datetime,
    causes: Mapping[str, str] | None = None,
    predictions_due: datetime | None = None,
    triggers: bool = True,
) -> list[Escalation]:
    """The PagerDuty events due now. `acknowledged`: incident -> who, for acknowledgements in force (alerts/acks.py;
    a cause's covers its effects); `records`: the incidents' notification records (after this run's notices);
    `escalated`: the escalation records on file by incident fingerprint; `causes`: effect -> the firing finding
    that explains it (alerts/causes.py); `predictions_due`: when tonight's predictions are due (the slate);
    `triggers`: whether this run may escalate (a scheduled run), or only follow up (acknowledge, resolve)."""
    due: list[Escalation] = []
    for incident, record in sorted(escalated.items()):
        if not record.firing:
            continue
        state = records.get(incident)
        if state is None or not state.firing or _iso(state.first_seen) != record.key.get("since"):
            due.append(Escalation(incident, Action.RESOLVE, "the incident resolved", state, record))
            continue
        if record.key.get("event") == Action.TRIGGER.value and incident in acknowledged:
            due.append(Escalation(incident, Action.ACKNOWLEDGE, f"acknowledged by {acknowledged[incident]}", state, record))
    if not triggers:
        return due
    seen: set[str] = set()
    for finding in findings:
        incident = finding.fingerprint
        if incident in seen:
            continue
        seen.add(incident)
        state = records.get(incident)
        if state is None or not state.firing:
            continue  # its first notice has not gone out: nobody has been told yet
        record = escalated.get(incident)
        if record is not None and record.key.get("since") == _iso(state.first_seen):
            continue  # escalated once already (its page may since be acknowledged or resolved)
        reason = trigger_reason(
            finding, state=state, acknowledged=incident in acknowledged, silences=silences, policy=policy,
            now=now, explained=(causes or {}).get(incident) is not None, predictions_due=predictions_due,
        )
        if reason is not None:
            due.append(Escalation(incident, Action.TRIGGER, reason, state, record, finding))
    return due


def trigger_reason(
    finding: Finding, *, state: AlertState, acknowledged: bool, silences: Sequence[Silence],
    policy: EscalationConfig, now: datetime, explained: bool, predictions_due: datetime | None,
) -> str | None:
    """Why this firing incident escalates now, or None when it does not (yet)."""
    if finding.severity not in policy.severities:
        return None  # e.g. a warning never pages
    if explained or state.caused_by is not None:
        return None  # an effect: the incident that explains it pages
    if silence_for(finding, silences, now=now) is not None:
        return None
    if acknowledged:
        return None
    since = state.own_parent_at or state.first_seen
    waited = now - since
    window = policy.at_once_when_predictions_due_within
    if window is not None and predictions_due is not None and now <= predictions_due <= now + window:
        return f"unacknowledged {_minutes(waited)} after its first notice, and tonight's predictions are due within {_minutes(window)}"
    if waited >= policy.after:
        return f"unacknowledged {_minutes(waited)} after its first notice (after = {_minutes(policy.after)})"
    return None


def escalation_record(item: Escalation, *, now: datetime, to: list[str], retention: timedelta) -> AlertState:
    """The escalation record once `item` went out."""
    previous, state = item.record, item.state
    if item.action is Action.TRIGGER:
        assert state is not None
        return AlertState(
            fingerprint=item.fingerprint, monitor=ESCALATION_MONITOR, severity=state.severity, summary=state.summary,
            key={"incident": item.incident, "since": _iso(state.first_seen), "event": item.action.value,
                 "to": ",".join(to), "monitor": state.monitor},
            status=AlertStatus.FIRING, first_seen=now, last_seen=now, last_notified=now, channel=state.channel,
            thread_ts=state.thread_ts, version=previous.version if previous else 0,
        )
    assert previous is not None
    updated = previous.model_copy(update={
        "key": {**previous.key, "event": item.action.value}, "last_seen": now, "last_notified": now,
        "notify_count": previous.notify_count + 1,
    })
    if item.action is Action.RESOLVE:
        return updated.resolved(now=now, retention=retention).model_copy(update={"notify_count": updated.notify_count})
    return updated


def pagerduty_event(item: Escalation, *, source: str, links: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The Events API v2 event of `item` (https://developer.pagerduty.com/docs/events-api-v2/trigger-events):
    dedup_key = the incident's fingerprint; a trigger carries the payload (summary <= 1,024 characters)."""
    from alerts.pagerduty import MAX_SUMMARY

    event: dict[str, Any] = {"event_action": item.action.value, "dedup_key": item.incident}
    if item.action is not Action.TRIGGER:
        return event
    state, finding = item.state, item.finding
    assert state is not None
    key = dict(finding.key if finding else state.key)
    summary = (finding.summary if finding else state.summary).replace("\n", " ")
    if len(summary) > MAX_SUMMARY:
        summary = summary[: MAX_SUMMARY - 1] + "…"
    component = next((key[label] for label in COMPONENT_LABELS if key.get(label)), state.monitor)
    event["payload"] = {
        "summary": summary,
        "source": source,
        "severity": state.severity.value,
        "timestamp": (finding.since or state.first_seen).isoformat() if finding else state.first_seen.isoformat(),
        "component": component,
        "group": state.monitor,
        "class": key.get("problem") or state.monitor,
        "custom_details": {"monitor": state.monitor, "key": key, "details": dict(finding.details) if finding else {},
                           "why_paged": item.reason},
    }
    event["links"] = [{"href": href, "text": text} for text, href in links]
    event["client"] = "pipeline-canary"
    return event


COMPONENT_LABELS = ("service", "table", "transition", "phase", "processor", "subscription", "monitor")
"""Key labels that name the broken part (PagerDuty's `component`), most specific first."""


@dataclass(frozen=True)
class EscalationNotice:
    """What the thread (and the console / notifications.jsonl) is told about one escalation event."""

    incident: str
    event: Action
    severity: Severity
    monitor: str
    why: str
    mention: str | None
    to: list[str]

    @property
    def text(self) -> str:
        paged = "paging PagerDuty" if PAGERDUTY in self.to else (
            "PagerDuty not paged: CANARY_PAGERDUTY_ROUTING_KEY is not set")
        if self.event is Action.TRIGGER:
            lead = f"{self.mention} " if self.mention else ""
            return f"{lead}ESCALATED ({self.severity.value}, {self.monitor} {self.incident}): {self.why}; {paged}."
        # An acknowledgement's reason names who (a CLI argument, a Slack user id): made inert like source text.
        return f"ESCALATION {self.event.value.upper()} ({self.monitor} {self.incident}): {inert_text(self.why)}."


@runtime_checkable
class EscalationNotifier(Protocol):
    """A Notifier that can show an escalation: in the incident's thread (Slack), a line (the local file)."""

    def send_escalation(self, notice: EscalationNotice, *, thread: ThreadRef | None) -> Receipt: ...


class Pager(Protocol):
    def send(self, event: dict[str, Any]) -> str: ...


@dataclass
class EscalationRun:
    """The edge: where escalation events are claimed, shown and sent."""

    store: Any
    notifier: Any
    owner: str
    now: datetime
    lease: timedelta
    retention: timedelta
    policy: EscalationConfig
    pager: Pager | None
    source: str
    links_of: Callable[[Escalation], list[tuple[str, str]]] = field(default=lambda item: [])


def deliver_escalations(items: Sequence[Escalation], *, run: EscalationRun) -> list[NotificationReport]:
    """Each event claimed (exactly once across concurrent runs), shown, sent, then recorded."""
    from alerts.deliver import ANOTHER_RUN
    from alerts.state import StateError

    reports = []
    for item in items:
        state = item.state or item.record
        assert state is not None

        def report(*, delivered: bool, to: list[str] | None = None, **fields: Any) -> NotificationReport:
            return NotificationReport(
                fingerprint=item.incident, reason=Reason.ESCALATION, delivered=delivered, event=item.action.value,
                why=item.reason, to=to, monitor=state.key.get("monitor", state.monitor) if state.monitor == ESCALATION_MONITOR else state.monitor,
                **fields,
            )

        expected = item.record.version if item.record else 0
        try:
            if not run.store.claim(fingerprint=item.fingerprint, expected_version=expected, owner=run.owner,
                                   now=run.now, lease=run.lease):
                reports.append(report(delivered=False, skipped=ANOTHER_RUN))
                continue
        except StateError as error:
            reports.append(report(delivered=False, error=f"state store: {error}"))
            continue
        paged_before = item.record is not None and PAGERDUTY in item.record.key.get("to", "").split(",")
        to = [run.policy.mention] if run.policy.mention and item.action is Action.TRIGGER else []
        error = None
        sends_page = run.pager is not None and (item.action is Action.TRIGGER or paged_before)
        try:
            # First the thread (the mention), then PagerDuty.
            if isinstance(run.notifier, EscalationNotifier) and (item.action is Action.TRIGGER or paged_before):
                thread = None
                if item.state is not None and item.state.channel and item.state.thread_ts:
                    thread = ThreadRef(channel=item.state.channel, ts=item.state.thread_ts)
                notice = EscalationNotice(
                    incident=item.incident, event=item.action, severity=state.severity,
                    monitor=report(delivered=False).monitor or "", why=item.reason, mention=run.policy.mention,
                    to=[*to, PAGERDUTY] if sends_page else to,
                )
                run.notifier.send_escalation(notice, thread=thread)
            if sends_page:
                assert run.pager is not None
                run.pager.send(pagerduty_event(item, source=run.source, links=run.links_of(item)))
                to.append(PAGERDUTY)
        except Exception as failure:  # noqa: BLE001 - a failed send stays due: the claim is released
            error = str(failure)
        if error is not None:
            try:
                run.store.release(fingerprint=item.fingerprint, owner=run.owner)
            except StateError:
                pass
            reports.append(report(delivered=False, error=error))
            continue
        recorded_to = to if item.action is Action.TRIGGER else (item.record.key.get("to", "").split(",") if item.record else [])
        try:
            run.store.record(state=escalation_record(item, now=run.now, to=[t for t in recorded_to if t],
                                                     retention=run.retention), owner=run.owner)
        except StateError as failure:
            reports.append(report(delivered=True, to=to, error=f"sent, but not recorded: {failure}"))
            continue
        reports.append(report(delivered=True, to=to))
    return reports
