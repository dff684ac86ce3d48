"""One run as named steps: collect -> decide -> deliver -> report. The clock comes in as `now`.

collect   run the selected monitors (concurrently, each with a timeout) and turn errors into
          "canary degraded" findings
decide    read the notification records and silences, and give each fingerprint its reason (pure decide)
deliver   claim, send and record each due notice (or, in a dry run, render and send nothing)
report    the RunReport the caller gets back

When the alert state cannot be read, decide and deliver take the blind path: one undeduplicated
notice that names the store and lists this run's findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from alerts.decide import Decisions, decide
from alerts.deliver import DeliveryPlan, deliver, plan, send_without_state
from alerts.notifier import Notifier
from alerts.state import StateError, StateStore, records_for_decide
from core.config import CanaryConfig
from core.secrets import scrub
from core.model import Decision, Finding, FindingReport, MonitorResult, NotificationReport, Outcome, Reason, RunReport
from monitors.base import CheckContext, Sources
from monitors.registry import MONITORS, known_names
from run.runner import (
    ALERT_STATE, SETTINGS_CHECK, corrupt_record_finding, degraded_finding, run_monitors, setting_finding,
    state_unreadable_finding,
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
    corrupt: dict[str, str] = field(default_factory=dict)
    """Records that could not be read (fingerprint -> why): replaced when their notice goes out."""
    state_error: str | None = None
    """Set on the blind path: the alert state was unreadable, so `plans` holds only the blind notice."""


def select_monitors(config: CanaryConfig, names: tuple[str, ...] | None) -> list[str]:
    if names is None:
        return [name for name, monitor_config in config.monitors.items() if monitor_config.enabled]
    unknown = [name for name in names if name not in MONITORS]
    if unknown:
        raise RequestError(f"unknown monitor {unknown[0]!r} (known: {known_names()})")
    return list(dict.fromkeys(names))


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
    findings = [f for r in results for f in r.findings]
    findings += [degraded_finding(r) for r in results if r.outcome is Outcome.ERROR]
    findings += [setting_finding(name, problem) for name, problem in sorted(canary.setting_problems.items())]
    return Collected(context=context, results=results, findings=findings)


def decide_notices(canary: Canary, request: RunRequest, collected: Collected) -> Decided:
    now = collected.context.now
    try:
        previous = records_for_decide(canary.store, fingerprints=[f.fingerprint for f in collected.findings])
        silences = canary.store.silences(now=now)
    except StateError as error:
        # Blind: nothing can be deduplicated, claimed or recorded. Say so once per run, with this run's
        # findings, rather than stay silent (or post every finding again) until the store answers.
        blind = state_unreadable_finding(source=canary.store.source, error=str(error), findings=collected.findings)
        collected.findings.append(blind)
        decision = Decision(fingerprint=blind.fingerprint, reason=Reason.FIRST, finding=blind)
        return Decided(plans=plan([decision], now=now), state_error=str(error))
    corrupt = dict(getattr(previous, "corrupt", {}))
    collected.findings.extend(corrupt_record_finding(fp, why) for fp, why in sorted(corrupt.items()))
    results = collected.results
    decisions: Decisions = decide(
        previous=previous,
        findings=collected.findings,
        # The settings are judged on every run: a setting fixed since resolves its "canary degraded".
        # The alert state was read: a corrupt record deleted or replaced since resolves its "canary degraded".
        succeeded={r.name for r in results if r.outcome is not Outcome.ERROR} | {SETTINGS_CHECK, ALERT_STATE},
        repeat_after=canary.config.alerts.repeat_after,
        now=now,
        silences=silences,
        coverage={
            r.name: frozenset(d.isoformat() for d in r.game_dates)
            for r in results
            if r.outcome is not Outcome.ERROR and r.game_dates is not None
        },
        # An operator's check of one date must not close what the scheduled runs are watching.
        retire_uncovered=request.game_date is None,
    )
    return Decided(plans=plan(decisions.notify, now=now), silenced=decisions.silenced, corrupt=corrupt)


def deliver_notices(canary: Canary, request: RunRequest, decided: Decided, *, now: datetime) -> list[NotificationReport]:
    if request.dry_run:
        return [NotificationReport(fingerprint=p.decision.fingerprint, reason=p.decision.reason, delivered=False) for p in decided.plans]
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
        corrupt=decided.corrupt,
    )


def report(request: RunRequest, collected: Collected, decided: Decided, notifications: list[NotificationReport]) -> RunReport:
    return RunReport(
        run_id=request.run_id,
        now=collected.context.now,
        today=collected.context.today,
        dry_run=request.dry_run,
        monitors=collected.results,
        findings=[FindingReport.of(f, silenced_by=decided.silenced.get(f.fingerprint)) for f in collected.findings],
        notifications=notifications,
        state_error=decided.state_error,
    )


def execute(canary: Canary, request: RunRequest) -> RunReport:
    collected = collect(canary, request)
    decided = decide_notices(canary, request, collected)
    notifications = deliver_notices(canary, request, decided, now=collected.context.now)
    return report(request, collected, decided, notifications)
