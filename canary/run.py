"""One run: monitors -> findings -> decide -> render -> deliver -> report. The clock comes in as `now`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone

from alerts.decide import decide
from alerts.deliver import deliver, plan, send_without_state
from alerts.notifier import Notifier
from alerts.state import StateError, StateStore
from canary.config import CanaryConfig
from canary.model import Decision, FindingReport, NotificationReport, Outcome, Reason, RunReport
from canary.runner import degraded_finding, run_monitors, state_unreadable_finding
from monitors.base import CheckContext, MonitorConfig, Sources
from monitors.registry import MONITORS, known_names


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


def select_monitors(config: CanaryConfig, names: tuple[str, ...] | None) -> list[str]:
    if names is None:
        return [name for name, monitor_config in config.monitors.items() if monitor_config.enabled]
    unknown = [name for name in names if name not in MONITORS]
    if unknown:
        raise RequestError(f"unknown monitor {unknown[0]!r} (known: {known_names()})")
    return list(dict.fromkeys(names))


def execute(canary: Canary, request: RunRequest) -> RunReport:
    config = canary.config
    now = request.now.astimezone(timezone.utc)
    names = select_monitors(config, request.monitors)
    ctx = CheckContext(now=now, today=now.astimezone(config.zone).date(), zone=config.zone, game_date=request.game_date)
    monitor_configs: dict[str, MonitorConfig] = config.monitors
    results = run_monitors(
        specs=[MONITORS[name] for name in names],
        configs=monitor_configs,
        sources=canary.sources,
        ctx=ctx,
        timeout=config.monitor_timeout,
    )
    findings = [f for r in results for f in r.findings]
    findings += [degraded_finding(r) for r in results if r.outcome is Outcome.ERROR]
    succeeded = {r.name for r in results if r.outcome is not Outcome.ERROR}
    notifications: list[NotificationReport] = []
    silenced: dict[str, str] = {}
    state_error: str | None = None
    try:
        previous = canary.store.load(fingerprints=[f.fingerprint for f in findings])
        silences = canary.store.silences(now=now)
    except StateError as error:
        state_error = str(error)
        # Blind: nothing can be deduplicated, claimed or recorded. Say so once per run, with this run's
        # findings, rather than stay silent (or post every finding again) until the store answers.
        blind = state_unreadable_finding(source=canary.store.source, error=state_error, findings=findings)
        findings.append(blind)
        decision = Decision(fingerprint=blind.fingerprint, reason=Reason.FIRST, finding=blind)
        if request.dry_run:
            notifications = [NotificationReport(fingerprint=blind.fingerprint, reason=Reason.FIRST, delivered=False)]
        else:
            notifications = [send_without_state(plan([decision], now=now)[0], notifier=canary.notifier)]
    else:
        decisions = decide(
            previous=previous,
            findings=findings,
            succeeded=succeeded,
            repeat_after=config.alerts.repeat_after,
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
        silenced = decisions.silenced
        plans = plan(decisions.notify, now=now)
        if request.dry_run:
            notifications = [
                NotificationReport(fingerprint=p.decision.fingerprint, reason=p.decision.reason, delivered=False)
                for p in plans
            ]
        else:
            notifications = deliver(
                plans,
                store=canary.store,
                notifier=canary.notifier,
                owner=request.run_id,
                now=now,
                alerts=config.alerts,
                channel_for=config.slack.channel_for,
            )
    return RunReport(
        run_id=request.run_id,
        now=now,
        today=ctx.today,
        dry_run=request.dry_run,
        monitors=results,
        findings=[FindingReport.of(f, silenced_by=silenced.get(f.fingerprint)) for f in findings],
        notifications=notifications,
        state_error=state_error,
    )
