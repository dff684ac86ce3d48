"""The notice pipeline, assembled once: load -> decide -> plan -> deliver (or the blind path, or a dry run).

Every caller goes through `notify`: a scheduled or operator's run (run/steps.py), each tick of a replay
(run/replay.py), the test alert (run/synthetic.py); the daily digest goes through the same deliver stage
(claim -> send -> record) as `Digest` job of `notify`.

load      the notification records of this run's findings and every firing incident, and the silences
decide    each fingerprint's reason (alerts/decide.py: first, repeat, resolved; repeat intervals, silences,
          coverage), the checks a monitor could not read (they neither fire nor resolve), which finding
          explains which (alerts/causes.py) and then threading by cause, given what is silenced and due
plan      each due notice with its message, in one presentation (league time zone, links)
deliver   claim -> send -> record each notice (alerts/deliver.py); a dry run renders and sends nothing;
          the blind path (the records cannot be read) sends one undeduplicated notice naming the store

Pure stages take their inputs as arguments; only load and deliver touch the store and the notifier.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import AbstractSet, Callable, Mapping, Sequence

from alerts.acks import acks_in_force
from alerts.causes import causes_of, thread_by_cause
from alerts.decide import Decisions, decide
from alerts.deliver import DeliveryPlan, Presentation, claim_send_record, deliver, plan, send_without_state
from alerts.digest import Digest, DigestNotifier, OpenIncident, Slate, digest_record, open_incidents, render_digest_text
from alerts.escalate import Escalation, EscalationRun, Pager, deliver_escalations, escalation_fingerprint, escalations
from alerts.impact import impact_line, reaches_predictions
from alerts.links import RUNBOOK_LABEL, runbook_url, thread_url
from alerts.notifier import Notifier
from alerts.render_text import render_text
from alerts.silences import silence_for
from alerts.state import StateError, StateStore, incidents_only, records_for_decide
from core.config import AlertsConfig, EscalationConfig, LinksConfig, Pipeline
from core.degraded import degraded
from core.model import (
    Acknowledgement, CANARY_MONITOR, ESCALATION_MONITOR, AlertState, CheckError, Decision, Finding, Judged, MonitorResult,
    NotificationReport, Outcome, Reason,
    Severity, Silence,
)

ALERT_STATE = "alert_state"
"""The pseudo-monitor of the canary's own notification records."""
MAX_FINDINGS_LISTED = 15
"""Findings listed in the blind notice; more are counted (they are in the run report)."""


@dataclass(frozen=True)
class Judgement:
    """What this run judged: which monitors ran cleanly (they may resolve what they own), the targets each
    judged, and the checks each could not read (they neither fire nor resolve)."""

    succeeded: frozenset[str]
    coverage: Mapping[str, Judged] = field(default_factory=dict)
    unread: Mapping[str, Sequence[CheckError]] = field(default_factory=dict)
    errored: frozenset[str] = frozenset()
    """The monitors that ran and could not judge (ERROR): what they own stays open for lack of data."""

    @classmethod
    def of(cls, results: Sequence[MonitorResult], *, also: AbstractSet[str] = frozenset()) -> Judgement:
        """From the monitors' results; `also`: pseudo-monitors this run judged besides (its settings, its state)."""
        clean = [r for r in results if r.outcome is not Outcome.ERROR]
        return cls(
            succeeded=frozenset(r.name for r in clean) | frozenset(also),
            coverage={r.name: r.judged for r in clean if r.judged is not None},
            unread={r.name: r.check_errors for r in results if r.check_errors},
            errored=frozenset(r.name for r in results if r.outcome is Outcome.ERROR),
        )


@dataclass(frozen=True)
class DigestJob:
    """The daily digest, due in this run: `compose` turns the open incidents into the digest."""

    fingerprint: str
    compose: Callable[[list[OpenIncident]], Digest]
    links: LinksConfig


@dataclass(frozen=True)
class NoticeRun:
    """Where and how one run's notices go."""

    store: StateStore
    notifier: Notifier
    owner: str
    """The run id: who holds the claims."""
    now: datetime
    alerts: AlertsConfig
    pipeline: Pipeline
    channel_for: Callable[[Severity], str | None]
    presentation: Presentation = Presentation()
    dry_run: bool = False
    scheduled: bool = True
    """A scheduled run retires incidents of targets its monitors no longer check; an operator's run for one
    date leaves them alone."""
    store_check: str | None = None
    """The command that shows whether the store answers: given, an unreadable store takes the blind path;
    None, the StateError reaches the caller (the test alert reports it)."""
    monitors: frozenset[str] | None = None
    """Only the records of these monitors take part (the test alert: its own incidents only)."""
    silences: bool = True
    """Whether the store's silences apply (the test alert proves delivery: no silence hides it)."""
    escalation: EscalationConfig | None = None
    """[escalation]: None, nothing escalates (alerts/escalate.py)."""
    pager: Pager | None = None
    """PagerDuty's Events API (None: no routing key; an escalation is recorded and shown, nobody paged)."""
    pager_source: str = ""
    """PagerDuty's payload.source: the pipeline's project."""
    predictions_due: datetime | None = None
    """When tonight's predictions are due (the slate), for [escalation] at_once_when_predictions_due_within."""
    slate: Callable[[], Slate | None] | None = None
    """Tonight's slate, read once per run (the digest shares the read): called only when a parent's chain reaches
    the predictions, for its first line (the impact and the time left); None or an unreadable slate: no such line."""


@dataclass
class Noticed:
    """What the pipeline did: the run's findings (with the canary's own about its state added), each
    notice planned and what happened to it."""

    findings: list[Finding]
    plans: list[DeliveryPlan]
    notifications: list[NotificationReport]
    silenced: dict[str, str] = field(default_factory=dict)
    caused_by: dict[str, str] = field(default_factory=dict)
    """effect fingerprint -> the fingerprint of the firing finding that explains it."""
    acknowledged: dict[str, str] = field(default_factory=dict)
    """fingerprint -> who acknowledged it (or its cause): its repeats were not sent."""
    state_error: str | None = None
    """Set on the blind path: the alert state was unreadable."""
    digest: NotificationReport | None = None
    digest_text: str | None = None
    escalations: list[NotificationReport] = field(default_factory=list)
    """Escalation events due in this run (trigger, acknowledge, resolve) and what happened to each."""


def notify(
    run: NoticeRun, *, findings: Sequence[Finding], judgement: Judgement, digest: DigestJob | None = None,
) -> Noticed:
    """The whole chain for one run's findings: load -> decide -> plan -> deliver (or the blind path)."""
    findings = list(findings)
    # load
    try:
        previous = records_for_decide(run.store, fingerprints=[f.fingerprint for f in findings])
        silences = run.store.silences(now=run.now) if run.silences else []
        acknowledgements = run.store.acknowledgements(fingerprints=previous) if run.silences else {}
    except StateError as error:
        if run.store_check is None:
            raise
        return blind(run, findings=findings, error=str(error))
    if run.monitors is not None:
        previous = {fp: s for fp, s in previous.items() if s.monitor in run.monitors}
    corrupt = dict(getattr(previous, "corrupt", {}))
    findings += [corrupt_record_finding(fp, why) for fp, why in sorted(corrupt.items())]
    # decide
    decisions, causes = decide_all(
        run, findings=findings, previous=previous, silences=silences, judgement=judgement,
        acknowledgements=acknowledgements,
    )
    # plan (tonight's slate read first when a parent's chain reaches the predictions)
    presentation = with_impacts(run, [*decisions.notify, *decisions.refresh])
    plans = plan(decisions.notify, now=run.now, presentation=presentation)
    refresh = plan(decisions.refresh, now=run.now, presentation=presentation)
    # deliver
    if run.dry_run:
        reports = rendered(plans)
    else:
        reports = deliver(
            plans, store=run.store, notifier=run.notifier, owner=run.owner, now=run.now, alerts=run.alerts,
            channel_for=run.channel_for, refresh=refresh, corrupt=corrupt, presentation=presentation,
        )
        mark_no_data(run, marks=decisions.no_data, previous=previous, recorded={r.fingerprint for r in reports if r.delivered})
    # Every firing finding a silence covers, whether or not a notice was due (the gate counts only the others).
    silenced = {f.fingerprint: s.id for f in findings if (s := silence_for(f, silences, now=run.now)) is not None}
    noticed = Noticed(
        findings=findings, plans=plans, notifications=[_described(r, p) for r, p in zip(reports, plans)],
        silenced={**silenced, **decisions.silenced}, caused_by=causes, acknowledged=decisions.acknowledged,
    )
    if run.escalation is not None and run.monitors is None:
        noticed.escalations = escalate(run, findings=findings, causes=causes)
    if digest is not None:
        # A dry run's digest is the one this run would leave behind: its decisions applied to the open incidents.
        noticed.digest, noticed.digest_text = post_digest(
            run, digest, findings=findings, causes=causes, decisions=decisions.notify if run.dry_run else (),
        )
    return noticed


def mark_no_data(
    run: NoticeRun, *, marks: Mapping[str, datetime | None], previous: Mapping[str, AlertState], recorded: AbstractSet[str],
) -> None:
    """Write decide()'s no-data marks (only the changes) on the records as this run read them: a record whose notice
    this run recorded already says it (a repeat clears the mark). A failed write is left to the next run, which
    decides the mark again from the record."""
    for fingerprint, since in sorted(marks.items()):
        state = previous.get(fingerprint)
        if state is None or fingerprint in recorded:
            continue
        try:
            run.store.mark_no_data(fingerprint=fingerprint, expected_version=state.version, since=since)
        except StateError:
            continue


def escalate(run: NoticeRun, *, findings: Sequence[Finding], causes: Mapping[str, str]) -> list[NotificationReport]:
    """After this run's notices: load -> the escalations due (pure) -> claim, show, page, record each."""
    assert run.escalation is not None
    try:
        firing = run.store.load_firing()
        incidents = incidents_only(firing)
        on_file = {s.key["incident"]: s for s in firing.values() if s.monitor == ESCALATION_MONITOR and "incident" in s.key}
        earlier = run.store.load(fingerprints=[escalation_fingerprint(f.fingerprint) for f in findings])
        for record in earlier.values():
            if record.monitor == ESCALATION_MONITOR and "incident" in record.key:
                on_file.setdefault(record.key["incident"], record)
        silences = run.store.silences(now=run.now) if run.silences else []
        acknowledged = acknowledged_incidents(run.store, incidents, now=run.now)
    except StateError as error:
        return [NotificationReport(fingerprint=ESCALATION_MONITOR, reason=Reason.ESCALATION, delivered=False,
                                   error=f"state store: {error}")]
    items = escalations(
        records=incidents, escalated=on_file, findings=findings, acknowledged=acknowledged, silences=silences,
        policy=run.escalation, now=run.now, causes=causes, predictions_due=run.predictions_due, triggers=run.scheduled,
    )
    if run.dry_run:
        return [
            NotificationReport(fingerprint=i.incident, reason=Reason.ESCALATION, delivered=False, event=i.action.value,
                               why=i.reason, skipped="dry run")
            for i in items
        ]
    links = run.presentation.links

    def links_of(item: Escalation) -> list[tuple[str, str]]:
        found = []
        state = item.state
        if links is not None and state is not None:
            thread = thread_url(links.links, state.channel, state.thread_ts)
            if thread:
                found.append(("Slack thread", thread))
            found.append((RUNBOOK_LABEL, runbook_url(links, state.monitor, state.key.get("problem"))))
        return found

    return deliver_escalations(items, run=EscalationRun(
        store=run.store, notifier=run.notifier, owner=run.owner, now=run.now, lease=run.alerts.claim_lease,
        retention=run.alerts.resolved_retention, policy=run.escalation, pager=run.pager, source=run.pager_source,
        links_of=links_of,
    ))


def acknowledged_incidents(store: StateStore, incidents: Mapping[str, AlertState], *, now: datetime) -> dict[str, str]:
    """incident -> who acknowledged it, for the acknowledgements in force (alerts/acks.py)."""
    acks = store.acknowledgements(fingerprints=list(incidents))
    return {fp: ack.by for fp, ack in acks_in_force(acks, incidents, now=now).items()}


def decide_all(
    run: NoticeRun,
    *,
    findings: Sequence[Finding],
    previous: Mapping[str, AlertState],
    silences: Sequence[Silence],
    judgement: Judgement,
    acknowledgements: Mapping[str, Acknowledgement] | None = None,
) -> tuple[Decisions, dict[str, str]]:
    """The pure decision of one run: what is due, threaded by cause, and each explained finding's cause."""
    now, repeat_after = run.now, run.alerts.repeat_after
    causes = causes_of(run.pipeline, findings)
    decisions = decide(
        previous=previous,
        findings=findings,
        succeeded=set(judgement.succeeded),
        repeat_after=repeat_after,
        now=now,
        silences=silences,
        coverage=dict(judgement.coverage),
        # An operator's check of one date must not close what the scheduled runs are watching.
        retire_uncovered=run.scheduled,
        acknowledgements=acknowledgements,
        causes=causes,
        errored=judgement.errored,
        # A check its monitor could not read neither fires nor resolves its alerts.
        unread=judgement.unread,
    )
    muted = {}
    for f in findings:
        silence = silence_for(f, silences, now=now)
        if f.fingerprint in decisions.silenced or silence is not None:
            muted[f.fingerprint] = decisions.silenced.get(f.fingerprint) or silence.id  # type: ignore[union-attr]
    # An effect in its cause's thread is due again when its own interval has passed since the cause's last
    # notice (which named it).
    due_in_cause_thread = set()
    for finding in findings:
        state = previous.get(finding.fingerprint)
        named = previous.get(state.caused_by) if state is not None and state.firing and state.caused_by else None
        if named is not None and now - named.last_notified >= repeat_after.for_severity(finding.severity):
            due_in_cause_thread.add(finding.fingerprint)
    threaded = thread_by_cause(
        decisions, previous=previous, findings=findings, causes=causes, muted=muted,
        due_in_cause_thread=due_in_cause_thread,
        grace_over=grace_over(previous=previous, findings=findings, decisions=decisions, alerts=run.alerts, now=now),
    )
    return threaded, causes


def with_impacts(run: NoticeRun, decisions: Sequence[Decision]) -> Presentation:
    """The run's presentation with each parent's impact line, when its chain reaches tonight's predictions."""
    tonight = run.now.astimezone(run.presentation.zone).date()
    reaching = [d for d in decisions if reaches_predictions(run.pipeline, d, tonight)]
    slate = run.slate() if reaching and run.slate is not None else None
    if slate is None:
        return run.presentation
    impacts = {
        d.fingerprint: line for d in reaching
        if (line := impact_line(d, slate=slate, now=run.now, zone=run.presentation.zone, tonight=tonight)) is not None
    }
    return replace(run.presentation, impacts=impacts)


def grace_over(
    *, previous: Mapping[str, AlertState], findings: Sequence[Finding], decisions: Decisions, alerts: AlertsConfig,
    now: datetime,
) -> set[str]:
    """The effects still firing in the thread of a cause that has ended whose grace has passed (pure).

    The grace runs from the moment the cause resolved (now, when it resolves in this run) for the effect's own
    repeat interval (or `alerts.effect_grace`): within it the effect stays in the cause's thread, where it
    resolves if it clears; after it, it gets a parent of its own. A cause whose record is gone: no grace."""
    resolving = {d.fingerprint for d in decisions.notify if d.reason is Reason.RESOLVED}
    over = set()
    for finding in findings:
        state = previous.get(finding.fingerprint)
        if state is None or not state.firing or not state.caused_by:
            continue
        cause = previous.get(state.caused_by)
        if cause is not None and cause.firing and cause.fingerprint not in resolving:
            continue  # the cause is open: no grace to run
        ended = now if cause is not None and cause.fingerprint in resolving else (cause.resolved_at if cause else None)
        if ended is None or now >= ended + alerts.grace_for(finding.severity):
            over.add(finding.fingerprint)
    return over


def blind(run: NoticeRun, *, findings: list[Finding], error: str) -> Noticed:
    """The records cannot be read: nothing can be deduplicated, claimed or recorded. Say so once per run,
    with this run's findings, rather than stay silent (or post every finding again) until the store answers."""
    notice = state_unreadable_finding(source=run.store.source, error=error, findings=findings, check=run.store_check)
    findings = [*findings, notice]
    plans = plan([Decision(fingerprint=notice.fingerprint, reason=Reason.FIRST, finding=notice)], now=run.now,
                 presentation=run.presentation)
    if run.dry_run:
        reports = rendered(plans)
    else:
        reports = [send_without_state(item, notifier=run.notifier) for item in plans]
    return Noticed(
        findings=findings, plans=plans, notifications=[_described(r, p) for r, p in zip(reports, plans)],
        state_error=error,
    )


def post_digest(
    run: NoticeRun, job: DigestJob, *, findings: Sequence[Finding] | None = None, causes: Mapping[str, str] | None = None,
    decisions: Sequence[Decision] = (),
) -> tuple[NotificationReport | None, str | None]:
    """Today's digest when not yet posted: (its report, its text), or (None, None) when posted earlier.

    `findings`/`causes`: this run's (current summaries, effects counted under their cause, "no data since" for
    an incident this run did not see); `decisions`: applied first (a dry run's, which recorded nothing)."""

    def report(**fields: object) -> NotificationReport:
        return NotificationReport(fingerprint=job.fingerprint, reason=Reason.DIGEST, **fields)  # type: ignore[arg-type]

    try:
        if run.store.load(fingerprints=[job.fingerprint]):
            return None, None  # posted earlier today
        firing = run.store.load_firing()
    except StateError as error:
        return report(delivered=False, error=f"state store: {error}"), None
    incidents = open_incidents(
        firing, findings=findings, causes=causes or {}, decisions=decisions, now=run.now,
        thread_url_of=lambda s: thread_url(job.links, s.channel, s.thread_ts),
    )
    digest = job.compose(incidents)
    text = render_digest_text(digest)
    if run.dry_run:
        return report(delivered=False), text
    if not hasattr(run.notifier, "send_digest"):
        return report(delivered=False, skipped="this notifier cannot post a digest"), text
    sender: DigestNotifier = run.notifier  # type: ignore[assignment]
    return claim_send_record(
        fingerprint=job.fingerprint, reason=Reason.DIGEST, store=run.store, owner=run.owner, now=run.now,
        lease=run.alerts.claim_lease, send=lambda: sender.send_digest(digest),
        record=lambda receipt: digest_record(digest, channel=receipt.channel, ts=receipt.ts, now=run.now),
    ), text


def rendered(plans: list[DeliveryPlan]) -> list[NotificationReport]:
    """A dry run's deliver stage: each notice rendered as the console shows it, nothing sent."""
    return [
        NotificationReport(fingerprint=p.decision.fingerprint, reason=p.decision.reason, delivered=False,
                           text=render_text(p.message))
        for p in plans
    ]


def _described(notice: NotificationReport, item: DeliveryPlan) -> NotificationReport:
    decision = item.decision
    about = decision.finding or decision.previous
    return notice.model_copy(update={
        "monitor": item.message.monitor,
        "key": dict(about.key) if about is not None else None,
        "summary": about.summary if about is not None else item.message.title,
    })


def corrupt_record_finding(fingerprint: str, error: str) -> Finding:
    """One notification record cannot be read: its incident's notices start again (as firsts), and this says so."""
    return degraded(
        {"monitor": ALERT_STATE, "record": fingerprint, "problem": "corrupt_record"},
        f"Canary degraded: the notification record {fingerprint} is corrupt",
        {"record": fingerprint, "error": error},
        (
            f"The canary replaces the record the next time that incident notifies (as a first notice, in a new "
            f"thread); until then a resolution of it cannot be sent. Delete the record {fingerprint} to clear this."
        ),
    )


def state_unreadable_finding(*, source: str, error: str, findings: list[Finding], check: str | None = None) -> Finding:
    """The run could not read its alert state: it cannot deduplicate, so it lists what it found instead."""
    listed = [f"{f.severity.value}: {f.summary}" for f in findings[:MAX_FINDINGS_LISTED]]
    if len(findings) > MAX_FINDINGS_LISTED:
        listed.append(f"... and {len(findings) - MAX_FINDINGS_LISTED} more (in the run report)")
    return Finding(
        monitor=CANARY_MONITOR,
        severity=Severity.CRITICAL,
        key={"monitor": ALERT_STATE, "problem": "error"},
        summary=(
            f"Canary degraded: its alert state ({source}) is unreadable; "
            f"{len(findings)} finding(s) of this run could not be deduplicated"
        ),
        details={
            "source": source, "error": error, "findings_this_run": listed or ["none"],
            "check_first": f"that {source} answers and that the canary's service account may use it (roles/datastore.user)",
            "effect": (
                "until then no alert is deduplicated or recorded: this notice repeats on every run, with that run's "
                "findings, and the run fails (HTTP 503) so Cloud Scheduler retries it"
            ),
        },
        fix=check or "python main.py silences",
    )
