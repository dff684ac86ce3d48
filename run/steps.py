"""One run as named steps: collect -> notify -> report. The clock comes in as `now`.

collect   run the selected monitors (concurrently, each with a timeout) and turn errors into
          "canary degraded" findings
notify    the notice pipeline (alerts/pipeline.py): load the records, decide, plan, deliver (or, in a
          dry run, render and send nothing; or, when the alert state cannot be read, the blind path);
          once a day the first full run at or after [digest] at also posts the daily digest (run/digest.py)
report    the RunReport the caller gets back
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from typing import Callable

from alerts.deliver import Presentation
from alerts.links import LinkContext
from alerts.notifier import Notifier
from alerts.pipeline import ALERT_STATE, Judgement, NoticeRun, Noticed, notify
from alerts.state import StateError, StateStore
from core.config import CanaryConfig
from core.model import CANARY_MONITOR, Finding, FindingReport, MonitorResult, Outcome, RunReport
from core.secrets import scrub
from monitors.base import CheckContext, Sources
from monitors.registry import MONITORS, known_names
from run.digest import TonightsSlate, digest_job
from run.runner import (
    CANARY_KEY_LABELS, SETTINGS_CHECK, check_degraded_finding, degraded_finding, retry_command, run_monitors,
    setting_finding, store_check_command, unread_target_findings,
)


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


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


def presentation(config: CanaryConfig) -> Presentation:
    """How messages are shown: the league's zone (UTC beside it) and the links built from configuration."""
    return Presentation(
        zone=config.zone, links=LinkContext(pipeline=config.pipeline, links=config.links, dataset_prefix=config.dataset_prefix),
    )


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
        game_date=request.game_date, dataset_prefix=config.dataset_prefix,
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
    return findings + [
        check_degraded_finding(r, failed, retry=retry(r.name) if retry else None) for r in results for failed in r.check_errors
    ]


def notice_run(canary: Canary, request: RunRequest, *, now: datetime) -> NoticeRun:
    """Where and how this run's notices go (the notice pipeline's inputs besides the findings)."""
    config = canary.config
    return NoticeRun(
        store=canary.store, notifier=canary.notifier, owner=request.run_id, now=now, alerts=config.alerts,
        pipeline=config.pipeline, channel_for=config.slack.channel_for, presentation=presentation(config),
        dry_run=request.dry_run, scheduled=request.game_date is None,
        store_check=store_check_command(backend=canary.backend, pipeline=config.pipeline),
    )


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


def report(request: RunRequest, collected: Collected, noticed: Noticed) -> RunReport:
    notifications = noticed.notifications + ([noticed.digest] if noticed.digest is not None else [])
    return RunReport(
        run_id=request.run_id,
        now=collected.context.now,
        today=collected.context.today,
        dry_run=request.dry_run,
        monitors=collected.results,
        findings=[
            FindingReport.of(
                f, silenced_by=noticed.silenced.get(f.fingerprint), caused_by=noticed.caused_by.get(f.fingerprint),
                acknowledged_by=noticed.acknowledged.get(f.fingerprint),
            )
            for f in noticed.findings
        ],
        notifications=notifications,
        state_error=noticed.state_error,
        digest=noticed.digest_text,
    )


def execute(canary: Canary, request: RunRequest) -> RunReport:
    collected = collect(canary, request)
    now, today = collected.context.now, collected.context.today
    # Read at most once, by the digest and by the first line of a parent whose chain reaches the predictions.
    tonight = TonightsSlate(warehouse=canary.sources.warehouse, config=canary.config, today=today, now=now)
    digest = digest_job(
        config=canary.config, warehouse=canary.sources.warehouse, results=collected.results, now=now, today=today,
        # Only a full run (every enabled monitor, today) speaks for every monitor.
        full_run=request.monitors is None and request.game_date is None, tonight=tonight,
    )
    noticed = notify(
        replace(notice_run(canary, request, now=now), slate=tonight.get), findings=collected.findings,
        # The settings are judged on every run: a setting fixed since resolves its "canary degraded".
        # The alert state was read: a corrupt record deleted or replaced since resolves its "canary degraded".
        judgement=Judgement.of(collected.results, also={SETTINGS_CHECK, ALERT_STATE}),
        digest=digest,
    )
    return report(request, collected, noticed)
