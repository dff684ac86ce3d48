"""The data every stage passes on: findings, monitor results, alert state, the run report."""

from __future__ import annotations

import enum
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidatorFunctionWrapHandler, field_validator, model_serializer

from core.fingerprint import fingerprint_of

CANARY_MONITOR = "canary"
"""The pseudo-monitor that owns "canary degraded" findings (a monitor that errored)."""
ESCALATION_MONITOR = "escalation"
"""The pseudo-monitor of escalation records (alerts/escalate.py): one per incident, firing while its page is open."""
CANARY_PROBLEMS = ("error", "invalid_setting", "corrupt_record")
"""Every `problem` a "canary degraded" finding can carry; each has its runbook entry in docs/runbook.md."""


class Severity(str, enum.Enum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """The one order of severities: 0 for the most urgent (critical), then warning, then info."""
        return list(Severity).index(self)


class Outcome(str, enum.Enum):
    OK = "ok"
    FIRING = "firing"
    NO_DATA = "no_data"
    ERROR = "error"


class Reason(str, enum.Enum):
    FIRST = "first"
    REPEAT = "repeat"
    RESOLVED = "resolved"
    DIGEST = "digest"
    """The daily all-clear: one digest per league date, claimed like an alert."""
    ESCALATION = "escalation"
    """An unacknowledged incident escalated (a mention, a PagerDuty event), or its page acknowledged or resolved."""


class AlertStatus(str, enum.Enum):
    FIRING = "firing"
    """Notified and not resolved."""
    RESOLVED = "resolved"
    """Its resolved notice was sent."""


class Finding(BaseModel):
    """One thing that is wrong, as a monitor saw it in this run."""

    model_config = ConfigDict(frozen=True)

    monitor: str
    severity: Severity
    key: dict[str, str]
    summary: str
    details: dict[str, Any] = Field(default_factory=dict)
    since: datetime | None = None
    """When the condition began (a stall's deadline, a due time), when the monitor can tell."""
    fix: str | None = None
    """What the reader should do, e.g. the exact gcloud command."""

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.monitor, self.key)

    @property
    def resolves_with(self) -> str:
        """The monitor whose successful run can resolve this finding."""
        return resolving_monitor(self.monitor, self.key)


def resolving_monitor(monitor: str, key: dict[str, str]) -> str:
    # A "canary degraded" finding is about another monitor: only that monitor's clean run clears it.
    if monitor == CANARY_MONITOR:
        return key.get("monitor", CANARY_MONITOR)
    return monitor


class CheckError(BaseModel):
    """One check of a monitor that could not be read (e.g. its table or a column does not exist): that
    check's own "canary degraded" finding; the monitor's other checks are judged as usual."""

    model_config = ConfigDict(frozen=True)

    target: str
    """The check that failed, as its findings name it (a table, a named check)."""
    error: str
    source: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    """The key labels every finding of this check carries (e.g. {"table": ...}): its open alerts stay open."""

    def holds(self, state: AlertState) -> bool:
        """Whether `state` is an alert of this check (so this run, which could not read it, must not resolve it)."""
        return bool(self.labels) and all(state.key.get(name) == value for name, value in self.labels.items())


class UnreadTarget(BaseModel):
    """A target a check could not read: its own "canary degraded" finding; its alerts neither fire nor resolve."""

    target: str
    source: str
    error: str


class Judged(BaseModel):
    """The targets (game dates, services) a check judged in this run: only their incidents can resolve."""

    label: str
    """The finding-key label that names a target: "game_date", "service"."""
    targets: list[str]
    unread: list[UnreadTarget] = Field(default_factory=list)
    without_data: list[dict[str, str]] = Field(default_factory=list)
    """Key labels of incidents a judged target had no data for (e.g. no push traffic): left alone, not healthy."""

    def leaves_alone(self, key: dict[str, str]) -> bool:
        """Whether this run says nothing about the incident with `key` (unread target, or no data for it)."""
        if key.get(self.label) in {u.target for u in self.unread}:
            return True
        return any(all(key.get(k) == v for k, v in labels.items()) for labels in self.without_data)

    @classmethod
    def game_dates(cls, dates: list[date]) -> Judged:
        return cls(label="game_date", targets=[d.isoformat() for d in dates])


class CheckResult(BaseModel):
    """What a monitor returns: its findings, or that it had nothing to judge."""

    findings: list[Finding] = Field(default_factory=list)
    no_data: bool = False
    no_data_reason: str | None = None
    judged: Judged | None = None
    """What this check judged; None: it judges everything it owns."""
    check_errors: list[CheckError] = Field(default_factory=list)
    """Checks of this monitor that could not be read; the runner turns each into a "canary degraded" finding."""

    @property
    def outcome(self) -> Outcome:
        if self.findings:
            return Outcome.FIRING
        return Outcome.NO_DATA if self.no_data else Outcome.OK

    def judged_nothing(self) -> UnreadTarget | None:
        """The first unread target when the check had targets and could read none of them (every service
        unread because the project's IAM policy was): the monitor is blind, which is its ERROR, never OK."""
        if self.judged is None or self.judged.targets or not self.judged.unread or self.findings:
            return None
        return self.judged.unread[0]


class MonitorResult(BaseModel):
    name: str
    outcome: Outcome
    duration_ms: float
    error: str | None = None
    source: str | None = None
    """The source that failed, for an ERROR outcome (bigquery, cloud_run, duckdb, iam_file...)."""
    note: str | None = None
    """Why there was nothing to judge, for a NO_DATA outcome (e.g. no games scheduled)."""
    findings: list[Finding] = Field(default_factory=list, exclude=True)
    judged: Judged | None = Field(default=None, exclude=True)
    check_errors: list[CheckError] = Field(default_factory=list, exclude=True)


class ShownLink(BaseModel):
    """One link of a parent: a map, not a [label, url] pair, because a Firestore array cannot hold another array
    (https://cloud.google.com/firestore/docs/concepts/data-types)."""

    label: str
    url: str


class ShownFact(BaseModel):
    """One detail line of a parent ("last change: ReplaceService by ..."): a map, as a link is."""

    name: str
    value: str


class Shown(BaseModel):
    """What an incident's parent showed that the rest of its record does not hold, as its latest notice said it:
    kept so that a parent rebuilt from the record alone (a click, `main.py ack`) still shows the evidence, the
    details, the fix and the links. Raw text as the finding said it (made inert where it is shown), cut to what
    Slack can show."""

    evidence: str | None = None
    facts: list[ShownFact] = Field(default_factory=list)
    fix: str | None = None
    links: list[ShownLink] = Field(default_factory=list)


class AlertState(BaseModel):
    """The notification record of one fingerprint: what was sent, never what is true."""

    fingerprint: str
    monitor: str
    key: dict[str, str]
    severity: Severity
    summary: str
    status: AlertStatus = AlertStatus.FIRING
    first_seen: datetime
    last_seen: datetime
    last_notified: datetime
    notify_count: int = 1
    channel: str | None = None
    thread_ts: str | None = None
    resolved_at: datetime | None = None
    expire_at: datetime | None = None
    version: int = 0
    group: list[str] = Field(default_factory=list)
    """The fingerprints listed in the summary message that is this incident's thread (empty: its own thread)."""
    caused_by: str | None = None
    """The cause whose thread this incident lives in (an explained finding posted as a reply there), or None."""
    own_parent_at: datetime | None = None
    """When an effect that outlived its cause got its own parent message (None: it had one from its first
    notice): an escalation counts from here."""
    since: datetime | None = None
    """When the condition began, as its finding said (the first failed push, the stall's deadline); None: not said."""
    no_data_since: datetime | None = None
    """When a run first kept this open incident open only for lack of data (its monitor had no data for it, or could
    not judge it); None while runs see it (a later sighting clears it). Written without a notice (`mark_no_data`)."""
    shown: Shown | None = None
    """What its parent showed beyond the rest of this record (evidence, details, fix, links), written with each
    notice; None in a record written before it was kept (or unreadable): its parent is then rebuilt without them."""

    @field_validator("shown", mode="wrap")
    @classmethod
    def _shown_or_none(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Shown | None:
        # Only shown, never compared: a malformed copy costs the rebuilt parent its details, not the record.
        try:
            return handler(value)
        except ValidationError:
            return None

    @property
    def began(self) -> datetime:
        """When the condition began: its finding's `since`, else its first notice."""
        return min(self.since, self.first_seen) if self.since is not None else self.first_seen

    @property
    def resolves_with(self) -> str:
        return resolving_monitor(self.monitor, self.key)

    @property
    def firing(self) -> bool:
        return self.status is AlertStatus.FIRING

    @classmethod
    def opened(
        cls, finding: Finding, *, now: datetime, channel: str | None, thread_ts: str | None,
        version: int = 0, group: list[str] | None = None, caused_by: str | None = None,
    ) -> AlertState:
        """The record after a first notice (a new incident, or one that fired again after resolving)."""
        return cls(
            fingerprint=finding.fingerprint, monitor=finding.monitor, key=finding.key, severity=finding.severity,
            summary=finding.summary, status=AlertStatus.FIRING, first_seen=now, last_seen=now, last_notified=now,
            notify_count=1, channel=channel, thread_ts=thread_ts, version=version, group=group or [], caused_by=caused_by,
            since=finding.since,
        )

    def repeated(self, finding: Finding, *, now: datetime) -> AlertState:
        """The record after a repeat notice."""
        return self.model_copy(update={
            "severity": finding.severity, "summary": finding.summary, "last_seen": now, "last_notified": now,
            "notify_count": self.notify_count + 1, "since": self.since or finding.since, "no_data_since": None,
        })

    def resolved(self, *, now: datetime, retention: timedelta) -> AlertState:
        """The record after the resolved notice; it expires `retention` later."""
        return self.model_copy(update={
            "status": AlertStatus.RESOLVED, "resolved_at": now, "last_notified": now,
            "notify_count": self.notify_count + 1, "expire_at": now + retention, "no_data_since": None,
        })


class Silence(BaseModel):
    id: str
    matchers: dict[str, str]
    author: str
    reason: str
    created_at: datetime
    expires_at: datetime
    ended_by: str | None = None
    """Who ended it early (`main.py unsilence`); expires_at is then the moment it was ended."""

    def matches(self, *, monitor: str, key: dict[str, str], now: datetime, severity: Severity | None = None) -> bool:
        if now >= self.expires_at:
            return False
        labels = {"monitor": monitor, **key}
        if severity is not None:
            labels["severity"] = severity.value
        return all(labels.get(name) == value for name, value in self.matchers.items())

    def ended(self, *, now: datetime, by: str) -> Silence:
        """This silence ended early at `now`: kept on record, no longer active."""
        return self.model_copy(update={"expires_at": min(now, self.expires_at), "ended_by": by})


class Decision(BaseModel):
    """Why one fingerprint notifies in this run (decide's answer)."""

    fingerprint: str
    reason: Reason
    finding: Finding | None = None
    previous: AlertState | None = None
    note: str | None = None
    """Why a resolved incident closes without being seen healthy (its game date is no longer checked), or
    "escalated" for a repeat sent at once because the finding's severity rose."""
    caused_by: str | None = None
    """The firing finding that explains this one (alerts/causes.py), whatever thread this notice goes to."""
    cause: AlertState | None = None
    """The cause's record as this run read it (None when the cause is new in this run or never notified)."""
    cause_finding: Finding | None = None
    """The cause as this run saw it firing (its title for "caused by")."""
    in_cause_thread: bool = False
    """Post this first notice as a reply in the cause's thread, when the cause has one."""
    affects: list[Finding] = Field(default_factory=list)
    """The firing findings this one explains: its parent and repeats name them ("also affected")."""
    affects_without_data: list[AlertState] = Field(default_factory=list)
    """The open incidents in its thread that this run had no data for (not seen, not resolved): named too, with
    "no data since"."""
    detached: bool = False
    """A repeat that leaves its resolved cause's thread: it gets its own new parent."""
    covered_by: str | None = None
    """Who acknowledged its cause, for an escalation sent although that acknowledgement covers its repeats."""

    def next_record(
        self, *, now: datetime, retention: timedelta, channel: str | None, thread_ts: str | None,
        group: list[str] | None = None, caused_by: str | None = None,
    ) -> AlertState:
        """The notification record to write once this decision's notice was delivered.

        `channel`/`thread_ts` name the thread the notice started or joined; `caused_by` is the cause
        whose thread a first notice joined (None: it is its own thread)."""
        previous = self.previous
        if self.reason is Reason.RESOLVED:
            assert previous is not None
            return previous.resolved(now=now, retention=retention)
        assert self.finding is not None
        if self.reason is Reason.REPEAT and previous is not None:
            repeated = previous.repeated(self.finding, now=now)
            if self.detached:
                return repeated.model_copy(update={
                    "channel": channel, "thread_ts": thread_ts, "caused_by": caused_by, "group": [], "own_parent_at": now,
                })
            return repeated
        return AlertState.opened(
            self.finding, now=now, channel=channel, thread_ts=thread_ts,
            version=previous.version if previous else 0, group=group, caused_by=caused_by,
        )


class NotificationReport(BaseModel):
    fingerprint: str
    reason: Reason
    delivered: bool
    error: str | None = None
    skipped: str | None = None
    """Why a due notification was not sent by this run (e.g. another run claimed it first)."""
    monitor: str | None = None
    key: dict[str, str] | None = None
    summary: str | None = None
    """What the notice is about (also in a dry run, which sends nothing)."""
    text: str | None = Field(default=None, exclude=True)
    """The notice rendered as the console shows it (a dry run's preview; not in the JSON report)."""
    event: str | None = None
    """An escalation's PagerDuty event: trigger, acknowledge or resolve."""
    why: str | None = None
    """Why an escalation happened now (e.g. unacknowledged 45m after its first notice)."""
    to: list[str] | None = None
    """Whom an escalation reached: the mention, "pagerduty" (none: recorded and shown only)."""

    @model_serializer(mode="wrap")
    def _escalation_fields_only_on_escalations(self, handler: Any) -> dict[str, Any]:
        # A notice's report keeps its shape; only an escalation's carries event, why and to.
        data = handler(self)
        if self.reason is not Reason.ESCALATION:
            for name in ("event", "why", "to"):
                data.pop(name, None)
        return data


class FindingReport(BaseModel):
    fingerprint: str
    monitor: str
    severity: Severity
    key: dict[str, str]
    summary: str
    details: dict[str, Any]
    since: datetime | None = None
    fix: str | None = None
    silenced_by: str | None = None
    caused_by: str | None = None
    """The fingerprint of the firing finding that explains this one (the pipeline's topology), or None."""
    acknowledged_by: str | None = None
    """Who acknowledged it (or its cause): its repeats are not sent while that holds."""

    @classmethod
    def of(
        cls, finding: Finding, *, silenced_by: str | None = None, caused_by: str | None = None,
        acknowledged_by: str | None = None,
    ) -> FindingReport:
        return cls(
            fingerprint=finding.fingerprint, silenced_by=silenced_by, caused_by=caused_by,
            acknowledged_by=acknowledged_by, **finding.model_dump(),
        )


class Gate(BaseModel):
    """`--fail-on` / `fail_on`: whether a finding at or above a severity fired in this run and is not silenced
    (an acknowledged one still counts: it is still broken)."""

    fail_on: Severity
    failed: bool
    fingerprints: list[str]

    @classmethod
    def of(cls, findings: list[FindingReport], *, fail_on: Severity) -> Gate:
        hits = sorted({f.fingerprint for f in findings if f.severity.rank <= fail_on.rank and f.silenced_by is None})
        return cls(fail_on=fail_on, failed=bool(hits), fingerprints=hits)


class RunReport(BaseModel):
    run_id: str
    now: datetime
    today: date
    dry_run: bool
    monitors: list[MonitorResult]
    findings: list[FindingReport]
    notifications: list[NotificationReport]
    state_error: str | None = None
    """The alert state could not be read: nothing was deduplicated or recorded, one blind notice listing the
    run's findings was sent instead, and the run counts as failed."""
    digest: str | None = None
    """The daily digest's text, when this run posted it (or, in a dry run, would have)."""
    gate: Gate | None = None
    """The run's gate, when the caller asked for one (`--fail-on`, `fail_on`)."""

    @property
    def delivery_failed(self) -> bool:
        return self.state_error is not None or any(n.error is not None for n in self.notifications)


class Acknowledgement(BaseModel):
    """Someone has an open incident in hand: its repeats stop (alerts/acks.py says for how long).

    Tied to one incident (`incident_since`: its record's first_seen when acknowledged), not to the run
    clock: an incident that resolves and fires again is a new incident, unacknowledged."""

    fingerprint: str
    by: str
    """Who: a person's name from the CLI, or `slack:<user id>` from a button."""
    at: datetime
    incident_since: datetime
    severity: Severity
    """The incident's severity when acknowledged: a rise above it ends the acknowledgement."""
    expires_at: datetime | None = None
    """None: until the incident resolves."""
    ended_by: str | None = None
    ended_at: datetime | None = None
    """Ended early (`main.py unack`, the Unacknowledge button): kept on record, no longer in force."""
