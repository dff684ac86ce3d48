"""The daily digest: what it says (plain data) and how it reads as text and in Slack (pure rendering).

Once a day the first full scheduled run after the configured league-local time posts it: the open
incidents with links to their threads, tonight's slate, yesterday's pipeline latency, every monitor's
outcome, and "all clear" when nothing is open. Its absence is the heartbeat people notice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Callable, Mapping, Protocol, Sequence

from alerts.message import humanize, when
from alerts.notifier import Receipt
from alerts.render_text import Clean, SEVERITY_MARK, inert_text
from core.league_time import clock
from core.model import ESCALATION_MONITOR, AlertState, AlertStatus, Decision, Finding, Outcome, Reason, Severity

DIGEST_MONITOR = "digest"
"""The name a digest's record is kept under (its fingerprint is this and the league date)."""
RECORD_RETENTION = timedelta(days=7)
"""How long the record that says "today's digest was posted" is kept."""
MAX_INCIDENTS_LISTED = 30
"""Open incidents listed one per line; more are counted (they each have their own thread)."""


@dataclass(frozen=True)
class OpenEffect:
    """An open incident explained by another open one: counted under it, not an entry of its own."""

    monitor: str
    summary: str
    no_data_since: datetime | None = None


@dataclass(frozen=True)
class OpenIncident:
    severity: Severity
    monitor: str
    summary: str
    """The incident's current summary (this run's finding's), or its last notice's when this run did not see it."""
    since: datetime
    thread_url: str | None = None
    escalated_at: datetime | None = None
    """When it escalated (alerts/escalate.py), and to whom: the mention, "pagerduty"."""
    escalated_to: str | None = None
    effects: tuple[OpenEffect, ...] = ()
    no_data_since: datetime | None = None
    """Open only because its check has had no data since then: its record's `no_data_since` (the first run that
    kept it open for lack of data; this run, when it is the first)."""


def open_incidents(
    firing: Mapping[str, AlertState],
    *,
    findings: Sequence[Finding] | None,
    causes: Mapping[str, str],
    decisions: Sequence[Decision] = (),
    now: datetime,
    thread_url_of: Callable[[AlertState], str | None] = lambda state: None,
) -> list[OpenIncident]:
    """The open incidents after this run's decisions, one entry per incident with its effects counted under it (pure).

    `firing`: the records of open incidents (before this run's decisions in a dry run: `decisions` are applied
    here; after them in a run that delivered: pass none). An incident seen in this run shows this run's summary;
    one not seen, whose record is still open, is open only because its check had no data: "no data since"
    (`findings` None: this run's findings are not known, nothing is said about data)."""
    seen = {f.fingerprint: f for f in findings or ()}
    known = findings is not None
    escalated = {s.key.get("incident"): s for s in firing.values() if s.monitor == ESCALATION_MONITOR and s.firing}
    records = {
        fp: s for fp, s in firing.items() if s.firing and s.monitor not in (DIGEST_MONITOR, ESCALATION_MONITOR)
    }
    for decision in decisions:
        if decision.reason is Reason.RESOLVED:
            records.pop(decision.fingerprint, None)
        elif decision.finding is not None and decision.fingerprint not in records:
            records[decision.fingerprint] = AlertState.opened(decision.finding, now=now, channel=None, thread_ts=None)

    def cause_of(fingerprint: str) -> str | None:
        for cause in (causes.get(fingerprint), records[fingerprint].caused_by):
            if cause is not None and cause in records and cause != fingerprint:
                return cause
        return None

    def root(fingerprint: str) -> str:
        visited = {fingerprint}
        while (cause := cause_of(fingerprint)) is not None and cause not in visited:
            visited.add(cause)
            fingerprint = cause
        return fingerprint

    effects: dict[str, list[OpenEffect]] = {}
    roots = []
    for fingerprint, state in records.items():
        finding = seen.get(fingerprint)
        top = root(fingerprint)
        if top != fingerprint:
            effects.setdefault(top, []).append(OpenEffect(
                monitor=state.monitor, summary=finding.summary if finding else state.summary,
                no_data_since=(state.no_data_since or now) if known and finding is None else None,
            ))
        else:
            roots.append(state)
    return [
        OpenIncident(
            severity=(seen[s.fingerprint].severity if s.fingerprint in seen else s.severity), monitor=s.monitor,
            summary=seen[s.fingerprint].summary if s.fingerprint in seen else s.summary, since=s.first_seen,
            thread_url=thread_url_of(s), effects=tuple(sorted(effects.get(s.fingerprint, []), key=lambda e: e.monitor)),
            no_data_since=(s.no_data_since or now) if known and s.fingerprint not in seen else None,
            escalated_at=escalated[s.fingerprint].first_seen if s.fingerprint in escalated else None,
            escalated_to=(escalated[s.fingerprint].key.get("to") or "nobody (no routing key, no mention)")
            if s.fingerprint in escalated else None,
        )
        for s in sorted(roots, key=lambda s: (s.severity.rank, s.first_seen))
    ]


@dataclass(frozen=True)
class Slate:
    """Tonight's games: how many, the first tip-off, and when predictions are due."""

    games: int
    first_start: datetime | None
    predictions_due: datetime | None


@dataclass(frozen=True)
class Latency:
    """One game date's pipeline: when each phase completed, and raw-complete to published end to end."""

    game_date: date
    phases: list[tuple[str, datetime | None]]

    @property
    def end_to_end(self) -> timedelta | None:
        first, last = self.phases[0][1], self.phases[-1][1]
        return last - first if first is not None and last is not None else None


@dataclass(frozen=True)
class MonitorOutcome:
    name: str
    outcome: Outcome
    note: str | None = None


@dataclass(frozen=True)
class Digest:
    fingerprint: str
    league_date: date
    now: datetime
    zone: tzinfo
    incidents: list[OpenIncident]
    monitors: list[MonitorOutcome]
    slate: Slate | None = None
    latency: Latency | None = None
    problems: list[str] = field(default_factory=list)
    """What the digest could not read (the slate, the latency, the open incidents), said plainly."""

    @property
    def all_clear(self) -> bool:
        """Nothing open and every monitor answered."""
        return not self.incidents and all(m.outcome is not Outcome.ERROR for m in self.monitors)

    @property
    def title(self) -> str:
        state = "all clear" if self.all_clear else f"{len(self.incidents)} open incident(s)"
        return f"Daily digest for {self.league_date:%a %Y-%m-%d}: {state}"


class DigestNotifier(Protocol):
    """A Notifier that can post the daily digest (Slack, the local file)."""

    def send_digest(self, digest: Digest) -> Receipt: ...


def incident_line(incident: OpenIncident, zone: tzinfo, now: datetime) -> str:
    no_data = f"; no data since {clock(incident.no_data_since, zone)}" if incident.no_data_since else ""
    line = (
        f"{SEVERITY_MARK[incident.severity.value]} {incident.monitor}: {incident.summary} "
        f"(first notified {when(incident.since, zone)}, {humanize(now - incident.since)} ago{no_data})"
    ) + (
        f"; escalated {when(incident.escalated_at, zone)} to {incident.escalated_to}" if incident.escalated_at else ""
    )
    if incident.effects:
        line += f"; {len(incident.effects)} effect(s) under it: " + "; ".join(effect_words(e, zone) for e in incident.effects)
    return line


def effect_words(effect: OpenEffect, zone: tzinfo) -> str:
    """'phase_stalls: ...' or 'push_delivery: ... (no data since 17:30 EST)'."""
    no_data = f" (no data since {clock(effect.no_data_since, zone)})" if effect.no_data_since else ""
    return f"{effect.monitor}: {effect.summary}{no_data}"


def slate_line(digest: Digest) -> str:
    slate, zone = digest.slate, digest.zone
    if slate is None:
        return "Tonight's slate: not read (see below)"
    if slate.games == 0:
        return f"Tonight's slate: no games on {digest.league_date}"
    line = f"Tonight's slate: {slate.games} game(s)"
    if slate.first_start is not None:
        line += f", first tip-off {when(slate.first_start, zone)}"
    if slate.predictions_due is not None:
        line += f"; predictions due {when(slate.predictions_due, zone)}"
    return line


def latency_lines(digest: Digest) -> list[str]:
    latency, zone = digest.latency, digest.zone
    if latency is None:
        return ["Yesterday's pipeline: not read (see below)"]
    total = latency.end_to_end
    head = f"Pipeline latency for {latency.game_date}: " + (
        f"{humanize(total)} from {latency.phases[0][0]} complete to {latency.phases[-1][0]}" if total is not None
        else "did not run end to end"
    )
    lines = [head]
    for phase, moment in latency.phases:
        lines.append(f"{phase}: {when(moment, zone) if moment is not None else 'not complete'}")
    return lines


def render_digest_text(digest: Digest, clean: Clean = inert_text) -> str:
    """The digest as plain text (the console, notifications.jsonl, Slack's fallback); `clean` makes each
    value read from a source inert for where it is shown."""
    lines = [f"DIGEST {digest.title}"]
    if digest.all_clear:
        lines.append("  all clear: no open incident, every monitor answered")
    for incident in digest.incidents[:MAX_INCIDENTS_LISTED]:
        thread = f" thread: {clean(incident.thread_url)}" if incident.thread_url else ""
        lines.append(f"  open: {clean(incident_line(incident, digest.zone, digest.now))}{thread}")
    if len(digest.incidents) > MAX_INCIDENTS_LISTED:
        lines.append(f"  ...and {len(digest.incidents) - MAX_INCIDENTS_LISTED} more open incidents")
    lines.append(f"  {slate_line(digest)}")
    lines += [f"  {line}" for line in latency_lines(digest)]
    lines.append("  monitors: " + ", ".join(f"{clean(m.name)} {m.outcome.value}" + (f" ({clean(m.note)})" if m.note else "") for m in digest.monitors))
    lines += [f"  could not read: {clean(problem)}" for problem in digest.problems]
    lines.append(f"  as of {when(digest.now, digest.zone)}; fingerprint: {digest.fingerprint}")
    return "\n".join(lines)


def digest_record(digest: Digest, *, channel: str | None, ts: str | None, now: datetime) -> AlertState:
    """The record that says today's digest was posted: closed at once (it is never an open incident)."""
    return AlertState(
        fingerprint=digest.fingerprint, monitor=DIGEST_MONITOR, key={"league_date": digest.league_date.isoformat()},
        severity=Severity.INFO, summary=digest.title, status=AlertStatus.RESOLVED, first_seen=now, last_seen=now,
        last_notified=now, channel=channel, thread_ts=ts, resolved_at=now, expire_at=now + RECORD_RETENTION,
    )
