"""phase_stalls: a phase finished for a game date, and the next phase never started after it; a phase
that started but is not complete by its transition's `complete_by`; a processor whose latest run failed.

Reads only BigQuery phase_completions, the pipeline's record of what actually ran; never the
Firestore `_triggered` flag whose staleness cost seven sessions of false "orchestrator stuck" alarms.
One query covers every transition and date (and, for a replay, a whole season), so the cost is one job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from pydantic import Field

from core import monitor_names
from core.league_time import league_time
from core.commands import shell_command
from core.config import Duration, Pipeline, Transition
from core.model import CheckResult, Finding, Judged, Severity
from monitors.base import CheckContext, FetchWindow, MonitorConfig, MonitorSpec, Sources
from monitors.scheduler_jobs import confirm_jobs, with_job_fix
from sources.tables import PHASE_COMPLETIONS
from sources.warehouse import Row

NAME = monitor_names.PHASE_STALLS

# Row-level (one row per completion, bounded by game date and `until`) so that judge can tell what was
# known at any moment of the window: a replay reads a whole season once and judges it tick by tick.
QUERY = f"""
SELECT
  game_date AS game_date,
  phase AS phase,
  processor_name AS processor_name,
  status = 'success' AS success,
  status AS status,
  completed_at AS completed_at
FROM {PHASE_COMPLETIONS}
WHERE game_date BETWEEN @first_date AND @last_date
  AND completed_at <= @until
"""


FAILED = "failed"
"""The status of a failed run (DESIGN: status is 'success' | 'failed' | other; other statuses are neither)."""


class Config(MonitorConfig):
    lookback_days: int = Field(default=1, ge=0, le=14)
    """Game dates checked: today and this many days before it."""
    retry_grace: Duration = timedelta(hours=1)
    """A processor whose latest run of a game date failed is reported when no success followed within this."""

    def check_against(self, pipeline: Pipeline) -> None:
        # A game date is judged until the end of its last day in the window: a later complete_by never fires.
        judged_for = timedelta(days=self.lookback_days + 1)
        for transition in pipeline.transitions:
            if transition.complete_by is not None and transition.complete_by >= judged_for:
                raise ValueError(
                    f"pipeline.transitions[{transition.label}].complete_by: {_hours(transition.complete_by)} is after the last "
                    f"moment a game date is judged ({_hours(judged_for)} after its 00:00 with lookback_days = "
                    f"{self.lookback_days}), so it would never be checked: shorten it or raise lookback_days"
                )


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:g}h"


@dataclass(frozen=True)
class ProcessorRun:
    processor: str
    first_success_at: datetime | None
    last_success_at: datetime | None
    failures: int
    last_failed_at: datetime | None = None
    """Its latest run with status 'failed' (known at the moment judged)."""


def completion_moment(transition: Transition, runs: list[ProcessorRun]) -> datetime | None:
    """When the upstream phase became complete: its N-th distinct processor's (or last required one's) first success."""
    firsts = {r.processor: r.first_success_at for r in runs if r.first_success_at is not None}
    if transition.required_processors:
        if not all(name in firsts for name in transition.required_processors):
            return None
        return max(firsts[name] for name in transition.required_processors)
    assert transition.min_processors is not None
    ordered = sorted(firsts.values())
    if len(ordered) < transition.min_processors:
        return None
    return ordered[transition.min_processors - 1]


def local_and_utc(moment: datetime, zone: tzinfo) -> str:
    """'2026-11-21 16:30 EST (21:30 UTC)': the league's clock with UTC beside it."""
    return league_time(moment, zone, weekday=False)


def logs_command(project: str | None, services: list[str], *, severity: str, freshness: str, text: str | None = None) -> str:
    """`gcloud logging read` of the services' Cloud Run logs at or above `severity` (optionally one search term)."""
    where = 'resource.type="cloud_run_revision" AND severity>=' + severity
    if len(services) == 1:
        where += f' AND resource.labels.service_name="{services[0]}"'
    elif services:
        where += " AND (" + " OR ".join(f'resource.labels.service_name="{name}"' for name in services) + ")"
    if text:
        where += f' AND "{text}"'
    return shell_command("gcloud", "logging", "read", where, project=project, freshness=freshness, limit="50")


def judge_transition(
    transition: Transition, game_date: date, upstream: list[ProcessorRun], downstream: list[ProcessorRun], now: datetime,
    zone: tzinfo = timezone.utc, *, project: str | None = None,
) -> Finding | None:
    complete_at = completion_moment(transition, upstream)
    if complete_at is None:
        return None  # a phase that is not complete is never a stall
    deadline = complete_at + transition.max_delay
    if now <= deadline:
        return None
    latest_downstream = max((r.last_success_at for r in downstream if r.last_success_at), default=None)
    if latest_downstream is not None and latest_downstream >= complete_at:
        return None
    overdue = now - deadline
    succeeded = sorted(r.processor for r in upstream if r.first_success_at is not None)
    details = {
        "transition": transition.label,
        "game_date": game_date.isoformat(),
        "upstream_complete_at": complete_at.isoformat(),
        "upstream_processors_succeeded": len(succeeded),
        "upstream_processors": succeeded,
        "max_delay_minutes": round(transition.max_delay.total_seconds() / 60),
        "overdue_minutes": round(overdue.total_seconds() / 60),
        "downstream_failed_runs": sum(r.failures for r in downstream),
        "downstream_last_success_at": latest_downstream.isoformat() if latest_downstream else None,
        "evidence": (
            f"{transition.from_phase} complete at {local_and_utc(complete_at, zone)} "
            f"({len(succeeded)} processors succeeded); no {transition.to_phase} success since"
        ),
    }
    details["table"] = PHASE_COMPLETIONS
    hops = transition.hops
    if len(hops) == 1:
        details["service"] = hops[0].service
        details["check_first"] = (
            f"an orchestrator_iam alert for {hops[0].service} (a missing invoker binding drops its "
            "Pub/Sub pushes silently), then its logs (linked below)"
        )
    elif hops:
        details["service"] = hops[0].service
        details["services"] = [h.service for h in hops]  # links to every hop: the broken one may be any
        details["check_first"] = (
            f"orchestrator_iam and push_delivery alerts for each hop of its push path ({'; '.join(h.describe() for h in hops)}): "
            "a missing invoker binding on any hop drops its Pub/Sub pushes silently; then each hop's logs"
        )
    # The fix is a command: start the downstream phase by hand, or read the logs that say why it did not.
    fix = transition.next_step or logs_command(project, [h.service for h in hops], severity="WARNING", freshness="6h")
    return Finding(
        monitor=NAME,
        severity=Severity.CRITICAL,
        key={"transition": transition.label, "game_date": game_date.isoformat(), "problem": "stalled"},
        summary=(
            f"{transition.to_phase} has not started for {game_date}: "
            f"{round((now - complete_at).total_seconds() / 60)} min after {transition.from_phase} completed"
        ),
        details=details,
        since=deadline,
        fix=fix,
    )


def _runs(rows: list[Row], now: datetime) -> dict[tuple[date, str], list[ProcessorRun]]:
    """Each processor's first and last success and its failures per (game date, phase), as known at `now`."""
    firsts: dict[tuple[date, str, str], datetime] = {}
    lasts: dict[tuple[date, str, str], datetime] = {}
    failures: dict[tuple[date, str, str], int] = {}
    failed: dict[tuple[date, str, str], datetime] = {}
    for row in rows:
        at = row["completed_at"]
        if at is None or at > now:
            continue  # written after this moment: invisible to a check at `now`
        name = (row["game_date"], row["phase"], row["processor_name"])
        if row["success"]:
            firsts[name] = min(at, firsts.get(name, at))
            lasts[name] = max(at, lasts.get(name, at))
        else:
            failures[name] = failures.get(name, 0) + 1
            if row.get("status") == FAILED:
                failed[name] = max(at, failed.get(name, at))
    grouped: dict[tuple[date, str], list[ProcessorRun]] = {}
    for name in {**firsts, **failures}:
        game_date, phase, processor = name
        grouped.setdefault((game_date, phase), []).append(
            ProcessorRun(
                processor=processor, first_success_at=firsts.get(name), last_success_at=lasts.get(name),
                failures=failures.get(name, 0), last_failed_at=failed.get(name),
            )
        )
    return grouped


def judge_incomplete(
    transition: Transition, game_date: date, upstream: list[ProcessorRun], now: datetime, zone: tzinfo, *,
    pipeline: Pipeline, downstream: list[ProcessorRun],
) -> Finding | None:
    """The upstream phase started for `game_date` but is not complete `complete_by` after its 00:00 league time."""
    if transition.complete_by is None or not upstream or completion_moment(transition, upstream) is not None:
        return None
    deadline = datetime.combine(game_date, time(0), tzinfo=zone) + transition.complete_by
    if now <= deadline:
        return None
    phase = transition.from_phase
    succeeded = sorted(r.processor for r in upstream if r.first_success_at is not None)
    details: dict[str, object] = {
        "phase": phase, "game_date": game_date.isoformat(), "transition": transition.label,
        "complete_by": deadline.isoformat(),
        "processors_succeeded": succeeded,
    }
    if transition.required_processors:
        missing = [p for p in transition.required_processors if p not in succeeded]
        details["processors_not_succeeded"] = missing
        needed = f"{len(transition.required_processors) - len(missing)} of the {len(transition.required_processors)} required processors"
    else:
        needed = f"{len(succeeded)} of the {transition.min_processors} processors it needs"
    failed = sorted(r.processor for r in upstream if r.first_success_at is None)
    if failed:
        details["processors_only_failed"] = failed
    # The orchestrator may start the next phase on fewer processors than the canary's rule (session 207: phase 4
    # ran on 3 of 5): then the next phase ran on partial input rather than waiting, and the alert must say which.
    ran = [r.first_success_at for r in downstream if r.first_success_at is not None]
    after = (f"{transition.to_phase} ran for it anyway (first success {local_and_utc(min(ran), zone)}), on partial input"
             if ran else f"{transition.to_phase} has not run for it")
    details["evidence"] = (
        f"{phase} started for {game_date} ({len(upstream)} processors ran) and {needed} succeeded by "
        f"{local_and_utc(deadline, zone)}: {after}"
    )
    details["table"] = PHASE_COMPLETIONS
    starters = _services_starting(pipeline, phase)
    if starters:
        details["service"] = starters[-1]
    return Finding(
        monitor=NAME, severity=Severity.CRITICAL,
        key={"phase": phase, "game_date": game_date.isoformat(), "problem": "incomplete"},
        summary=f"{phase} is incomplete for {game_date}: {needed} succeeded",
        details=details, since=deadline,
        fix=logs_command(pipeline.project, starters, severity="WARNING", freshness="2d"),
    )


def judge_failed(
    phase: str, game_date: date, runs: list[ProcessorRun], now: datetime, zone: tzinfo, *, grace: timedelta,
    pipeline: Pipeline,
) -> list[Finding]:
    """Each processor whose latest run of `game_date` failed, with no success in the `grace` after it."""
    findings = []
    for run in sorted(runs, key=lambda r: r.processor):
        failed_at = run.last_failed_at
        if failed_at is None or (run.last_success_at is not None and run.last_success_at >= failed_at):
            continue  # never failed, or a later run succeeded (phase 3 runs several times a day)
        if now <= failed_at + grace:
            continue
        starters = _services_starting(pipeline, phase)
        details: dict[str, object] = {
            "phase": phase, "processor": run.processor, "game_date": game_date.isoformat(),
            "failed_at": failed_at.isoformat(), "failed_runs": run.failures,
            "last_success_at": run.last_success_at.isoformat() if run.last_success_at else None,
            "evidence": (
                f"its latest run of {game_date} failed at {local_and_utc(failed_at, zone)}; no success in the "
                f"{round(grace.total_seconds() / 60)} min after it"
            ),
            "table": PHASE_COMPLETIONS,
        }
        if starters:
            details["service"] = starters[-1]
        findings.append(Finding(
            monitor=NAME, severity=Severity.WARNING,
            key={"phase": phase, "processor": run.processor, "game_date": game_date.isoformat(), "problem": "failed"},
            summary=f"{run.processor} ({phase}) failed for {game_date} and has not succeeded since",
            details=details, since=failed_at + grace,
            fix=logs_command(pipeline.project, starters, severity="ERROR", freshness="2d", text=run.processor),
        ))
    return findings


def _services_starting(pipeline: Pipeline, phase: str) -> list[str]:
    """The hops of the transitions into `phase`, in order: the last one runs its processors."""
    return list(dict.fromkeys(h.service for t in pipeline.transitions_into(phase) for h in t.hops))


def window(config: Config, ctx: CheckContext) -> FetchWindow:
    """Today (or the operator's date) and `lookback_days` before it, as written up to now."""
    end = ctx.target_date
    return FetchWindow(first_date=end - timedelta(days=config.lookback_days), last_date=end, until=ctx.now)


def fetch(config: Config, sources: Sources, span: FetchWindow) -> list[Row]:
    """Every completion in the window, whatever its phase: one query however long the window."""
    del config  # every phase is read: which ones the transitions name is the pipeline's, known at judge time
    return sources.warehouse.query(QUERY, {"first_date": span.first_date, "last_date": span.last_date, "until": span.until})


def judge(config: Config, rows: list[Row], ctx: CheckContext) -> CheckResult:
    """Each transition of each judged game date, at ctx.now."""
    span = window(config, ctx)
    judged = [span.first_date + timedelta(days=offset) for offset in range((span.last_date - span.first_date).days + 1)]
    dates = set(judged)
    phases = {p for t in ctx.pipeline.transitions for p in (t.from_phase, t.to_phase)}
    runs = _runs([r for r in rows if r["game_date"] in dates and r["phase"] in phases], ctx.now)
    if not runs:
        return CheckResult(
            no_data=True, no_data_reason=f"no phase completions for {span.first_date}..{span.last_date}", judged=Judged.game_dates(judged)
        )
    findings = []
    pipeline = ctx.pipeline
    for game_date in judged:
        for transition in pipeline.transitions:
            upstream = runs.get((game_date, transition.from_phase), [])
            finding = judge_transition(
                transition,
                game_date,
                upstream,
                runs.get((game_date, transition.to_phase), []),
                ctx.now,
                ctx.zone,
                project=pipeline.project,
            )
            if finding:
                findings.append(with_job_fix(finding, transition.backup_job, ctx.pipeline))
            incomplete = judge_incomplete(transition, game_date, upstream, ctx.now, ctx.zone, pipeline=pipeline,
                                          downstream=runs.get((game_date, transition.to_phase), []))
            if incomplete:
                findings.append(incomplete)
        for phase in [p for p in pipeline.phases if p in phases]:
            findings += judge_failed(phase, game_date, runs.get((game_date, phase), []), ctx.now, ctx.zone,
                                     grace=config.retry_grace, pipeline=pipeline)
    return CheckResult(findings=findings, judged=Judged.game_dates(judged))


def check(config: Config, sources: Sources, ctx: CheckContext) -> CheckResult:
    result = judge(config, fetch(config, sources, window(config, ctx)), ctx)
    # A backup job the fix runs is confirmed now (a replay cannot: Cloud Scheduler keeps no history).
    return result.model_copy(update={"findings": confirm_jobs(result.findings, sources, ctx.pipeline)})


SPEC = MonitorSpec(
    name=NAME, config_model=Config, check=check, reads="warehouse", fetch=fetch, judge=judge, window=window,
    key_labels=frozenset({"transition", "phase", "processor", "game_date", "problem"}),
    problems=("stalled", "incomplete", "failed"),
)
