"""One run as named steps: collect -> decide -> deliver -> digest -> report. The clock comes in as `now`.

collect   run the selected monitors (concurrently, each with a timeout) and turn errors into
          "canary degraded" findings
decide    read the notification records and silences, and give each fingerprint its reason (pure decide),
          then thread explained findings under their causes (pure, alerts/causes.py)
deliver   claim, send and record each due notice (or, in a dry run, render and send nothing)
digest    once a day, the first full run at or after [digest] at posts the daily digest (run/digest.py)
report    the RunReport the caller gets back

When the alert state cannot be read, decide and deliver take the blind path: one undeduplicated
notice that names the store and lists this run's findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from typing import Any, Callable, Mapping, Sequence

from alerts.causes import causes_of, thread_by_cause
from alerts.decide import Decisions, decide
from alerts.links import LinkContext
from alerts.deliver import DeliveryPlan, deliver, plan, send_without_state
from alerts.notifier import Notifier
from alerts.render_text import render_text
from alerts.state import StateError, StateStore, records_for_decide
from core.config import CanaryConfig
from core.model import (
    Acknowledgement, CANARY_MONITOR, AlertState, Decision, Finding, FindingReport, MonitorResult, NotificationReport, Outcome, Reason,
    RunReport, Silence,
)
from core.secrets import scrub
from monitors.base import CheckContext, Sources
from monitors.registry import MONITORS, known_names
from run.digest import post_digest
from run.runner import (
    ALERT_STATE, CANARY_KEY_LABELS, SETTINGS_CHECK, check_degraded_finding, corrupt_record_finding, degraded_finding,
    retry_command, run_monitors, setting_finding, state_unreadable_finding, store_check_command, unread_target_findings,
)


class RequestError(ValueError):
    """The caller asked for something that cannot run (unknown monitor, bad date)."""


@dataclass(frozen=True)
class RunRequest:
    run_id: str
    now: datetime
    monitors: tuple[str, ...] | None = None
    """Names to run; None runs every enabled monitor."""
    dry_run: bool = False
    game_date: date | None = None


@dataclass
class Canary:
    """Everything a run needs, built once per process by main.py."""

    config: CanaryConfig
    sources: Sources
    store: StateStore
    notifier: Notifier
    backend: str = "local"
    """'local' or 'gcp': which commands an alert gives to run the canary again."""
    setting_problems: dict[str, str] = field(default_factory=dict)
    """Bad optional settings (variable -> problem): left unused, each raised as "canary degraded"."""
    secrets: list[str] = field(default_factory=list)
    """Values (and fragments) never to show: an error text from a source is scrubbed before it becomes
    part of a finding, so it reaches no alert, report or log line."""


@dataclass
class Collected:
    """What the monitors said in this run."""

    context: CheckContext
    results: list[MonitorResult]
    findings: list[Finding]


@dataclass
class Decided:
    """What is due, or why nothing could be decided."""

    plans: list[DeliveryPlan]
    silenced: dict[str, str] = field(default_factory=dict)
    caused_by: dict[str, str] = field(default_factory=dict)
    """effect fingerprint -> the fingerprint of the firing finding that explains it."""
    refresh: list[DeliveryPlan] = field(default_factory=list)
    """Causes' parents to edit once an effect joins their thread."""
    corrupt: dict[str, str] = field(default_factory=dict)
    """Records that could not be read (fingerprint -> why): replaced when their notice goes out."""
    state_error: str | None = None
    """Set on the blind path: the alert state was unreadable, so `plans` holds only the blind notice."""
    acknowledged: dict[str, str] = field(default_factory=dict)
    """fingerprint -> who acknowledged it (or its cause): its repeats were not sent."""


def presentation(canary: Canary) -> dict[str, Any]:
    """How messages are shown: the league's zone (UTC beside it) and the links built from configuration."""
    config = canary.config
    return {"zone": config.zone, "links": LinkContext(pipeline=config.pipeline, links=config.links)}


def select_monitors(config: CanaryConfig, names: tuple[str, ...] | None) -> list[str]:
    if names is None:
        return [name for name, monitor_config in config.monitors.items() if monitor_config.enabled]
    unknown = [name for name in names if name not in MONITORS]
    if unknown:
        raise RequestError(f"unknown monitor {unknown[0]!r} (known: {known_names()})")
    return list(dict.fromkeys(names))


def key_labels_by_monitor() -> dict[str, frozenset[str]]:
    """Every monitor's key labels, the canary's own included: what a silence may match on."""
    return {**{name: spec.key_labels for name, spec in MONITORS.items()}, CANARY_MONITOR: CANARY_KEY_LABELS}


def collect(canary: Canary, request: RunRequest) -> Collected:
    config = canary.config
    now = request.now.astimezone(timezone.utc)
    names = select_monitors(config, request.monitors)
    context = CheckContext(
        now=now, today=now.astimezone(config.zone).date(), zone=config.zone, pipeline=config.pipeline,
        game_date=request.game_date,
    )
    results = run_monitors(
        specs=[MONITORS[name] for name in names],
        configs=config.monitors,
        sources=canary.sources,
        ctx=context,
        timeout=config.monitor_timeout,
    )
    if canary.secrets:
        results = [r.model_copy(update={"error": scrub(r.error, canary.secrets)}) if r.error else r for r in results]

    def retry(name: str) -> str:
        return retry_command(name, backend=canary.backend, pipeline=config.pipeline, links=config.links)

    findings = findings_of(results, retry=retry)
    findings += [setting_finding(name, problem) for name, problem in sorted(canary.setting_problems.items())]
    return Collected(context=context, results=results, findings=findings)


def findings_of(results: list[MonitorResult], *, retry: Callable[[str], str] | None = None) -> list[Finding]:
    """The monitors' findings, then a "canary degraded" finding for each monitor that errored (with the
    command that retries it, `retry(name)`) and for each target or check a monitor could not read."""
    findings = [f for r in results for f in r.findings]
    findings += [degraded_finding(r, retry=retry(r.name) if retry else None) for r in results if r.outcome is Outcome.ERROR]
    findings += [
        f for r in results if r.outcome is not Outcome.ERROR
        for f in unread_target_findings(r, retry=retry(r.name) if retry else None)
    ]
    return findings + [check_degraded_finding(r, failed) for r in results for failed in r.check_errors]


def decide_notices(canary: Canary, request: RunRequest, collected: Collected) -> Decided:
    now = collected.context.now
    try:
        previous = records_for_decide(canary.store, fingerprints=[f.fingerprint for f in collected.findings])
        silences = canary.store.silences(now=now)
        acknowledgements = canary.store.acknowledgements(fingerprints=previous)
    except StateError as error:
        # Blind: nothing can be deduplicated, claimed or recorded. Say so once per run, with this run's
        # findings, rather than stay silent (or post every finding again) until the store answers.
        blind = state_unreadable_finding(
            source=canary.store.source, error=str(error), findings=collected.findings,
            check=store_check_command(backend=canary.backend, pipeline=canary.config.pipeline),
        )
        collected.findings.append(blind)
        decision = Decision(fingerprint=blind.fingerprint, reason=Reason.FIRST, finding=blind)
        return Decided(plans=plan([decision], now=now, **presentation(canary)), state_error=str(error))
    corrupt = dict(getattr(previous, "corrupt", {}))
    collected.findings.extend(corrupt_record_finding(fp, why) for fp, why in sorted(corrupt.items()))
    decisions, causes = decide_run(
        canary.config, results=collected.results, findings=collected.findings, previous=previous, silences=silences,
        now=now, scheduled=request.game_date is None, acknowledgements=acknowledgements,
        # The settings are judged on every run: a setting fixed since resolves its "canary degraded".
        # The alert state was read: a corrupt record deleted or replaced since resolves its "canary degraded".
        also_judged=frozenset({SETTINGS_CHECK, ALERT_STATE}),
    )
    return Decided(
        plans=plan(decisions.notify, now=now, **presentation(canary)), silenced=decisions.silenced, caused_by=causes,
        refresh=plan(decisions.refresh, now=now, **presentation(canary)), corrupt=corrupt,
        acknowledged=decisions.acknowledged,
    )


def decide_run(
    config: CanaryConfig,
    *,
    results: list[MonitorResult],
    findings: list[Finding],
    previous: Mapping[str, AlertState],
    silences: Sequence[Silence],
    now: datetime,
    scheduled: bool,
    also_judged: frozenset[str] = frozenset(),
    acknowledgements: Mapping[str, Acknowledgement] | None = None,
) -> tuple[Decisions, dict[str, str]]:
    """The pure decision of one run (a scheduled or operator's run, or one tick of a replay): what is due,
    threaded by cause, and each explained finding's cause (fingerprint -> fingerprint). `also_judged`:
    pseudo-monitors this run judged besides its monitors (its settings, its alert state)."""
    decisions = decide(
        previous=previous,
        findings=findings,
        succeeded={r.name for r in results if r.outcome is not Outcome.ERROR} | also_judged,
        repeat_after=config.alerts.repeat_after,
        now=now,
        silences=silences,
        coverage={r.name: r.judged for r in results if r.outcome is not Outcome.ERROR and r.judged is not None},
        # An operator's check of one date must not close what the scheduled runs are watching.
        retire_uncovered=scheduled,
        acknowledgements=acknowledgements,
    )
    causes = causes_of(config.pipeline, findings)
    decisions = thread_by_cause(
        decisions, previous=previous, findings=findings, causes=causes, silences=silences,
        repeat_after=config.alerts.repeat_after, now=now,
    )
    # A check its monitor could not read (CheckResult.check_errors) neither fires nor resolves its alerts.
    unread = {r.name: r.check_errors for r in results if r.check_errors}
    notify = [
        d for d in decisions.notify
        if not (d.reason is Reason.RESOLVED and d.previous is not None
                and any(e.holds(d.previous) for e in unread.get(d.previous.monitor, ())))
    ]
    return replace(decisions, notify=notify), causes


def deliver_notices(canary: Canary, request: RunRequest, decided: Decided, *, now: datetime) -> list[NotificationReport]:
    """One report per plan, each saying what the notice is about; a dry run renders each and sends nothing."""
    if request.dry_run:
        reports = [
            NotificationReport(
                fingerprint=p.decision.fingerprint, reason=p.decision.reason, delivered=False,
                text=render_text(p.message),
            )
            for p in decided.plans
        ]
    else:
        reports = _send(canary, request, decided, now=now)
    return [_described(r, p) for r, p in zip(reports, decided.plans)]


def _described(notice: NotificationReport, item: DeliveryPlan) -> NotificationReport:
    decision = item.decision
    about = decision.finding or decision.previous
    return notice.model_copy(update={
        "monitor": item.message.monitor,
        "key": dict(about.key) if about is not None else None,
        "summary": about.summary if about is not None else item.message.title,
    })


def check_replay(
    canary: Canary, request: RunRequest, *, explicit_now: bool, backend: str,
    now_name: str = "--now", dry_run_name: str = "--dry-run",
) -> None:
    """A run at an operator's `--now` may write only after the latest notice on record: a replay of
    the past would send notices again and close real incidents. A dry run writes nothing, so it may."""
    if not explicit_now or request.dry_run:
        return
    if backend != "local":
        raise RequestError(
            f"{now_name} on the gcp backend needs {dry_run_name} (a replay must not write to the production state)"
        )
    try:
        latest = canary.store.latest_notice()
    except StateError:
        return  # the run itself reports the unreadable state
    if latest is not None and request.now < latest:
        raise RequestError(
            f"{now_name} {request.now.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%SZ} is before the latest notice on "
            f"record ({latest.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%SZ}, {canary.store.location}): replaying the "
            f"past would send and record notices again; add {dry_run_name}, or give a later {now_name}"
        )


def _send(canary: Canary, request: RunRequest, decided: Decided, *, now: datetime) -> list[NotificationReport]:
    if decided.state_error is not None:
        return [send_without_state(item, notifier=canary.notifier) for item in decided.plans]
    config = canary.config
    return deliver(
        decided.plans,
        store=canary.store,
        notifier=canary.notifier,
        owner=request.run_id,
        now=now,
        alerts=config.alerts,
        channel_for=config.slack.channel_for,
        refresh=decided.refresh,
        corrupt=decided.corrupt,
    )


def digest(canary: Canary, request: RunRequest, collected: Collected, decided: Decided) -> tuple[NotificationReport | None, str | None]:
    """The daily digest, when due: only a full run (every enabled monitor, today) whose state was readable."""
    if decided.state_error is not None:
        return None, None
    return post_digest(
        config=canary.config, store=canary.store, notifier=canary.notifier, warehouse=canary.sources.warehouse,
        results=collected.results, owner=request.run_id, now=collected.context.now, today=collected.context.today,
        full_run=request.monitors is None and request.game_date is None, dry_run=request.dry_run,
    )


def report(
    request: RunRequest, collected: Collected, decided: Decided, notifications: list[NotificationReport],
    digest_text: str | None = None,
) -> RunReport:
    return RunReport(
        run_id=request.run_id,
        now=collected.context.now,
        today=collected.context.today,
        dry_run=request.dry_run,
        monitors=collected.results,
        findings=[
            FindingReport.of(
                f, silenced_by=decided.silenced.get(f.fingerprint), caused_by=decided.caused_by.get(f.fingerprint),
                acknowledged_by=decided.acknowledged.get(f.fingerprint),
            )
            for f in collected.findings
        ],
        notifications=notifications,
        state_error=decided.state_error,
        digest=digest_text,
    )


def execute(canary: Canary, request: RunRequest) -> RunReport:
    collected = collect(canary, request)
    decided = decide_notices(canary, request, collected)
    notifications = deliver_notices(canary, request, decided, now=collected.context.now)
    digest_report, digest_text = digest(canary, request, collected, decided)
    if digest_report is not None:
        notifications.append(digest_report)
    return report(request, collected, decided, notifications, digest_text)
