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
from alerts.render_text import render_text
from alerts.state import StateError, StateStore, records_for_decide
from core.config import CanaryConfig
from core.model import (
    CANARY_MONITOR, Decision, Finding, FindingReport, MonitorResult, NotificationReport, Outcome, Reason, RunReport,
)
from monitors.base import CheckContext, Sources
from monitors.registry import MONITORS, known_names
from run.runner import CANARY_KEY_LABELS, degraded_finding, run_monitors, state_unreadable_finding


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
    state_error: str | None = None
    """Set on the blind path: the alert state was unreadable, so `plans` holds only the blind notice."""


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
    findings = [f for r in results for f in r.findings]
    findings += [degraded_finding(r) for r in results if r.outcome is Outcome.ERROR]
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
    results = collected.results
    decisions: Decisions = decide(
        previous=previous,
        findings=collected.findings,
        succeeded={r.name for r in results if r.outcome is not Outcome.ERROR},
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
    return Decided(plans=plan(decisions.notify, now=now), silenced=decisions.silenced)


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
