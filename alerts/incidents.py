"""What is open right now: the firing incidents from the notification records, grouped by cause (pure).

The records say what was sent; silences and acknowledgements say who is on it. An incident lives in its
cause's thread when its record says so (`caused_by`); a cause lists those as its effects.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any, Callable, Literal, Mapping, Sequence

from pydantic import BaseModel

from alerts.acks import holds
from alerts.message import when
from alerts.render_text import inert_text
from alerts.state import incidents_only
from core.model import ESCALATION_MONITOR, Acknowledgement, AlertState, Severity, Silence

_RANK = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


class Incident(BaseModel):
    fingerprint: str
    monitor: str
    key: dict[str, str]
    severity: Severity
    summary: str
    """The latest notice's summary."""
    since: datetime
    first_notified_at: datetime
    last_notified_at: datetime
    notices: int
    caused_by: str | None = None
    effects: list[str] = []
    silenced_by: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    ack_expires_at: datetime | None = None
    escalated_at: datetime | None = None
    """When it escalated (alerts/escalate.py: the mention, the PagerDuty trigger), and to whom."""
    escalated_to: list[str] = []
    state: Literal["firing", "no_data"] = "firing"
    """`no_data` when the latest runs kept it open only for lack of data (its record's `no_data_since`): its monitor had
    no data for it or could not judge it; `firing` while runs see it."""
    no_data_since: datetime | None = None
    """Since when (the first run that had no data for it)."""


def open_incidents(
    firing: Mapping[str, AlertState],
    *,
    acknowledgements: Mapping[str, Acknowledgement],
    silences: Sequence[Silence],
    now: datetime,
) -> list[Incident]:
    """Every open incident, causes first (worst, oldest first), each followed by its effects."""
    escalated = {s.key.get("incident"): s for s in firing.values() if s.monitor == ESCALATION_MONITOR and s.firing}
    open_ = {fp: s for fp, s in incidents_only(firing).items() if s.firing}
    effects: dict[str, list[str]] = {}
    for fp, state in open_.items():
        if state.caused_by in open_:
            effects.setdefault(state.caused_by, []).append(fp)

    def incident(state: AlertState) -> Incident:
        ack = acknowledgements.get(state.fingerprint)
        cause_ack = acknowledgements.get(state.caused_by or "")
        cause = open_.get(state.caused_by or "")
        if ack is None or not holds(ack, state=state, now=now):
            ack = cause_ack if cause is not None and cause_ack is not None and holds(cause_ack, state=cause, now=now) else None
        silence = next((s for s in silences if s.matches(monitor=state.monitor, key=state.key, severity=state.severity, now=now)), None)
        return Incident(
            fingerprint=state.fingerprint, monitor=state.monitor, key=dict(state.key), severity=state.severity,
            summary=state.summary, since=state.first_seen, first_notified_at=state.first_seen,
            last_notified_at=state.last_notified,
            # A resolved notice counts in notify_count; an open incident's notices are its first and repeats.
            notices=state.notify_count,
            caused_by=state.caused_by if state.caused_by in open_ else None,
            effects=sorted(effects.get(state.fingerprint, []), key=lambda fp: _order(open_[fp])),
            silenced_by=silence.id if silence else None,
            acknowledged_by=ack.by if ack else None, acknowledged_at=ack.at if ack else None,
            ack_expires_at=ack.expires_at if ack else None,
            escalated_at=escalated[state.fingerprint].first_seen if state.fingerprint in escalated else None,
            escalated_to=[t for t in escalated[state.fingerprint].key.get("to", "").split(",") if t]
            if state.fingerprint in escalated else [],
            state="no_data" if state.no_data_since is not None else "firing", no_data_since=state.no_data_since,
        )

    causes = sorted((s for s in open_.values() if s.caused_by not in open_), key=_order)
    listed: list[Incident] = []
    for cause in causes:
        listed.append(incident(cause))
        listed += [incident(open_[fp]) for fp in sorted(effects.get(cause.fingerprint, []), key=lambda fp: _order(open_[fp]))]
    return listed


def _order(state: AlertState) -> tuple[int, datetime, str]:
    return (_RANK[state.severity], state.first_seen, state.fingerprint)


def incidents_json(incidents: Sequence[Incident]) -> dict[str, Any]:
    """The `{"incidents": [...]}` of `main.py incidents --json` and GET /incidents."""
    return {"incidents": [i.model_dump(mode="json") for i in incidents]}


def incidents_text(incidents: Sequence[Incident], *, zone: tzinfo, clean: Callable[[object], str] = inert_text) -> list[str]:
    """One block per incident, effects indented under their cause; league time with UTC beside it.

    `clean` makes stored text inert for the console (summaries and key values came from sources)."""
    if not incidents:
        return ["no open incidents"]
    lines = []
    for item in incidents:
        indent = "    " if item.caused_by else ""
        where = ", ".join(f"{k}={clean(v)}" for k, v in sorted(item.key.items()))
        head = f"{indent}{item.fingerprint}  {item.severity.value:<8} {item.monitor}  {where}"
        lines.append(head + (f"  [{item.state}]" if item.state != "firing" else ""))
        lines.append(f"{indent}    {clean(item.summary)}")
        lines.append(
            f"{indent}    since {when(item.since, zone)}; {item.notices} notice(s), last {when(item.last_notified_at, zone)}"
        )
        if item.no_data_since:
            lines.append(f"{indent}    no data since {when(item.no_data_since, zone)}: its monitor had no data for it "
                         "or could not judge it")
        if item.caused_by:
            lines.append(f"{indent}    caused by {item.caused_by}")
        if item.effects:
            lines.append(f"{indent}    effects: {', '.join(item.effects)}")
        if item.acknowledged_by and item.acknowledged_at:
            until = f", until {when(item.ack_expires_at, zone)}" if item.ack_expires_at else ", until it resolves"
            lines.append(f"{indent}    acknowledged by {clean(item.acknowledged_by)} at {when(item.acknowledged_at, zone)}{until}")
        if item.silenced_by:
            lines.append(f"{indent}    silenced by {item.silenced_by}")
        if item.escalated_at:
            to = ", ".join(clean(t) for t in item.escalated_to) or "nobody (no mention, no routing key)"
            lines.append(f"{indent}    escalated at {when(item.escalated_at, zone)} to {to}")
    return lines
