"""phase_stalls: a phase finished for a game date, and the next phase never started after it.

Reads only BigQuery phase_completions, the pipeline's record of what actually ran; never the
Firestore `_triggered` flag whose staleness cost seven sessions of false "orchestrator stuck" alarms.
One query covers every transition and date (and, for a replay, a whole season), so the cost is one job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo

from pydantic import Field

from core import monitor_names
from core.league_time import league_time
from core.commands import shell_command
from core.config import Transition
from core.model import CheckResult, Finding, Judged, Severity
from monitors.base import CheckContext, FetchWindow, MonitorConfig, MonitorSpec, Sources
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
  completed_at AS completed_at
FROM {PHASE_COMPLETIONS}
WHERE game_date BETWEEN @first_date AND @last_date
  AND completed_at <= @until
"""


class Config(MonitorConfig):
    lookback_days: int = Field(default=1, ge=0, le=14)
    """Game dates checked: today and this many days before it."""


@dataclass(frozen=True)
class ProcessorRun:
    processor: str
    first_success_at: datetime | None
    last_success_at: datetime | None
    failures: int


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


def judge_transition(
    transition: Transition, game_date: date, upstream: list[ProcessorRun], downstream: list[ProcessorRun], now: datetime,
    zone: tzinfo = timezone.utc,
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
    if transition.service:
        details["service"] = transition.service
        details["check_first"] = (
            f"an orchestrator_iam alert for {transition.service} (a missing invoker binding drops its "
            "Pub/Sub pushes silently), then its logs (linked below)"
        )
    # The fix is a command: start the downstream phase by hand, or read the logs that say why it did not.
    fix = transition.next_step or shell_command(
        "gcloud", "logging", "read",
        'resource.type="cloud_run_revision" AND severity>=WARNING'
        + (f' AND resource.labels.service_name="{transition.service}"' if transition.service else ""),
        freshness="6h", limit="50",
    )
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
    grouped: dict[tuple[date, str], list[ProcessorRun]] = {}
    for name in {**firsts, **failures}:
        game_date, phase, processor = name
        grouped.setdefault((game_date, phase), []).append(
            ProcessorRun(
                processor=processor, first_success_at=firsts.get(name), last_success_at=lasts.get(name),
                failures=failures.get(name, 0),
            )
        )
    return grouped


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
    for game_date in judged:
        for transition in ctx.pipeline.transitions:
            finding = judge_transition(
                transition,
                game_date,
                runs.get((game_date, transition.from_phase), []),
                runs.get((game_date, transition.to_phase), []),
                ctx.now,
                ctx.zone,
            )
            if finding:
                findings.append(finding)
    return CheckResult(findings=findings, judged=Judged.game_dates(judged))


def check(config: Config, sources: Sources, ctx: CheckContext) -> CheckResult:
    return judge(config, fetch(config, sources, window(config, ctx)), ctx)


SPEC = MonitorSpec(
    name=NAME, config_model=Config, check=check, reads="warehouse", fetch=fetch, judge=judge, window=window,
    key_labels=frozenset({"transition", "game_date", "problem"}),
    problems=("stalled",),
)
